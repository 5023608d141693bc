"""`--keyframe IMAGE@SECONDS` and `--voice ID`: what the flags (and batch fields) say, checked as text.

Whether the request may carry them at all (model, mode, duration) is the request's rule
(`spec.validate`); here only the spelling is checked.
"""

from __future__ import annotations

import math
import re

from imagine.errors import UsageError

_VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_EXAMPLE = "e.g. --keyframe fox.png@2.5 or --keyframe @3@4"


def split_keyframe(text: str, *, flag: str = "--keyframe") -> tuple[str, float]:
    """(image, seconds) of ``IMAGE@SECONDS``; the image may itself be a job (``@3@2.5``)."""
    image, at, seconds = str(text).rpartition("@")
    if not at or not image:
        raise UsageError(f"{flag} {str(text)[:60]!r}: give IMAGE@SECONDS, {_EXAMPLE}")
    return image, keyframe_time(seconds, flag=f"{flag} {str(text)[:60]}")


def keyframe_time(value: object, *, flag: str) -> float:
    """A keyframe's time as a finite number of seconds (its range is checked with the request)."""
    if isinstance(value, bool):
        raise UsageError(f"{flag}: the time must be a number of seconds, {_EXAMPLE}")
    try:
        seconds = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):
        raise UsageError(f"{flag}: the time must be a number of seconds, {_EXAMPLE}")
    return round(seconds, 3)


def voice_id(text: object, *, flag: str = "--voice") -> str:
    """A preset voice's id (e.g. ``ara``): letters, digits, ``_ . -``, at most 64."""
    value = text.strip() if isinstance(text, str) else ""
    if not _VOICE.fullmatch(value):
        raise UsageError(
            f"{flag} {str(text)[:40]!r} is not a voice id: give a preset voice's name, e.g. ara"
        )
    return value
