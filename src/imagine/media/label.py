"""The label every render carries inside its MP4: AI-generated, by which model, as which job.

Written as container tags by a remux (streams copied, never re-encoded) into a private temp file
that replaces the target in one step, so the label travels with the file and a crash part-way
leaves no complete-looking file. Read back by any tool: ``ffprobe -show_format`` lists the tags.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagine import __version__
from imagine.atomic import atomic_target
from imagine.media import INSTALL_HINT, have_av

# The keys imagine writes. `comment` and `description` are the ones players and file managers
# show; the others are for machines. (`encoder` is libavformat's own, rewritten on every mux.)
AI_GENERATED = "ai_generated"
JOB_ID = "imagine_job_id"
MODEL = "imagine_model"
OWN_KEYS = ("comment", "description", AI_GENERATED, JOB_ID, MODEL, "software")
# use_metadata_tags: the MP4 muxer keeps only the tags of iTunes' list (title, comment…) unless
# told to write every key; faststart: the index first, so a player can start at once.
_MOVFLAGS = "use_metadata_tags+faststart"
# C2PA content credentials live in a top-level `uuid` box that a remux would drop: a signed
# provenance record is worth more than our tags, so such a file is left as it came.
_C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
_BOX_SCAN_LIMIT = 64  # top-level boxes looked at; an MP4 has a handful
# How the remux opens its source: an MP4's header already says all a stream copy needs, so
# FFmpeg is not to read (and decode) frames past it to learn more. Its default, for an H.264
# track without B-frames, decodes frames until it has guessed the decoder's delay: half the
# remux's CPU for a simulator clip. The file written is byte for byte the same
# (tests/test_label.py); the first frame is still decoded, so the stream's parameters come
# from it as before.
_QUICK_OPEN = {"probesize": "32", "analyzeduration": "0"}


@dataclass(frozen=True)
class Label:
    job_id: str
    model: str

    def tags(self) -> dict[str, str]:
        sentence = f"AI-generated video, made with {self.model} (imagine job {self.job_id})"
        return {
            "comment": sentence,
            "description": sentence,
            AI_GENERATED: "true",
            JOB_ID: self.job_id,
            MODEL: self.model,
            "software": f"imagine {__version__}",
        }


@dataclass(frozen=True)
class Outcome:
    """What the file carries: the tags read back, or why it carries none."""

    labeled: bool
    tags: dict[str, str] = field(default_factory=dict)
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"labeled": self.labeled, "tags": self.tags or None, "reason": self.reason}


def read(path: Path) -> Outcome:
    """The label ``path`` carries now, read from its container tags."""
    if not have_av():
        return Outcome(
            False, reason=f"cannot read the label without the media extra: {INSTALL_HINT}"
        )
    import av

    try:
        with av.open(str(path)) as container:
            found = dict(container.metadata)
    except (av.error.FFmpegError, OSError) as error:
        return Outcome(False, reason=f"the file cannot be read ({_why(error)})")
    tags = {key: str(found[key]) for key in OWN_KEYS if key in found}
    if tags.get(AI_GENERATED) != "true":
        return Outcome(False, tags, reason="the file carries no AI-generated tag")
    return Outcome(True, tags)


def apply(source: Path, target: Path, label: Label) -> Outcome:
    """Write ``source``'s streams with ``label``'s tags to ``target`` (it may be ``source``
    itself, which is left alone if it carries this label already), replacing it in one step.
    When the file cannot be labelled (no media extra, not a readable MP4, signed content
    credentials), nothing is written and the outcome says why: the caller keeps the file as is."""
    if not have_av():
        return Outcome(
            False, reason=f"not labelled: the media extra is not installed ({INSTALL_HINT})"
        )
    if source == target:
        current = read(source)
        if current.labeled and current.tags.get(JOB_ID) == label.job_id:
            return current
    if _has_content_credentials(source):
        return Outcome(
            False, reason="not labelled: the file carries C2PA content credentials, kept intact"
        )
    import av

    try:
        _remux(source, target, label.tags())
    except (av.error.FFmpegError, ValueError) as error:
        return Outcome(False, reason=f"not labelled: the file could not be remuxed ({_why(error)})")
    return Outcome(True, label.tags())


def carries(path: Path, job_id: str) -> bool:
    """Whether ``path`` is the labelled file of job ``job_id``: written whole by ``apply``."""
    found = read(path)
    return found.labeled and found.tags.get(JOB_ID) == job_id


def _remux(source: Path, target: Path, tags: dict[str, str]) -> None:
    import av

    with (
        av.open(str(source), container_options=_QUICK_OPEN) as given,
        atomic_target(target) as temp,
        av.open(str(temp), "w", format="mp4", options={"movflags": _MOVFLAGS}) as made,
    ):
        made.metadata.update({**dict(given.metadata), **tags})
        copies = {}
        for stream in given.streams:
            if stream.type not in ("video", "audio"):
                continue  # timecode or data tracks: nothing a player needs, and mp4 may refuse them
            copy = made.add_stream_from_template(stream)
            copy.metadata.update(dict(stream.metadata))
            copies[stream.index] = copy
        if not copies:
            raise ValueError("no audio or video stream")
        for packet in given.demux(*(s for s in given.streams if s.index in copies)):
            if packet.dts is None:  # the flush packet demux ends each stream with
                continue
            packet.stream = copies[packet.stream.index]
            made.mux(packet)


def _has_content_credentials(path: Path) -> bool:
    with path.open("rb") as handle:
        for _ in range(_BOX_SCAN_LIMIT):
            header = handle.read(8)
            if len(header) < 8:
                return False
            size, kind = int.from_bytes(header[:4], "big"), header[4:]
            skip = size - 8
            if size == 1:
                large = handle.read(8)
                if len(large) < 8:
                    return False
                skip = int.from_bytes(large, "big") - 16
            if kind == b"uuid" and handle.read(16) == _C2PA_UUID:
                return True
            if size == 0 or skip < 0:
                return False
            handle.seek(skip - (16 if kind == b"uuid" else 0), io.SEEK_CUR)
    return False


def _why(error: BaseException) -> str:
    text = " ".join(str(getattr(error, "strerror", None) or error).split())
    return text[:200] or type(error).__name__
