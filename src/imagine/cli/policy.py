"""`imagine policy check|list`: try a prompt against the rules in force; show those rules."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from imagine.cli import options as opt
from imagine.cli import output
from imagine.cli.helptext import ImagineCommand
from imagine.config import parse_value
from imagine.errors import ExitCode
from imagine.rules import PolicyLevel, Rule, RuleSet
from imagine.session import Session

app = typer.Typer(
    help="Try a prompt against the local policy rules, or list the rules in force.\n\n"
    'Example: imagine policy check "a red fox in the snow"',
    no_args_is_help=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="As one JSON object.")]


def _rules(session: Session, level: str | None) -> tuple[PolicyLevel, RuleSet]:
    in_force = session.settings.policy
    if level is not None and parse_value("policy", level, source="--policy") is PolicyLevel.STRICT:
        in_force = PolicyLevel.STRICT
    return in_force, session.rules(in_force)


@app.command("check", cls=ImagineCommand)
def check(
    prompt: Annotated[
        str,
        typer.Argument(
            metavar="PROMPT",
            show_default=False,
            help="The prompt as it would be sent; - reads it from stdin.",
            callback=opt.prompt_or_stdin,
        ),
    ],
    policy_level: opt.Policy = None,
    project: opt.ProjectDir = None,
    json_output: JsonFlag = False,
) -> None:
    """Check a prompt against the rules in force, without rendering (exit 5 if blocked).

    Example: imagine policy check "a red fox in the snow" --policy strict
    """
    with Session(project_dir=project) as session:
        level, rules = _rules(session, policy_level)
        verdict = rules.check(prompt)
    blocked = verdict.blocked_by
    if json_output:
        output.json_line(
            {
                "allowed": blocked is None,
                "level": str(level),
                "rule": blocked.rule if blocked else None,
                "category": blocked.category if blocked else None,
                "message": blocked.message if blocked else None,
                "matched": [hit.as_dict() for hit in verdict.hits],
            }
        )
    else:
        for hit in verdict.warnings:
            output.warn(f"rule {hit.rule} ({hit.category}) matches this prompt (action: warn)")
        if blocked is not None:
            output.error(blocked.message)
        else:
            output.data(f"allowed ({level} policy, {len(rules.rules)} rules)")
    raise typer.Exit(int(ExitCode.POLICY if blocked else ExitCode.OK))


@app.command("list", cls=ImagineCommand)
def list_(
    policy_level: opt.Policy = None,
    project: opt.ProjectDir = None,
    json_output: JsonFlag = False,
) -> None:
    """List the rules in force here and where each comes from.

    Example: imagine policy list --policy strict
    """
    with Session(project_dir=project) as session:
        level, rules = _rules(session, policy_level)
        admin = session.admin
    if json_output:
        output.json_line(
            {
                "level": str(level),
                "admin_file": str(admin.path) if admin else None,
                "rules": [_document(rule) for rule in rules.rules],
            }
        )
        return
    output.message(f"{level} policy; admin file: {admin.path if admin else 'none'}")
    width = max(len(rule.name) for rule in rules.rules) + 2
    for rule in rules.rules:
        what = f"{rule.action} · {rule.category}"
        output.data(f"{rule.name.ljust(width)}{what.ljust(56)}  # {rule.source}")


def _document(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "category": rule.category,
        "action": str(rule.action),
        "source": rule.source,
        "words": list(rule.words),
        "regex": list(rule.regex),
        "also": list(rule.also),
        "also_regex": list(rule.also_regex),
    }
