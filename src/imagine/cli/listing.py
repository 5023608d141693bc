"""`imagine list` and `imagine show JOB`: the ledger, read."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from imagine import clock, ids, sidecar
from imagine.cli import completion as complete
from imagine.cli import output
from imagine.cli.complete_words import REVIEW_STATES
from imagine.errors import JobNotFound, UsageError
from imagine.ledger.store import Ledger
from imagine.lifecycle import Job, Status
from imagine.money.pricing import format_usd, ticks_to_usd

if TYPE_CHECKING:
    from imagine.media.label import Outcome

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, flag: str = "--since") -> str:
    """``30m``, ``2h``, ``7d`` or an ISO date/time → an ISO timestamp to compare with."""
    match = re.fullmatch(r"(\d+)\s*([smhdw])", text.strip())
    if match:
        return clock.iso(clock.now() - int(match[1]) * _UNITS[match[2]])
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is not a time: use e.g. 30m, 2h, 7d or 2026-11-01"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return clock.iso(moment.astimezone(UTC).timestamp())


def _statuses(values: list[str] | None) -> list[Status] | None:
    if not values:
        return None
    found = []
    for value in ",".join(values).split(","):
        try:
            found.append(Status(value.strip().lower()))
        except ValueError:
            names = ", ".join(s.value for s in Status)
            raise UsageError(f"unknown status {value!r}: choose from {names}") from None
    return found


def list_jobs(
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            "-s",
            metavar="STATUS",
            help="Only jobs in this status (repeat or comma-separate).",
            autocompletion=complete.status_names,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="WHEN", help="Only jobs created since: 30m, 2h, 7d or a date."
        ),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(
            "--query", metavar="TEXT", help="Only jobs whose prompt or path contains this."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("-n", "--limit", metavar="N", min=1, help="How many jobs.")
    ] = 20,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per job.")] = False,
    review: Annotated[
        str | None,
        typer.Option(
            "--review",
            metavar="STATE",
            help="Only renders in this review state: approved, rejected or pending.",
            autocompletion=complete.review_states,
        ),
    ] = None,
    reported: Annotated[
        bool, typer.Option("--reported", help="Include reported renders (hidden by default).")
    ] = False,
) -> None:
    """List jobs, newest first.

    Example: imagine list --status running,unknown
    """
    wanted = _statuses(status)
    after = parse_since(since) if since else None
    state = _review_state(review)
    with Ledger.open() as ledger:
        jobs = ledger.jobs(
            statuses=wanted,
            since=after,
            text=query,
            limit=limit,
            review=state,
            reported=reported,
        )
        hidden = not (jobs or reported) and ledger.jobs(
            statuses=wanted, since=after, text=query, limit=1, review=state
        )
    if json_output:
        for job in jobs:
            output.json_line(sidecar.job_document(job))
        return
    if not jobs:
        if hidden:
            output.message("only reported jobs: see them with imagine list --reported")
            return
        output.message("no jobs" + (" match" if wanted or after or query or state else " yet"))
        return
    if not output.stdout_is_terminal():
        # For pipes: one tab-separated line per job, no header, nothing cut (like gh).
        for job in jobs:
            output.data("\t".join(_row(job, full=True)))
        return
    console = output.out()
    console.print(_table(jobs, console.width))


def _review_state(value: str | None) -> str | None:
    if value is None:
        return None
    if value.strip().lower() not in REVIEW_STATES:
        raise UsageError(
            f"--review {value!r} is not a review state: choose from {', '.join(REVIEW_STATES)}"
        )
    return value.strip().lower()


COLUMNS = ("#", "id", "status", "model", "len", "res", "cost", "created", "prompt")


def _row(job: Job, *, full: bool = False) -> list[str]:
    prompt = " ".join((job.prompt or "").split())
    return [
        str(job.seq),
        job.id if full else ids.short(job.id),
        _status_text(job),
        job.model,
        f"{job.output_seconds:g}s",
        job.resolution or "",
        _cost(job),
        job.created_at if full else local_time(job.created_at),
        prompt if full else prompt[:60],
    ]


def local_time(stamp: str) -> str:
    """A ledger time (UTC) as the reader's local time, to the minute, with its offset:
    ``2026-12-03 11:18+01:00``; never a bare time that could be either."""
    from datetime import datetime

    moment = datetime.fromtimestamp(clock.parse(stamp)).astimezone()
    return moment.isoformat(sep=" ", timespec="minutes")


def _table(jobs: list[Job], width: int) -> object:
    """A table that fits the terminal: narrow ones lose the model and time columns first."""
    from rich.table import Table

    dropped = {"model", "created"} if width < 100 else set()
    shown = [i for i, name in enumerate(COLUMNS) if name not in dropped]
    table = Table(box=None, pad_edge=False, header_style="bold")
    for i in shown:
        name = COLUMNS[i]
        table.add_column(name, no_wrap=name != "prompt", overflow="ellipsis")
    for job in jobs:
        row = _row(job)
        table.add_row(*(row[i] for i in shown))
    return table


def _status_text(job: Job) -> str:
    if job.status is Status.RUNNING and job.progress is not None:
        return f"running {job.progress}%"
    return f"{job.status} (reported)" if job.reported_at else str(job.status)


def _cost(job: Job) -> str:
    if job.cost_ticks is not None:
        return format_usd(ticks_to_usd(job.cost_ticks))
    if job.cost_estimate_usd is not None:
        return "~" + format_usd(job.cost_estimate_usd)
    return ""


def show(
    job_ref: Annotated[
        str,
        typer.Argument(
            metavar="JOB",
            help="id, short id or prefix, request id, @N, @last, a render's file, or a "
            "storyboard's name.",
            autocompletion=complete.jobs,
        ),
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="The job as JSON (the sidecar's shape).")
    ] = False,
) -> None:
    """Show one job: its request, state, cost, file and history.

    Example: imagine show @last --json

    A storyboard's name (its title as a slug, e.g. lighthouse) or id lists its panels' jobs.
    """
    with Ledger.open() as ledger:
        job = _job_or_storyboard(ledger, job_ref, json_output)
        if job is None:
            return
        events = ledger.events(job.id)
        parent = ledger.get(job.parent_id) if job.parent_id else None
    found = _label_in_file(job)
    if json_output:
        document = sidecar.job_document(job)
        if found is not None:  # what the file says now, read back, not what was once written
            document["file"]["label"] = found.as_dict()
        output.json_pretty(document)
        return
    console = output.out()
    rows = _fields(job, parent)
    if found is not None:
        rows.append(("label", _label_text(found)))
    if job.reported_at:
        rows.append(("reported", f"{local_time(job.reported_at)}: {job.report_reason or ''}"))
    for key, value in rows:
        console.print(f"{key:>12}  {value}", markup=False, highlight=False)
    console.print(f"{'history':>12}", markup=False)
    for event in events:
        moved = (
            " → ".join(s for s in (event.from_status, event.to_status) if s)
            if event.to_status
            else ""
        )
        console.print(f"{'':>12}  {event.at}  {event.event} {moved}".rstrip(), markup=False)


def _label_in_file(job: Job) -> Outcome | None:
    """The AI-generated label the job's MP4 carries now (None: the job has no file)."""
    from pathlib import Path

    from imagine.media import label

    path = Path(job.output_path)
    if job.status is not Status.COMPLETE or not path.is_file():
        return None
    return label.read(path)


def _label_text(found: Outcome) -> str:
    from imagine.media import label

    if not found.labeled:
        return f"none ({found.reason})"
    tags = found.tags
    return f"AI-generated, {tags.get(label.MODEL, '?')}, job {tags.get(label.JOB_ID, '?')}"


def _job_or_storyboard(ledger: Ledger, ref: str, json_output: bool) -> Job | None:
    """The job ``ref`` names, or None when it names a storyboard (whose panels are then shown):
    a storyboard's slug first, then jobs, then a storyboard's id."""
    from imagine.cli.storyboard_show import show_storyboard

    if show_storyboard(ledger, ref, json_output=json_output, by_id=False):
        return None
    try:
        return ledger.resolve(ref)
    except JobNotFound:
        if show_storyboard(ledger, ref, json_output=json_output, by_id=True):
            return None
        raise


def _fields(job: Job, parent: Job | None = None) -> list[tuple[str, str]]:
    from imagine.cli.output import shown_path

    info = job.file_info or {}
    rows = [
        ("job", f"#{job.seq} {job.id}"),
        ("status", _status_text(job)),
        ("model", job.model),
        ("mode", job.mode),
        ("prompt", job.prompt or ""),
        *_template_and_preview(job),
        ("parameters", _parameters(job)),
        *((f"input {item.get('role', '')}".rstrip(), _input(item)) for item in job.inputs),
        ("request id", job.request_id or "—"),
        ("cost", _cost(job) or "—"),
        ("file", shown_path(job.output_path)),
    ]
    if info.get("duration"):
        rows.append(
            (
                "video",
                f"{info['duration']:.2f} s {info.get('width')}×{info.get('height')} "
                f"{info.get('video_codec')}"
                + (f" + {info.get('audio_codec')}" if info.get("has_audio") else ""),
            )
        )
    rows.extend(_extras(job))
    if job.status is Status.COMPLETE:
        rows.append(
            ("review", " ".join(filter(None, (job.review_state or "pending", job.reviewed_at))))
        )
    if job.error_message:
        rows.append(("error", job.error_message))
    if job.parent_id:
        rows.append(("parent", f"#{parent.seq}" if parent else f"{job.parent_id} (removed)"))
    return rows


def _template_and_preview(job: Job) -> list[tuple[str, str]]:
    rows = []
    if job.template_name:
        rows += [("template", f"{job.template_name} v{job.template_version}")]
    if job.prompt_sent != job.prompt:
        rows += [("sent", job.prompt_sent or "")]
    if job.preview:
        rows += [("preview", f"final: {job.params.get('final') or '— (imagine promote)'}")]
    if job.preview_of:
        rows += [("preview of", job.preview_of)]
    return rows


def _parameters(job: Job) -> str:
    """What was asked for; an edit or extension takes its frame size from the input video."""
    if job.mode == "extend":
        length = f"+{job.duration}s added ({job.output_seconds:g}s in all)"
    else:
        length = f"{job.output_seconds:g}s"
    source = next((item for item in job.inputs if item.get("role") == "video"), None)
    if job.aspect_ratio or job.resolution or source is None:
        frame = " ".join(part for part in (job.aspect_ratio, job.resolution) if part)
    else:
        frame = f"{source.get('width')}×{source.get('height')} as the input"
    return ", ".join(
        part for part in (length, frame, "" if job.generate_audio else "silent") if part
    )


def _extras(job: Job) -> list[tuple[str, str]]:
    """Voices, storage and the end user, when the request had them; where xAI stored it."""
    params = job.params
    rows = []
    if params.get("voices"):
        rows.append(("voices", ", ".join(str(voice) for voice in params["voices"])))
    if params.get("user"):
        rows.append(("user", str(params["user"])))
    if params.get("store"):
        store = params["store"]
        asked = ["public" if store.get("public") else "private"]
        if store.get("expires_after"):
            asked.append(f"kept {store['expires_after']} s")
        rows.append(("store", ", ".join(asked)))
    if job.file_output_json:
        stored = json.loads(job.file_output_json)
        rows.append(("stored", " ".join(_stored_facts(stored))))
    return rows


def _stored_facts(stored: dict[str, Any]) -> list[str]:
    facts = [str(stored.get(key)) for key in ("file_id", "filename") if stored.get(key)]
    if stored.get("expires_at"):
        facts.append(f"until {clock.iso(float(stored['expires_at']))}")
    for key in ("public_url", "storage_error", "public_url_error"):
        if stored.get(key):
            facts.append(f"{key.replace('_', ' ')} {stored[key]}")
    return facts


def _input(item: dict[str, Any]) -> str:
    from imagine.cli.output import shown_path

    where = item.get("path") or item.get("url") or item.get("source") or "?"
    shown = shown_path(where) if item.get("path") else str(where)
    facts = []
    if item.get("at") is not None:
        facts.append(f"at {item['at']:g} s")
    if item.get("seconds"):
        facts.append(f"{item['seconds']:g} s")
    if item.get("width") and item.get("height"):
        facts.append(f"{item['width']}×{item['height']}")
    if item.get("sha256"):
        facts.append(f"sha256 {str(item['sha256'])[:12]}")
    return f"{shown} ({', '.join(facts)})" if facts else shown


def audit(
    limit: Annotated[
        int, typer.Option("-n", "--limit", metavar="N", min=1, help="How many entries.")
    ] = 50,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per entry.")] = False,
) -> None:
    """Show the audit log of edits: who edited which video (by hash), when, how consent was given.

    Example: imagine audit -n 10
    """
    with Ledger.open() as ledger:
        entries = ledger.audit_log(limit)
    if json_output:
        for entry in entries:
            output.json_line(entry)
        return
    if not entries:
        output.message("no edits yet")
        return
    if not output.stdout_is_terminal():
        # For pipes: tab-separated, no header, nothing cut (as `list`).
        for entry in entries:
            output.data("\t".join(str(entry[key] or "") for key in AUDIT_COLUMNS))
        return
    output.out().print(_audit_table(entries))


AUDIT_COLUMNS = ("at", "action", "actor", "consent", "input_sha256", "job_id", "prompt")


def _audit_table(entries: list[dict[str, Any]]) -> object:
    """On a terminal: a header, local times, 12-character hashes and ids; --json has it all."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("when", "action", "by", "consent", "input sha256", "job", "prompt"):
        table.add_column(name, no_wrap=name != "prompt", overflow="ellipsis")
    for entry in entries:
        table.add_row(
            local_time(entry["at"]) if entry.get("at") else "",
            str(entry.get("action") or ""),
            str(entry.get("actor") or ""),
            str(entry.get("consent") or ""),
            str(entry.get("input_sha256") or "")[:12],
            ids.short(str(entry["job_id"])) if entry.get("job_id") else "",
            " ".join(str(entry.get("prompt") or "").split()),
        )
    return table
