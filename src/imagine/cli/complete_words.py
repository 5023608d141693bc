"""What TAB offers for a job reference, shared by Typer's completion (cli/completion.py) and
the quick path that answers before Typer is imported (cli/quick.py). No Typer here."""

from __future__ import annotations

COMPLETE_VAR = "_IMAGINE_COMPLETE"
JOBS_OFFERED = 30
DESCRIPTION_WIDTH = 60

# Statuses spelled out rather than imported: building imagine.lifecycle's dataclasses costs a TAB
# 15 ms. tests/test_completions.py checks each set against jobs.py.
UNFINISHED = frozenset({"queued", "submitting", "running", "downloading", "unknown"})
RETRYABLE = frozenset({"failed", "blocked", "expired", "canceled", "unknown"})
REMOVABLE = frozenset({"complete", "failed", "canceled", "blocked", "expired", "unknown"})
# Commands whose arguments are all job references: the jobs each can act on (None: any job),
# and how many references it takes (None: any number).
JOB_COMMANDS: dict[str, tuple[frozenset[str] | None, int | None]] = {
    "show": (None, 1),
    "wait": (UNFINISHED, None),
    "cancel": (UNFINISHED, None),
    "retry": (RETRYABLE, None),
    "rm": (REMOVABLE, None),
    "promote": (frozenset({"complete"}), 1),
    "approve": (frozenset({"complete"}), None),
    "reject": (frozenset({"complete"}), None),
    "open": (frozenset({"complete"}), 1),
    "report": (frozenset({"complete"}), 1),
    "purge": (REMOVABLE - {"unknown"}, None),  # never a live or unknown job
    "share": (frozenset({"complete"}), 1),
    "fetch": (frozenset({"complete"}), None),
}


def statuses(command: str | None) -> frozenset[str] | None:
    """The jobs a command can act on, so TAB offers only those (None: any job)."""
    return JOB_COMMANDS.get(command or "", (None, None))[0]


def summary(help: str) -> str:
    """A command's summary as TAB shows it: on one line, cut to DESCRIPTION_WIDTH at a word.
    (Typer renders a description through Rich, which wraps it at 80 columns: a wrapped
    description is a line break in the middle of fish's and zsh's list.)"""
    text = " ".join(help.split())
    if len(text) <= DESCRIPTION_WIDTH:
        return text
    cut = text[: DESCRIPTION_WIDTH - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def description(seq: int, prompt: str | None) -> str:
    """A job as TAB describes it: its number and the start of its prompt, on one line."""
    text = " ".join((prompt or "").split())
    if len(text) > DESCRIPTION_WIDTH:
        text = text[: DESCRIPTION_WIDTH - 1] + "…"
    return f"#{seq} {text}".rstrip()


# Values of options with a fixed set, here so that their commands and TAB share one spelling.
PROGRESS_MODES = ("auto", "plain", "json", "none")  # --progress
REVIEW_STATES = ("approved", "rejected", "pending")  # list --review
