"""The table of commands: where each is, and the summary `imagine --help` lists.

Nothing but this table here: the quick completion path (cli/quick.py) offers command names from
it before Typer is imported.
"""

from __future__ import annotations

# Every command, loaded only when it runs (or its own help is asked for): `imagine --help`,
# `--version` and completion of a command name import no command module, so none of httpx,
# asyncio, sqlite3 or the engine. Each entry: where the command is (a function, or a Typer app
# for a group), and the summary `imagine --help` lists (the first paragraph of the command's help,
# checked against it by tests/test_startup.py).
COMMANDS: dict[str, tuple[str, str]] = {
    "gen": (
        "imagine.cli.gen:gen",
        "Render a video from a prompt (and images), wait for it and save it with its sidecar.",
    ),
    "edit": (
        "imagine.cli.edit:edit",
        "Edit a video (up to 8.7 s) with an instruction; the result keeps its length.",
    ),
    "extend": (
        "imagine.cli.edit:extend",
        "Continue a clip (2-15 s) from its last frame; the result is the original plus the new part.",
    ),
    "batch": (
        "imagine.cli.batch:batch",
        "Render every job in a file; run it again and only what is missing is rendered.",
    ),
    "storyboard": (
        "imagine.cli.storyboard:storyboard",
        "Render a storyboard's panels as jobs, with continuity, and stitch them into one MP4.",
    ),
    "wait": (
        "imagine.cli.wait:wait",
        "Resume polling and downloading until the jobs are finished.",
    ),
    "list": ("imagine.cli.listing:list_jobs", "List jobs, newest first."),
    "show": (
        "imagine.cli.listing:show",
        "Show one job: its request, state, cost, file and history.",
    ),
    "cancel": ("imagine.cli.manage:cancel", "Stop waiting for jobs and mark them canceled."),
    "retry": (
        "imagine.cli.manage:retry",
        "Submit failed, expired, blocked, canceled or unknown jobs again, as new linked jobs.",
    ),
    "rm": (
        "imagine.cli.manage:rm",
        "Remove finished jobs from the ledger (their files stay unless --files).",
    ),
    "audit": (
        "imagine.cli.listing:audit",
        "Show the audit log of edits: who edited which video (by hash), when, how consent was given.",
    ),
    "report": (
        "imagine.cli.purge:report",
        "Report a render: it is hidden from list and review, and the report is audited.",
    ),
    "purge": (
        "imagine.cli.purge:purge",
        "Delete finished jobs and their files (MP4, sidecar, poster), each deletion audited.",
    ),
    "gc": (
        "imagine.cli.purge:gc",
        "Purge finished jobs older than the retention_days setting, with their files.",
    ),
    "init": (
        "imagine.cli.initialise:init",
        "Create imagine.toml (project settings) and renders/ in a folder.",
    ),
    "models": (
        "imagine.cli.models:models",
        "List the video models your key can use, with the prices used for estimates.",
    ),
    "sim": (
        "imagine.cli.sim:sim",
        "Serve an xAI-compatible video API on loopback until killed (Ctrl-C).",
    ),
    "completion": ("imagine.cli.completion:completion", "Print the completion script for a shell."),
    "config": (
        "imagine.cli.configure:app",
        "Read and change settings (user config, or the project's imagine.toml with --project).",
    ),
    "auth": ("imagine.cli.auth:app", "Store, check or remove the xAI API key."),
    "usage": (
        "imagine.cli.usage:usage_command",
        "Show spend and what is left of each budget, by day, model, project or template.",
    ),
    "templates": (
        "imagine.cli.templates:templates",
        "List the prompt templates (-t NAME): version, fields, options and where each is defined.",
    ),
    "promote": (
        "imagine.cli.promote:promote",
        "Render the final version of a --preview: same prompt, template version, inputs and options.",
    ),
    "ledger": (
        "imagine.cli.ledger:app",
        "Say where the ledger is, or copy it into a PostgreSQL ledger that machines share.",
    ),
    "policy": (
        "imagine.cli.policy:app",
        "Try a prompt against the local policy rules, or list the rules in force.",
    ),
    "review": (
        "imagine.cli.review:review",
        "Review renders in a browser: play the takes, approve, reject, promote or re-run them.",
    ),
    "approve": (
        "imagine.cli.review:approve",
        "Approve renders: mark them approved in the ledger (audited).",
    ),
    "reject": (
        "imagine.cli.review:reject",
        "Reject renders: mark them rejected in the ledger (audited).",
    ),
    "gallery": (
        "imagine.cli.review:gallery",
        "Write the contact sheet of renders as one self-contained HTML file (no buttons).",
    ),
    "open": ("imagine.cli.review:open_render", "Play a render with the system's video player."),
    "stats": (
        "imagine.cli.stats:stats",
        "Show render latency, success rates, cost, polls per job and duplicates prevented.",
    ),
    "share": (
        "imagine.cli.share:share",
        "Print a signed link to a render's MP4 in shared storage, valid for --expires.",
    ),
    "fetch": (
        "imagine.cli.share:fetch",
        "Fetch renders from shared storage into this project folder (MP4, sidecar, poster).",
    ),
}
