"""What TAB offers for option values and arguments with a fixed list, as Typer answers:
read by the quick path (cli/quick.py) without importing Typer. Generated, do not edit:
`python -m imagine.cli.completion completions` writes it again (tests/test_completions.py
says when it is stale)."""

from __future__ import annotations

Item = tuple[str, str | None]  # a value, and its description where the shell shows one
Items = tuple[Item, ...]

OPTIONS: dict[str, dict[str, Items]] = {
    "gen": {
        "--aspect": (
            ("1:1", None),
            ("16:9", None),
            ("9:16", None),
            ("4:3", None),
            ("3:4", None),
            ("3:2", None),
            ("2:3", None),
        ),
        "--model": (
            ("grok-imagine-video", None),
            ("grok-imagine-video-1.5", None),
        ),
        "--policy": (
            ("standard", None),
            ("strict", None),
        ),
        "--progress": (
            ("auto", None),
            ("plain", None),
            ("json", None),
            ("none", None),
        ),
        "--resolution": (
            ("480p", None),
            ("720p", None),
            ("1080p", None),
        ),
        "-a": (
            ("1:1", None),
            ("16:9", None),
            ("9:16", None),
            ("4:3", None),
            ("3:4", None),
            ("3:2", None),
            ("2:3", None),
        ),
        "-m": (
            ("grok-imagine-video", None),
            ("grok-imagine-video-1.5", None),
        ),
        "-r": (
            ("480p", None),
            ("720p", None),
            ("1080p", None),
        ),
    },
    "edit": {
        "--model": (
            ("grok-imagine-video", None),
            ("grok-imagine-video-1.5", None),
        ),
        "--policy": (
            ("standard", None),
            ("strict", None),
        ),
        "--progress": (
            ("auto", None),
            ("plain", None),
            ("json", None),
            ("none", None),
        ),
        "-m": (
            ("grok-imagine-video", None),
            ("grok-imagine-video-1.5", None),
        ),
    },
    "extend": {
        "--model": (
            ("grok-imagine-video", None),
            ("grok-imagine-video-1.5", None),
        ),
        "--policy": (
            ("standard", None),
            ("strict", None),
        ),
        "--progress": (
            ("auto", None),
            ("plain", None),
            ("json", None),
            ("none", None),
        ),
        "-m": (
            ("grok-imagine-video", None),
            ("grok-imagine-video-1.5", None),
        ),
    },
    "batch": {
        "--aspect": (
            ("1:1", None),
            ("16:9", None),
            ("9:16", None),
            ("4:3", None),
            ("3:4", None),
            ("3:2", None),
            ("2:3", None),
        ),
        "--model": (
            ("grok-imagine-video", None),
            ("grok-imagine-video-1.5", None),
        ),
        "--policy": (
            ("standard", None),
            ("strict", None),
        ),
        "--progress": (
            ("auto", None),
            ("plain", None),
            ("json", None),
            ("none", None),
        ),
        "--resolution": (
            ("480p", None),
            ("720p", None),
            ("1080p", None),
        ),
        "-a": (
            ("1:1", None),
            ("16:9", None),
            ("9:16", None),
            ("4:3", None),
            ("3:4", None),
            ("3:2", None),
            ("2:3", None),
        ),
        "-m": (
            ("grok-imagine-video", None),
            ("grok-imagine-video-1.5", None),
        ),
        "-r": (
            ("480p", None),
            ("720p", None),
            ("1080p", None),
        ),
    },
    "storyboard": {
        "--progress": (
            ("auto", None),
            ("plain", None),
            ("json", None),
            ("none", None),
        ),
    },
    "wait": {
        "--progress": (
            ("auto", None),
            ("plain", None),
            ("json", None),
            ("none", None),
        ),
    },
    "list": {
        "--status": (
            ("queued", None),
            ("submitting", None),
            ("running", None),
            ("downloading", None),
            ("complete", None),
            ("failed", None),
            ("canceled", None),
            ("blocked", None),
            ("expired", None),
            ("unknown", None),
        ),
        "-s": (
            ("queued", None),
            ("submitting", None),
            ("running", None),
            ("downloading", None),
            ("complete", None),
            ("failed", None),
            ("canceled", None),
            ("blocked", None),
            ("expired", None),
            ("unknown", None),
        ),
    },
    "retry": {
        "--progress": (
            ("auto", None),
            ("plain", None),
            ("json", None),
            ("none", None),
        ),
    },
    "usage": {
        "--by": (
            ("day", None),
            ("model", None),
            ("project", None),
            ("template", None),
        ),
    },
    "promote": {
        "--model": (
            ("grok-imagine-video", None),
            ("grok-imagine-video-1.5", None),
        ),
        "--progress": (
            ("auto", None),
            ("plain", None),
            ("json", None),
            ("none", None),
        ),
        "--resolution": (
            ("480p", None),
            ("720p", None),
            ("1080p", None),
        ),
        "-m": (
            ("grok-imagine-video", None),
            ("grok-imagine-video-1.5", None),
        ),
        "-r": (
            ("480p", None),
            ("720p", None),
            ("1080p", None),
        ),
    },
    "policy check": {
        "--policy": (
            ("standard", None),
            ("strict", None),
        ),
    },
    "policy list": {
        "--policy": (
            ("standard", None),
            ("strict", None),
        ),
    },
    "stats": {
        "--by": (
            ("model", None),
            ("resolution", None),
            ("mode", None),
            ("template", None),
        ),
    },
}

ARGUMENTS: dict[str, tuple[Items | dict[str, Items] | None, ...]] = {
    "completion": (
        (
            ("bash", None),
            ("zsh", None),
            ("fish", None),
        ),
    ),
    "config get": (
        (
            ("model", "model for new renders"),
            ("duration", "seconds of video, 1-15"),
            ("aspect", "aspect ratio: 1:1 16:9 9:16 4:3 3:4 3:2 2:3"),
            ("resolution", "480p, 720p or 1080p (1080p on grok-imagine-video-1.5)"),
            ("audio", "generate an audio track"),
            ("output", "output path template, relative to the project"),
            ("base_url", "API root, e.g. https://api.x.ai"),
            ("rps", "job starts per second per model"),
            ("concurrency", "renders in flight at once"),
            ("confirm_above_usd", "ask before spending more than this on a terminal"),
            ("max_cost_usd", "refuse a command whose estimate exceeds this"),
            ("max_download_mb", "largest video file downloaded, in MB"),
            ("preview_resolution", "resolution of a --preview render"),
            ("preview_duration", "seconds of a --preview render"),
            ("user", "end-user id sent with each request (xAI abuse monitoring)"),
            ("policy", "prompt rules: standard, or strict (age-appropriate)"),
            ("allow_edits", "allow `imagine edit`"),
            ("allow_uploads", "allow sending local files (else URLs only)"),
            ("allow_models", "the only models allowed (comma-separated)"),
            ("max_resolution", "the highest resolution allowed"),
            ("require_consent_for_edits", "edits need --consent or a yes, not a file's"),
            ("retention_days", "`imagine gc` purges finished jobs older than this"),
            ("storage", "shared bucket for finished renders, s3://bucket/prefix"),
            ("ledger", "the ledger: a file, or postgresql://user@host/db to share"),
            ("budget.daily_usd", "spend cap per calendar day (USD)"),
            ("budget.monthly_usd", "spend cap per calendar month (USD)"),
            ("budget.timezone", "time zone of budget days (default: local)"),
        ),
    ),
    "config set": (
        (
            ("model", "model for new renders"),
            ("duration", "seconds of video, 1-15"),
            ("aspect", "aspect ratio: 1:1 16:9 9:16 4:3 3:4 3:2 2:3"),
            ("resolution", "480p, 720p or 1080p (1080p on grok-imagine-video-1.5)"),
            ("audio", "generate an audio track"),
            ("output", "output path template, relative to the project"),
            ("base_url", "API root, e.g. https://api.x.ai"),
            ("rps", "job starts per second per model"),
            ("concurrency", "renders in flight at once"),
            ("confirm_above_usd", "ask before spending more than this on a terminal"),
            ("max_cost_usd", "refuse a command whose estimate exceeds this"),
            ("max_download_mb", "largest video file downloaded, in MB"),
            ("preview_resolution", "resolution of a --preview render"),
            ("preview_duration", "seconds of a --preview render"),
            ("user", "end-user id sent with each request (xAI abuse monitoring)"),
            ("policy", "prompt rules: standard, or strict (age-appropriate)"),
            ("allow_edits", "allow `imagine edit`"),
            ("allow_uploads", "allow sending local files (else URLs only)"),
            ("allow_models", "the only models allowed (comma-separated)"),
            ("max_resolution", "the highest resolution allowed"),
            ("require_consent_for_edits", "edits need --consent or a yes, not a file's"),
            ("retention_days", "`imagine gc` purges finished jobs older than this"),
            ("storage", "shared bucket for finished renders, s3://bucket/prefix"),
            ("ledger", "the ledger: a file, or postgresql://user@host/db to share"),
            ("budget.daily_usd", "spend cap per calendar day (USD)"),
            ("budget.monthly_usd", "spend cap per calendar month (USD)"),
            ("budget.timezone", "time zone of budget days (default: local)"),
        ),
        {
            "model": (
                ("grok-imagine-video", None),
                ("grok-imagine-video-1.5", None),
            ),
            "duration": (
                ("1", None),
                ("2", None),
                ("3", None),
                ("4", None),
                ("5", None),
                ("6", None),
                ("7", None),
                ("8", None),
                ("9", None),
                ("10", None),
                ("11", None),
                ("12", None),
                ("13", None),
                ("14", None),
                ("15", None),
            ),
            "aspect": (
                ("1:1", None),
                ("16:9", None),
                ("9:16", None),
                ("4:3", None),
                ("3:4", None),
                ("3:2", None),
                ("2:3", None),
            ),
            "resolution": (
                ("480p", None),
                ("720p", None),
                ("1080p", None),
            ),
            "audio": (
                ("true", None),
                ("false", None),
            ),
            "preview_resolution": (
                ("480p", None),
                ("720p", None),
                ("1080p", None),
            ),
            "preview_duration": (
                ("1", None),
                ("2", None),
                ("3", None),
                ("4", None),
                ("5", None),
                ("6", None),
                ("7", None),
                ("8", None),
                ("9", None),
                ("10", None),
                ("11", None),
                ("12", None),
                ("13", None),
                ("14", None),
                ("15", None),
            ),
            "policy": (
                ("standard", None),
                ("strict", None),
            ),
            "allow_edits": (
                ("true", None),
                ("false", None),
            ),
            "allow_uploads": (
                ("true", None),
                ("false", None),
            ),
            "max_resolution": (
                ("480p", None),
                ("720p", None),
                ("1080p", None),
            ),
            "require_consent_for_edits": (
                ("true", None),
                ("false", None),
            ),
        },
    ),
    "config unset": (
        (
            ("model", "model for new renders"),
            ("duration", "seconds of video, 1-15"),
            ("aspect", "aspect ratio: 1:1 16:9 9:16 4:3 3:4 3:2 2:3"),
            ("resolution", "480p, 720p or 1080p (1080p on grok-imagine-video-1.5)"),
            ("audio", "generate an audio track"),
            ("output", "output path template, relative to the project"),
            ("base_url", "API root, e.g. https://api.x.ai"),
            ("rps", "job starts per second per model"),
            ("concurrency", "renders in flight at once"),
            ("confirm_above_usd", "ask before spending more than this on a terminal"),
            ("max_cost_usd", "refuse a command whose estimate exceeds this"),
            ("max_download_mb", "largest video file downloaded, in MB"),
            ("preview_resolution", "resolution of a --preview render"),
            ("preview_duration", "seconds of a --preview render"),
            ("user", "end-user id sent with each request (xAI abuse monitoring)"),
            ("policy", "prompt rules: standard, or strict (age-appropriate)"),
            ("allow_edits", "allow `imagine edit`"),
            ("allow_uploads", "allow sending local files (else URLs only)"),
            ("allow_models", "the only models allowed (comma-separated)"),
            ("max_resolution", "the highest resolution allowed"),
            ("require_consent_for_edits", "edits need --consent or a yes, not a file's"),
            ("retention_days", "`imagine gc` purges finished jobs older than this"),
            ("storage", "shared bucket for finished renders, s3://bucket/prefix"),
            ("ledger", "the ledger: a file, or postgresql://user@host/db to share"),
            ("budget.daily_usd", "spend cap per calendar day (USD)"),
            ("budget.monthly_usd", "spend cap per calendar month (USD)"),
            ("budget.timezone", "time zone of budget days (default: local)"),
        ),
    ),
}

ANY_CASE: frozenset[str] = frozenset({"stats --by"})

SUBCOMMANDS: dict[str, Items] = {
    "config": (
        ("get", "Print the value in force for KEY."),
        ("set", "Set KEY to VALUE (checked before it is..."),
        ("unset", "Remove KEY, so the default (or the user..."),
        ("list", "List every setting in force here and where..."),
        ("path", "Print the config file's path (it may not..."),
    ),
    "auth": (
        ("set", "Store an API key (asked for without echo;..."),
        ("status", "Show which key is in use and check it with..."),
        ("remove", "Delete the stored key."),
    ),
    "ledger": (
        ("path", "Print where the ledger is: its file, or..."),
        ("migrate", "Copy this SQLite ledger into PostgreSQL;..."),
    ),
    "policy": (
        ("check", "Check a prompt against the rules in force,..."),
        ("list", "List the rules in force here and where..."),
    ),
}
