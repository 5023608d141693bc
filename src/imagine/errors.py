"""The one exception tree. Every error a user can meet is an ImagineError carrying its exit code.

The CLI catches ImagineError in exactly one place and prints ``str(error)`` as one line on stderr.
Messages therefore say what is wrong and what would fix it, in one sentence or two.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit statuses, the same with or without --json (see README, "Exit codes")."""

    OK = 0
    JOB_FAILED = 1
    USAGE = 2
    AUTH = 3
    UNREACHABLE = 4
    POLICY = 5
    TIMEOUT = 6
    INTERNAL = 70  # a bug in imagine, not a failed render (sysexits' EX_SOFTWARE)
    INTERRUPTED = 130
    STDOUT_CLOSED = 141  # a reader such as `head` stopped reading: 128 + SIGPIPE, as git ends


def sentences(*parts: str | None) -> str:
    """Join messages so each reads as its own sentence: ``cannot reach X`` and ``Render less``
    become ``cannot reach X. Render less``, never ``… try again.; retrying`` or ``($0.50) Render``."""
    text = ""
    for part in parts:
        if not part:
            continue
        if text:
            text = text if text.endswith((".", "!", "?", ":")) else text + "."
            part = part[0].upper() + part[1:]
            text += " "
        text += part
    return text


class ImagineError(Exception):
    """Base of every error meant for the user."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return sentences(self.message, self.hint)


class UsageError(ImagineError):
    """Bad input on the command line or in a file: nothing was submitted."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A config file or setting that cannot be used."""


class ProjectError(UsageError):
    """The project folder cannot be used (missing, not writable, bad imagine.toml)."""


class JobNotFound(UsageError):
    """A job reference that matches no job, or more than one."""


class LedgerUnreachable(ImagineError):
    """The ledger's server (PostgreSQL) cannot be reached, or the connection to it was lost and
    could not be made again in time: the jobs are as last committed; a later run carries on."""

    exit_code = ExitCode.UNREACHABLE


class AuthError(ImagineError):
    """No API key, a wrong one, or one without permission."""

    exit_code = ExitCode.AUTH


class PolicyError(ImagineError):
    """Refused by a local budget or policy before anything was sent."""

    exit_code = ExitCode.POLICY


class MediaError(UsageError):
    """A media file that cannot be read, or a missing optional media dependency."""
