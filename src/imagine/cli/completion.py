"""Shell completion through the program itself (Click's protocol as Typer ships it): the script
`imagine completion SHELL` prints runs `imagine` on each TAB with `_IMAGINE_COMPLETE=complete_SHELL`,
and the answer comes from the live command tree and the ledger, so it is never stale.

The completers below are what TAB offers for a value; each imports only what it reads.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._completion_shared import get_completion_script

from imagine.cli import output
from imagine.cli.complete_words import COMPLETE_VAR, JOBS_OFFERED, description, statuses

PROG = "imagine"
FILES = {"bash": "imagine.bash", "zsh": "_imagine", "fish": "imagine.fish"}


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion(
    shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.")],
) -> None:
    """Print the completion script for a shell.

    Example: imagine completion bash > ~/.local/share/bash-completion/completions/imagine
    """
    output.data(script(shell.value).rstrip("\n"))


def script(shell: str) -> str:
    """The script a shell sources: it asks `imagine` itself what to offer on each TAB."""
    text = get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell)
    return text.rstrip("\n") + "\n"


# -- what TAB offers -------------------------------------------------------------------------


def jobs(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Job ids (described by number and prompt), @last and @N, newest first."""
    from imagine import paths
    from imagine.ledger.store import Ledger

    found = [("@last", "the newest job")] if "@last".startswith(incomplete) else []
    where = paths.ledger_file()
    if isinstance(where, Path) and not where.exists():  # completing must not create a ledger
        return found
    with Ledger.open(where) as ledger:
        choices = ledger.job_choices(incomplete, statuses(ctx.info_name), JOBS_OFFERED)
    by_number = incomplete.startswith("@")
    for seq, job_id, prompt in choices:
        value = f"@{seq}" if by_number else job_id
        found.append((value, description(seq, prompt)))
    return found


def video(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """A video to edit or extend: a job when the word starts with @, else nothing, so that the
    shell offers file names."""
    return jobs(ctx, incomplete) if incomplete.startswith("@") else []


def setting_names(incomplete: str) -> list[tuple[str, str]]:
    from imagine.config import BUDGET_SETTINGS, SETTINGS

    known = {**SETTINGS, **BUDGET_SETTINGS}
    return [(key, setting.help) for key, setting in known.items() if key.startswith(incomplete)]


def setting_values(ctx: typer.Context, incomplete: str) -> list[str]:
    """Values for `config set KEY <TAB>` where there are few: a setting read as a model, an
    aspect, a resolution, a duration, true/false or a policy level (max_resolution and
    preview_resolution as resolution, allow_edits as audio...)."""
    from imagine.config import SETTINGS

    setting = SETTINGS.get(ctx.params.get("key") or "")
    if setting is None:
        return []
    for like, values in _closed_settings().items():
        if setting.parse is SETTINGS[like].parse:
            return _among(values, incomplete)
    return []


def _closed_settings() -> dict[str, Iterable[str]]:
    from imagine.api import contract
    from imagine.rules.ruleset import PolicyLevel

    return {
        "model": contract.MODELS,
        "aspect": contract.ASPECT_RATIOS,
        "resolution": contract.RESOLUTIONS,
        "audio": ("true", "false"),
        "duration": (str(s) for s in range(contract.MIN_DURATION, contract.MAX_DURATION + 1)),
        "policy": (level.value for level in PolicyLevel),
    }


def _among(values: Iterable[str], incomplete: str) -> list[str]:
    return [value for value in values if value.startswith(incomplete)]


def models(incomplete: str) -> list[str]:
    from imagine.api import contract

    return _among(contract.MODELS, incomplete)


def aspects(incomplete: str) -> list[str]:
    from imagine.api import contract

    return _among(contract.ASPECT_RATIOS, incomplete)


def resolutions(incomplete: str) -> list[str]:
    from imagine.api import contract

    return _among(contract.RESOLUTIONS, incomplete)


def policy_levels(incomplete: str) -> list[str]:
    from imagine.rules.ruleset import PolicyLevel

    return _among((level.value for level in PolicyLevel), incomplete)


def usage_groupings(incomplete: str) -> list[str]:
    from imagine.money.spending import By

    return _among((by.value for by in By), incomplete)


def durations(incomplete: str) -> list[str]:
    from imagine.api import contract

    seconds = range(contract.MIN_DURATION, contract.MAX_DURATION + 1)
    return _among((str(s) for s in seconds), incomplete)


def batch_formats(incomplete: str) -> list[str]:
    from imagine.workflow.batchfile import FORMATS

    return _among(FORMATS, incomplete)


def review_states(incomplete: str) -> list[str]:
    from imagine.cli.complete_words import REVIEW_STATES

    return _among(REVIEW_STATES, incomplete)


def status_names(incomplete: str) -> list[str]:
    from imagine.lifecycle import Status

    return _among((s.value for s in Status), incomplete)


def progress_modes(incomplete: str) -> list[str]:
    from imagine.cli.complete_words import PROGRESS_MODES

    return _among(PROGRESS_MODES, incomplete)


def templates(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Template names for -t, each described by its version and description."""
    from imagine.errors import ImagineError
    from imagine.project import find_project
    from imagine.workflow import templating as found

    try:
        defined = found.load(find_project(ctx.params.get("project")).config_file)
    except ImagineError:  # a broken definition: the command itself will say what is wrong
        return []
    return [
        (name, f"v{item.version} {item.description or ''}".rstrip())
        for name, item in sorted(defined.items())
        if name.startswith(incomplete)
    ]


# -- the table the quick path reads (cli/quick.py) ---------------------------------------------

Item = tuple[str, str | None]
TABLE_FILE = Path(__file__).with_name("complete_table.py")


def table() -> dict[str, Any]:
    """Every fixed answer Typer gives now, for the quick path to give without Typer.

    OPTIONS: per command (a subcommand as "config set"), each option name whose value has a
    fixed list of completions (models, resolutions, statuses...). ARGUMENTS: per command whose
    positional arguments are neither job references (JOB_COMMANDS) nor of variable number, one
    entry per argument: its fixed list, or the lists by the first argument's value (`config
    set KEY <TAB>`), or None (files, templates: Typer answers). ANY_CASE: the options whose
    values match in any case. SUBCOMMANDS: a group's commands (`config <TAB>`). Asked in an
    empty IMAGINE_HOME and folder, so that what depends on the ledger or a project answers
    nothing and is left out.
    """
    import os
    import tempfile
    from contextlib import chdir

    from imagine.cli.app import app
    from imagine.cli.commands import COMMANDS
    from imagine.cli.complete_words import JOB_COMMANDS

    options: dict[str, dict[str, tuple[Item, ...]]] = {}
    arguments: dict[str, tuple[Any, ...]] = {}
    any_case: list[str] = []
    subcommands: dict[str, tuple[Item, ...]] = {}
    saved = {name: os.environ.get(name) for name in ("IMAGINE_HOME", "IMAGINE_LEDGER")}
    with tempfile.TemporaryDirectory() as empty, chdir(empty):
        os.environ["IMAGINE_HOME"] = empty
        os.environ.pop("IMAGINE_LEDGER", None)
        try:
            root: Any = typer.main.get_command(app)
            with root.make_context("imagine", [], resilient_parsing=True) as top:
                for name in COMMANDS:
                    command = root.get_command(top, name)
                    for path, ctx in _leaves(command, name, top, subcommands):
                        found, folded = _option_values(ctx)
                        if found:
                            options[path] = found
                        any_case += [f"{path} {option}" for option in folded]
                        if path not in JOB_COMMANDS:
                            entries = _argument_values(ctx)
                            if entries is not None:
                                arguments[path] = entries
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    return {
        "OPTIONS": options,
        "ARGUMENTS": arguments,
        "ANY_CASE": frozenset(any_case),
        "SUBCOMMANDS": subcommands,
    }


def _leaves(
    command: Any, path: str, parent: Any, groups: dict[str, tuple[Item, ...]]
) -> Iterable[tuple[str, Any]]:
    """Each command under `command` with its context; a group's own answer goes to groups."""
    ctx = command.make_context(path.rsplit(" ", 1)[-1], [], parent=parent, resilient_parsing=True)
    if not hasattr(command, "list_commands"):
        yield path, ctx
        return
    groups[path] = tuple(
        (item.value, item.help or None) for item in command.shell_complete(ctx, "")
    )
    for name in command.list_commands(ctx):
        yield from _leaves(command.get_command(ctx, name), f"{path} {name}", ctx, groups)


def _fixed(param: Any, ctx: Any) -> tuple[Item, ...]:
    """The param's answer to an empty word; nothing if it is a file or depends on a value."""
    items = param.shell_complete(ctx, "")
    if any(item.type != "plain" for item in items):
        return ()
    return tuple((item.value, item.help or None) for item in items)


def _option_values(ctx: Any) -> tuple[dict[str, tuple[Item, ...]], list[str]]:
    """The options with a fixed list, and those of them whose values match in any case
    (`stats --by MO`: Typer's choices of an Enum with case_sensitive=False)."""
    found, any_case = {}, []
    for param in ctx.command.get_params(ctx):
        if param.param_type_name != "option" or param.is_flag or param.count or param.nargs != 1:
            continue
        items = _fixed(param, ctx)
        if items:
            found.update(dict.fromkeys(param.opts, items))
            value = items[0][0]
            if value.upper() != value and param.shell_complete(ctx, value.upper()):
                any_case += param.opts
    return dict(sorted(found.items())), any_case


def _argument_values(ctx: Any) -> tuple[Any, ...] | None:
    params = [p for p in ctx.command.get_params(ctx) if p.param_type_name == "argument"]
    if not params or any(p.nargs != 1 for p in params):
        return None
    entries: list[Any] = [_fixed(params[0], ctx) or None]
    for param in params[1:]:
        entry: Any = _fixed(param, ctx) or None
        if entry is None and entries[0]:  # the values may follow from the first argument's
            by_first = {}
            for value, _ in entries[0]:
                ctx.params = {params[0].name: value}
                by_first[value] = _fixed(param, ctx)
            ctx.params = {}
            entry = {value: items for value, items in by_first.items() if items} or None
        entries.append(entry)
    return tuple(entries) if any(entry is not None for entry in entries) else None


def write_table(path: Path = TABLE_FILE) -> str:
    """Write the table as the light module cli/complete_table.py (no import at all)."""
    import json

    found = table()

    def text(value: Any, indent: int) -> str:
        pad = " " * indent
        if value is None or isinstance(value, str):
            return json.dumps(value, ensure_ascii=False) if value is not None else "None"
        if isinstance(value, dict):
            rows = "".join(
                f"{pad}    {text(k, 0)}: {text(v, indent + 4)},\n" for k, v in value.items()
            )
            return "{\n" + rows + pad + "}"
        if len(value) == 2 and isinstance(value[0], str):  # an item: value, description
            return f"({text(value[0], 0)}, {text(value[1], 0)})"
        rows = "".join(f"{pad}    {text(v, indent + 4)},\n" for v in value)
        return "(\n" + rows + pad + ")"

    path.write_text(
        '"""What TAB offers for option values and arguments with a fixed list, as Typer answers:\n'
        "read by the quick path (cli/quick.py) without importing Typer. Generated, do not edit:\n"
        "`python -m imagine.cli.completion completions` writes it again (tests/test_completions.py\n"
        'says when it is stale)."""\n\n'
        "from __future__ import annotations\n\n"
        "Item = tuple[str, str | None]  # a value, and its description where the shell shows one\n"
        "Items = tuple[Item, ...]\n\n"
        f"OPTIONS: dict[str, dict[str, Items]] = {text(found['OPTIONS'], 0)}\n\n"
        "ARGUMENTS: dict[str, tuple[Items | dict[str, Items] | None, ...]] = "
        f"{text(found['ARGUMENTS'], 0)}\n\n"
        f"ANY_CASE: frozenset[str] = frozenset({{{', '.join(map(json.dumps, sorted(found['ANY_CASE'])))}}})\n\n"
        f"SUBCOMMANDS: dict[str, Items] = {text(found['SUBCOMMANDS'], 0)}\n"
    )
    return str(path)


def write_all(folder: str) -> list[str]:
    """Regenerate the committed scripts in completions/."""
    written = []
    for shell, name in FILES.items():
        path = Path(folder) / name
        path.write_text(script(shell))
        written.append(str(path))
    return written


if __name__ == "__main__":
    for line in [*write_all(sys.argv[1] if len(sys.argv) > 1 else "completions"), write_table()]:
        sys.stdout.write(line + "\n")
