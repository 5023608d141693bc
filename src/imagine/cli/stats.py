"""`imagine stats`: latency, outcomes, cost, polls and duplicates, from the ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from imagine.cli import output
from imagine.cli.listing import parse_since
from imagine.ledger.store import Ledger
from imagine.money.pricing import format_usd
from imagine.observability.metrics import Group, GroupBy, Outcome, Report, Spread, report

if TYPE_CHECKING:
    from rich.console import RenderableType

BAR = "█"
HOURS_SHOWN = 24  # of the jobs-per-hour chart: the latest hours with jobs in the window


def stats(
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="WHEN", help="Only jobs created since: 30m, 2h, 7d or a date."
        ),
    ] = None,
    by: Annotated[
        GroupBy | None,
        typer.Option("--by", help="Also break the figures down by this.", case_sensitive=False),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the figures as one JSON object.")
    ] = False,
) -> None:
    """Show render latency, success rates, cost, polls per job and duplicates prevented.

    Read from the ledger; README, "Stats, logs and traces", says how each figure is computed.

    Example: imagine stats --since 7d --by model
    """
    after = parse_since(since) if since else None
    with Ledger.open() as ledger:
        found = report(ledger, since=after, by=by)
    if json_output:
        output.json_pretty(found.as_dict())
        return
    if not found.overall.jobs:
        output.message("no jobs" + (" since then" if after else " yet"))
        return
    console = output.out()
    for part in _parts(found):
        console.print(part)
        console.print()


def _parts(found: Report) -> list[RenderableType]:
    groups = [found.overall, *found.groups]
    return [
        _headline(found),
        _outcomes(groups, found.by),
        _latency(found.overall),
        _histogram(found),
        _per_group(groups, found.by),
        _per_hour(found),
    ]


def _headline(found: Report) -> str:
    overall = found.overall
    window = f"since {found.since}" if found.since else "all time"
    cost = overall.cost
    lines = [
        f"{overall.jobs} jobs ({window}), {overall.finished} finished",
        f"charged {format_usd(cost.charged_usd)}"
        + (
            f" · {format_usd(cost.per_render_usd)} per render"
            f" · {format_usd(cost.per_output_second_usd or 0)} per output second"
            if cost.per_render_usd is not None
            else ""
        ),
        f"duplicates prevented: {found.reused} reused, {found.attached} attached,"
        f" saving {format_usd(found.saved_usd)}",
        f"retries: {found.rate_limited} rate-limited submissions queued again,"
        f" {found.resubmitted} jobs sent again by `imagine retry`;"
        f" unknown: {overall.outcomes.get(Outcome.UNKNOWN, 0)} jobs,"
        f" {found.answers_lost} answers lost",
        f"polls per job: {_number(overall.polls.mean, 1)} mean, {_number(overall.polls.p90, 0)} p90"
        f" · detection lag {_seconds(overall.detection_lag.p50)} p50,"
        f" {_seconds(overall.detection_lag.p95)} p95",
    ]
    return "\n".join(lines)


def _table(*columns: str) -> Any:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold", collapse_padding=True)
    for number, name in enumerate(columns):
        table.add_column(name, justify="left" if number == 0 else "right", no_wrap=True)
    return table


# Column headings of the outcomes table, short enough for 80 columns.
HEADINGS = {
    Outcome.COMPLETE: "complete",
    Outcome.FAILED: "failed",
    Outcome.EXPIRED: "expired",
    Outcome.BLOCKED_PROVIDER: "blk:prov",
    Outcome.BLOCKED_LOCAL: "blk:local",
    Outcome.CANCELED: "canceled",
    Outcome.UNKNOWN: "unknown",
}


def _outcomes(groups: list[Group], by: GroupBy | None) -> Any:
    """Each outcome's share of the finished jobs (blk: blocked by the provider's moderation, or
    by imagine itself), and the jobs still live."""
    table = _table(str(by or ""), "jobs", *HEADINGS.values(), "live")
    for number, group in enumerate(groups):
        name = "all" if number == 0 else (group.key or "(none)")
        cells = [_share(group.rate(outcome)) for outcome in HEADINGS]
        table.add_row(name, str(group.jobs), *cells, str(group.outcomes.get(Outcome.LIVE, 0)))
    return table


def _share(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _latency(group: Group) -> Any:
    table = _table("latency (complete jobs)", "p50", "p90", "p95", "max")
    for name, spread in group.latency.items():
        table.add_row(name, *_spread_cells(spread))
    table.add_row("detection lag", *_spread_cells(group.detection_lag))
    return table


def _spread_cells(spread: Spread) -> list[str]:
    return [_seconds(value) for value in (spread.p50, spread.p90, spread.p95, spread.max)]


def _histogram(found: Report) -> str:
    """Total latency of complete jobs, one bar per bucket."""
    buckets = found.histogram
    most = max((n for _, _, n in buckets), default=0)
    if not most:
        return "total latency: no complete jobs"
    lines = ["total latency (complete jobs)"]
    for low, high, count in buckets:
        label = f"{_short(low)}–{_short(high)}" if high is not None else f"≥ {_short(low)}"
        lines.append(f"  {label:>9} {_bar(count, most)} {count}")
    return "\n".join(lines)


def _per_group(groups: list[Group], by: GroupBy | None) -> Any:
    table = _table(str(by or ""), "total p50", "total p95", "per render", "per second", "polls")
    for number, group in enumerate(groups):
        cost = group.cost
        table.add_row(
            "all" if number == 0 else (group.key or "(none)"),
            _seconds(group.latency["total"].p50),
            _seconds(group.latency["total"].p95),
            format_usd(cost.per_render_usd) if cost.per_render_usd is not None else "-",
            format_usd(cost.per_output_second_usd) if cost.per_output_second_usd else "-",
            _number(group.polls.mean, 1),
        )
    return table


def _per_hour(found: Report) -> str:
    hours = found.per_hour[-HOURS_SHOWN:]
    most = max((n for _, n in hours), default=0)
    lines = [f"jobs per hour (UTC, the latest {len(hours)} hours with jobs)"]
    lines += [f"  {hour[5:10]} {hour[11:13]}h {_bar(n, most)} {n}" for hour, n in hours]
    return "\n".join(lines)


def _bar(count: int, most: int, width: int = 40) -> str:
    return BAR * max(1 if count else 0, round(width * count / most)) if most else ""


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _short(seconds: float) -> str:
    return f"{seconds:g}s" if seconds < 60 else f"{seconds / 60:g}m"


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
