"""What `gen`, `edit` and `extend` share: settings from flags, checks, dry run, cost, record, drive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer

from imagine import admin
from imagine.cli import output
from imagine.cli.drive import Presentation, drive
from imagine.config import Settings, parse_value
from imagine.errors import ExitCode, JobNotFound, PolicyError, UsageError
from imagine.lifecycle import Job
from imagine.media.inputs import JobFinder
from imagine.money.pricing import format_usd
from imagine.rules import PolicyLevel
from imagine.session import Session
from imagine.spec import recorded
from imagine.workflow import templating
from imagine.workflow.plan import Action, Planned, Request
from imagine.workflow.steps import Preview, preview, record
from imagine.workflow.templating import Applied, Template

FLAGS = {
    "duration": "-d/--duration",
    "aspect": "-a/--aspect",
    "resolution": "-r/--resolution",
    "model": "-m/--model",
    "output": "-o/--output",
    "max_cost_usd": "--max-cost",
    "policy": "--policy",
}


@dataclass(frozen=True, kw_only=True)
class Flags:
    """How a render command runs: waiting, showing, confirming, or only showing what it would send."""

    no_wait: bool = False
    timeout: float | None = None
    json: bool = False
    quiet: bool = False
    progress: str | None = None
    yes: bool = False
    force: bool = False
    dry_run: bool = False
    dry_run_full: bool = False  # the bodies with their inline media, every byte


def settings_with(
    session: Session,
    *,
    no_audio: bool = False,
    template: Applied | None = None,
    **given: Any,
) -> Settings:
    """The settings in force, with the values given on the command line checked and applied
    over a template's defaults, which are applied over the config's."""
    checked = {
        key: parse_value(key, value, source=FLAGS[key])
        for key, value in given.items()
        if value is not None
    }
    if no_audio:
        checked["audio"] = False
    if checked.get("policy") is PolicyLevel.STANDARD:
        del checked["policy"]  # --policy only ever raises the level in force
    _check_locks(session, checked)
    settings = session.settings
    if template is not None:
        _check_locks(session, dict(template.template.defaults))  # a template is no way round
        settings = settings.with_overrides(**template.template.defaults)
    return settings.with_overrides(**checked)


def use_template(
    session: Session,
    name: str | None,
    var: list[str] | None,
    prompt: str | None,
    *,
    dry_run: bool = False,
) -> Applied | None:
    """The template ``-t NAME`` filled with the prompt and ``--var`` values (None without -t);
    a warning when its text changed since it was last used without a new version number."""
    if name is None:
        if var:
            raise UsageError("--var fills a template's fields: add -t/--template NAME")
        return None
    file = session.project.config_file
    chosen = templating.choose(templating.load(file), name, file)
    applied = templating.apply(chosen, prompt, templating.parse_vars(var))
    warn_if_changed(session, chosen, dry_run=dry_run)
    return applied


def warn_if_changed(session: Session, template: Template, *, dry_run: bool = False) -> None:
    """One line when a template's text changed since it was last used, its version did not."""
    if templating.text_changed(session.ledger, template, remember=not dry_run):
        output.warn(templating.changed_warning(template))


def _check_locks(session: Session, checked: dict[str, Any]) -> None:
    """A flag may not change what the admin policy file locks, nor pass a limit (exit 5)."""
    from imagine.workflow.steps import limits

    for key, value in checked.items():
        if key == "policy":
            continue  # stricter is never an override of a safety setting
        try:
            limits(session).check_value(key, value)
        except PolicyError as refusal:
            admin.audit(session.ledger, refusal, attempted=f"{FLAGS.get(key, key)} {value}")
            raise


def job_finder(session: Session) -> JobFinder:
    def find(ref: str) -> Job | None:
        try:
            return session.ledger.resolve(ref)
        except JobNotFound:
            return None

    return find


def execute(
    session: Session,
    requests: list[Request],
    settings: Settings,
    flags: Flags,
    *,
    consent: Callable[[], dict[str, Any]] | None = None,
    rps: float | None = None,
    concurrency: int | None = None,
    on_recorded: Callable[[list[Planned]], None] | None = None,
) -> ExitCode:
    """Check, then (unless a dry run) record and drive the jobs; the exit status to end with.

    ``consent`` is asked for after every other check, so nobody confirms a request that is
    then refused.
    """
    dry_run = flags.dry_run or flags.dry_run_full
    if not dry_run:
        session.require_credentials()
    checked = preview(session, requests, dry_run=dry_run, level=settings.policy)
    warn_rules(checked, quiet=flags.quiet)
    if dry_run:
        print_dry_run(checked, full=flags.dry_run_full)
        say_refused(checked)
        return ExitCode.POLICY if checked.refused else ExitCode.OK
    agreed = consent() if consent and checked.requests else None
    if checked.requests:
        confirm_cost(checked, settings, yes=flags.yes, simulated=session.use_sim, session=session)
    planned = record(session, checked, force=flags.force, consent=agreed, settings=settings)
    if on_recorded is not None:
        on_recorded(planned)  # (before the wait: what it links is kept if the wait is cut short)
    refused = [item for item in planned if item.action is Action.REFUSED]
    report_refused(session, refused, json=flags.json)
    rest = [item for item in planned if item.action is not Action.REFUSED]
    if not rest:
        return ExitCode.POLICY
    show = Presentation(json=flags.json, quiet=flags.quiet, progress=flags.progress)
    code = drive(
        session,
        rest,
        wait=not flags.no_wait,
        timeout=flags.timeout,
        show=show,
        rps=rps,
        concurrency=concurrency,
    )
    # A refused request is the run's outcome unless something worse happened to the others.
    return ExitCode.POLICY if refused and code in (ExitCode.OK, ExitCode.JOB_FAILED) else code


def warn_rules(checked: Preview, *, quiet: bool) -> None:
    """One line per rule with action ``warn`` that matched; the jobs go ahead."""
    if quiet:
        return
    for hit in checked.warnings:
        output.warn(f"rule {hit.rule} ({hit.category}) matches this request; sending it anyway")


def say_refused(checked: Preview) -> None:
    """The neutral line for each refused request of a dry run (nothing is recorded)."""
    for item in checked.refused:
        output.error(item.hit.message)


def report_refused(session: Session, refused: list[Planned], *, json: bool) -> None:
    """Each refused job: the rule and its category, never the prompt (not even with --json)."""
    for item in refused:
        job = session.ledger.require(item.job.id)
        prefix = f"#{job.seq}: " if len(refused) > 1 else ""
        output.error(prefix + (job.error_message or "blocked by a local rule"))
        if json:
            output.json_line(refused_document(job))


def refused_document(job: Job) -> dict[str, Any]:
    """--json for a job a local rule refused: what was refused and why, without the prompt."""
    return {
        "id": job.id,
        "seq": job.seq,
        "status": str(job.status),
        "mode": job.mode,
        "model": job.model,
        "block": {
            "source": job.block_source,
            "reason": job.block_reason,
            "rule": job.block_rule,
            "category": job.block_category,
        },
        "message": job.error_message,
    }


def print_dry_run(checked: Preview, *, full: bool = False) -> None:
    """The exact bodies on stdout (one JSON object per request), the route and cost on stderr."""
    print_bodies(checked, full=full)
    print_dry_run_total(checked.total_usd)


def print_bodies(checked: Preview, *, full: bool = False) -> None:
    """Inline media (data URLs) is shown as its length and hash, as the ledger and sidecar keep
    it, unless ``full``: a 10-second clip is megabytes of base64 nobody reads."""
    for spec, body in zip(checked.specs, checked.bodies(), strict=True):
        output.message(f"POST {checked.base_url}{spec.route}")
        output.json_line(body if full else recorded(body))


def print_dry_run_total(usd: float) -> None:
    output.message(f"dry run: nothing sent; estimated cost {format_usd(usd)}")


def confirm_cost(
    checked: Preview, settings: Settings, *, yes: bool, simulated: bool, session: Session
) -> None:
    """On a terminal, ask before spending more than confirm_above_usd; a script must say --yes
    for such a command. Nobody is asked in the simulator, where nothing is paid. A budget that
    cannot hold the whole command is said up front (the jobs that fit will be sent)."""
    from imagine.workflow.spend_checks import check_budget, check_script_consent, needs_confirmation

    check_budget(checked.total_usd, settings)
    if simulated:
        if needs_confirmation(checked.total_usd, settings) and not yes:
            output.message(
                f"simulator: this would cost about {format_usd(checked.total_usd)}; nothing is paid"
            )
        return
    _budget_note(checked, settings, session)
    if yes or not needs_confirmation(checked.total_usd, settings):
        return
    if not output.stdin_is_terminal():
        check_script_consent(checked.total_usd, settings)
        return
    question = f"This will cost about {format_usd(checked.total_usd)}. Render?"
    if not output.confirm(question):
        output.message("nothing rendered")
        raise typer.Exit(0)


def _budget_note(checked: Preview, settings: Settings, session: Session) -> None:
    from imagine.money import caps
    from imagine.workflow import spend_checks

    in_force = caps.of_settings(settings, str(session.project.root))
    tightest = spend_checks.tightest(session.ledger.conn, in_force)
    if tightest is not None and checked.total_usd > tightest.left_usd:
        output.warn(
            f"this command's estimate {format_usd(checked.total_usd)} is more than the "
            f"{format_usd(tightest.left_usd)} left of {tightest.rule} "
            f"({format_usd(tightest.cap_usd)}): the jobs that fit are sent, "
            "the rest are refused (exit 5)"
        )
