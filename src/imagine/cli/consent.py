"""Consent to edit a video: `--consent`, a batch line's own word, or a yes on a terminal; what
is recorded of it (how, by whom, when) goes to the audit log with the edit. Shared by `edit` and
`batch`."""

from __future__ import annotations

import getpass
import socket
from typing import Any

from imagine import clock
from imagine.cli import output
from imagine.errors import PolicyError

CONSENT_QUESTION = (
    "Do you own this video, or have the consent of the people in it, to edit it with AI?"
)


def consent_record(how: str) -> dict[str, Any]:
    return {
        "given": True,
        "how": how,
        "by": f"{getpass.getuser()}@{socket.gethostname()}",
        "at": clock.iso(),
    }


def ask_consent(given: bool, *, count: int = 1) -> dict[str, Any]:
    """Editing someone's video needs their consent: --consent, or a yes on a terminal."""
    if given:
        return consent_record("flag")
    if output.stdin_is_terminal():
        question = (
            CONSENT_QUESTION
            if count == 1
            else CONSENT_QUESTION.replace("this video", f"these {count} videos")
        )
        if not output.confirm(question):
            raise PolicyError("not edited: consent was not confirmed")
        return consent_record("prompt")
    raise PolicyError(
        "editing a video needs --consent: pass it to confirm you own the video "
        "or have the consent of the people in it"
    )
