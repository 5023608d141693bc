"""--dry-run prints the exact body with inline media shortened; --dry-run-full prints every byte."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from imagine.media.synth import write_clip, write_image
from tests.helpers import Cli, read_jobs


def _no_exception(result: Any) -> bool:
    return result.exception is None or isinstance(result.exception, SystemExit)


def test_dry_run_of_an_image_shortens_its_data_url_and_full_keeps_it(
    cli: Cli, project: Path, imagine_home: Path
) -> None:
    still = project / "still.png"
    write_image(still, width=640, height=480, fmt="png", seed=7)
    short = cli.run("gen", "--image", str(still), "the leaves fall", "--dry-run")
    assert _no_exception(short) and short.exit_code == 0, short.stderr
    body = json.loads(short.stdout)
    digest = hashlib.sha256(still.read_bytes()).hexdigest()
    url = body["image"]["url"]
    assert url.startswith("data:image/png;base64,<") and f"of sha256 {digest}>" in url
    assert len(short.stdout) < 1000 < still.stat().st_size
    assert body["prompt"] == "the leaves fall"

    full = cli.run("gen", "--image", str(still), "the leaves fall", "--dry-run-full")
    assert _no_exception(full) and full.exit_code == 0, full.stderr
    sent = json.loads(full.stdout)["image"]["url"]
    assert base64.b64decode(sent.partition(",")[2]) == still.read_bytes()
    assert f"<{len(sent.partition(',')[2])} base64 characters" in url  # the length it stands for
    assert read_jobs(imagine_home) == []  # nothing recorded, nothing sent


def test_dry_run_of_an_extension_prints_a_few_hundred_bytes(cli: Cli, project: Path) -> None:
    clip = project / "clip.mp4"
    write_clip(clip, width=320, height=240, seconds=3, audio=True)
    result = cli.run("extend", str(clip), "more", "--dry-run")
    assert _no_exception(result) and result.exit_code == 0, result.stderr
    assert len(result.stdout) < 1000 < clip.stat().st_size
    assert "base64 characters of sha256" in json.loads(result.stdout)["video"]["url"]
