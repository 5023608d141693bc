"""`imagine usage`: spend and what is left of each budget, with a bar chart of the days."""

from __future__ import annotations

from typing import Annotated

import typer

from imagine.cli import completion as complete
from imagine.cli import options as opt
from imagine.cli import output
from imagine.money import caps, spending
from imagine.money.pricing import format_usd, ticks_to_usd
from imagine.session import Session

BAR_WIDTH = 40  # characters of the longest bar


def _by(value: str | None) -> str | None:
    if value is not None and value not in set(spending.By):
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(spending.By)}")
    return value


def usage_command(
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="From 7d (the last 7 days, today included) or a date like 2026-11-01 "
            "[default: 30d].",
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            metavar="WHAT",
            callback=_by,
            help="day (a bar chart), model, project or template [default: day].",
            autocompletion=complete.usage_groupings,
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    project: opt.ProjectDir = None,
) -> None:
    """Show spend and what is left of each budget, by day, model, project or template.

    Totals are the provider's recorded charges; reservations of jobs not yet charged are shown
    apart. Example: imagine usage --since 7d --by model
    """
    with Session(project_dir=project) as session:
        in_force = caps.of_settings(session.settings, str(session.project.root))
        found = spending.report(
            session.ledger.conn, in_force, since=since, by=spending.By(by or spending.By.DAY)
        )
    if json_output:
        output.json_pretty(found.as_json())
        return
    _summary(found)
    if found.by is spending.By.DAY:
        _chart(found)
    else:
        _table(found)


def _summary(found: spending.Usage) -> None:
    output.data(
        f"today       {format_usd(found.today.charged_usd):>9} charged"
        f"   (+ {format_usd(found.today.reserved_usd)} reserved for jobs not yet charged)"
    )
    output.data(
        f"this month  {format_usd(found.month.charged_usd):>9} charged"
        f"   (+ {format_usd(found.month.reserved_usd)} reserved)"
    )
    for allowance in found.allowances:
        where = f" {allowance.project_dir}" if allowance.project_dir else ""
        output.data(
            f"budget {allowance.rule} ({allowance.scope}{where}): {format_usd(allowance.cap_usd)},"
            f" {format_usd(allowance.left_usd)} left {_this(allowance.period)}"
        )
    if not found.allowances:
        output.data("no budget set (imagine config set budget.daily_usd N)")
    output.data(
        f"since {found.since} ({found.timezone}): {format_usd(found.charged_usd)} charged for "
        f"{found.jobs_charged} job(s); apart: {format_usd(ticks_to_usd(found.reserved_ticks))}"
        f" reserved, {format_usd(found.queued_estimate_usd)} estimated for queued jobs"
    )


def _this(period: str) -> str:
    return "today" if period == caps.Period.DAY else "this month"


def _chart(found: spending.Usage) -> None:
    """A bar per day of the window (30 by default), its length the day's recorded charges."""
    from rich.table import Table
    from rich.text import Text

    days = found.groups
    top = max((day.charged_ticks for day in days), default=0)
    table = Table(box=None, pad_edge=False, show_header=False)
    for day in days:
        length = round(BAR_WIDTH * day.charged_ticks / top) if top else 0
        if day.charged_ticks and not length:
            length = 1  # a day that spent anything shows
        bar = Text("█" * length, style="cyan")
        reserved = f" +{format_usd(day.reserved_usd)} reserved" if day.reserved_ticks else ""
        table.add_row(day.key, bar, Text(f"{format_usd(day.charged_usd)}{reserved}"))
    output.out().print(table)


def _table(found: spending.Usage) -> None:
    from rich.table import Table
    from rich.text import Text

    if not found.groups:
        output.data(f"no jobs sent since {found.since}")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for heading in (str(found.by), "jobs", "charged", "reserved"):
        table.add_column(heading, justify="left" if heading == str(found.by) else "right")
    for group in found.groups:
        table.add_row(
            Text(group.key),
            str(group.jobs),
            format_usd(group.charged_usd),
            format_usd(group.reserved_usd),
        )
    output.out().print(table)
