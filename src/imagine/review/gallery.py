"""`imagine gallery`: the contact sheet as one file to keep or share, posters inside it."""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from imagine.atomic import write_atomic
from imagine.review import page
from imagine.review.takes import Request, Take

MAX_POSTER_BYTES = 2 * 1024 * 1024  # a poster is a frame; a larger file is not inlined


def poster_data_url(take: Take) -> str | None:
    """The poster as a data URL, if it is a file of sensible size that looks like a JPEG."""
    try:
        if not take.poster.is_file() or take.poster.stat().st_size > MAX_POSTER_BYTES:
            return None
        data = take.poster.read_bytes()[: MAX_POSTER_BYTES + 1]
    except OSError:
        return None
    if len(data) > MAX_POSTER_BYTES or not data.startswith(b"\xff\xd8"):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def video_link(take: Take, folder: Path) -> str | None:
    """The video's path relative to the gallery's folder, as a URL path (None if missing)."""
    if not take.video.is_file():
        return None
    relative = os.path.relpath(take.video, folder)
    return quote(Path(relative).as_posix())


def render(requests: Sequence[Request], target: Path, title: str) -> str:
    folder = target.resolve().parent
    sheet = page.Sheet(
        title=title,
        video_url=lambda take: video_link(take, folder),
        poster_url=poster_data_url,
        buttons=False,
    )
    return page.render(requests, sheet)


def write(requests: Sequence[Request], target: Path, title: str) -> int:
    """Write the gallery; the number of takes in it."""
    write_atomic(target, render(requests, target, title).encode())
    return sum(len(request.takes) for request in requests)
