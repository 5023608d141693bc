"""The files of one render, named in one place.

A render is ``NAME.mp4``, its sidecar ``NAME.json``, its poster ``NAME.jpg`` and, while it comes
down, ``NAME.mp4.part``. The planner, the download, the sidecar and poster writers and
`imagine rm --files` all ask here, so they can never disagree about which files are a render's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

SUFFIXES = (".mp4", ".json", ".jpg", ".part")  # the endings of a render's files


@dataclass(frozen=True, slots=True)
class RenderFiles:
    video: Path

    @classmethod
    def of_file(cls, path: Path) -> RenderFiles:
        """The render that ``path`` is one of the files of (its MP4, sidecar, poster or part)."""
        if path.name.endswith(".mp4.part"):
            return cls(path.with_name(path.name.removesuffix(".part")))
        return cls(path.with_suffix(".mp4")) if path.name else cls(path)

    @property
    def sidecar(self) -> Path:
        return self.video.with_suffix(".json")

    @property
    def poster(self) -> Path:
        return self.video.with_suffix(".jpg")

    @property
    def part(self) -> Path:
        """The download in progress: only renamed to ``video`` once checked."""
        return self.video.with_name(self.video.name + ".part")

    def all(self) -> tuple[Path, ...]:
        return (self.video, self.sidecar, self.poster, self.part)

    def on_disk(self) -> bool:
        """Whether the video, or a download of it, is on disk already."""
        return self.video.exists() or self.part.exists()


class Holders(Protocol):
    def output_taken(self, path: Path) -> bool: ...


def taken_in(ledger: Holders) -> Callable[[Path], bool]:
    """Whether a new job may not be given ``path``: a render (or its download) is there
    already, or another job holds the path in the ledger."""

    def taken(path: Path) -> bool:
        return RenderFiles(path).on_disk() or ledger.output_taken(path)

    return taken
