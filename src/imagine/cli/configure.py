"""`imagine config get|set|unset|list|path`: user settings, or a project's with --project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from imagine import admin, config, paths
from imagine.cli import completion as complete
from imagine.cli import output
from imagine.cli.helptext import ImagineCommand
from imagine.config import SETTINGS, Settings
from imagine.errors import ConfigError
from imagine.project import PROJECT_FILE, find_project

app = typer.Typer(
    help="Read and change settings (user config, or the project's imagine.toml with --project).",
    no_args_is_help=True,
)

ProjectFlag = Annotated[
    bool, typer.Option("--project", help="Act on the project's imagine.toml instead.")
]


def _known_key(key: str) -> str:
    """A mistyped name (`durration`) gets the same "did you mean" a batch line gets."""
    import difflib

    if key.startswith(("prices.", "budget.")) or key in SETTINGS:
        return key
    typed = key.strip().lower().replace("-", "_")
    close = difflib.get_close_matches(typed, SETTINGS, n=1, cutoff=0.6)
    if close:
        raise ConfigError(f"unknown setting {key!r}: did you mean {close[0]!r}?")
    return key  # the full list of known settings comes with the check of the value


Key = Annotated[
    str,
    typer.Argument(
        metavar="KEY",
        help="Setting name (see `imagine config list`).",
        callback=_known_key,
        autocompletion=complete.setting_names,
    ),
]


def _file(project: bool) -> Path:
    if not project:
        return paths.config_file()
    found = find_project()
    if found.config_file is None:
        raise ConfigError("no imagine.toml here or above: run `imagine init` first")
    return found.config_file


def _effective() -> tuple[Settings, dict[str, str]]:
    """The settings in force here, and where each came from."""
    found = find_project()
    sources = {key: "default" for key in SETTINGS}
    for path, name in ((paths.config_file(), "user"), (found.config_file, "project")):
        if path is not None:
            for key in config.flatten(paths.read_table(path)):
                sources[key] = name
    locked = config.load_admin()
    if locked is not None:
        for key in locked.locked:
            sources[key] = f"locked by admin file {locked.path}"
    return config.load(found.config_file), sources


def _refuse_locked(key: str, raw: str) -> None:
    """`config set` of what the admin policy file locks is refused (exit 5) and audited."""
    locked = config.load_admin()
    if locked is None or key.startswith("prices."):
        return
    from imagine.errors import PolicyError
    from imagine.ledger.store import Ledger

    value = config.parse_value(key, raw, source="")
    try:
        if key in locked.locked:
            raise locked.refusal(f"{key} is locked to {_show(locked.values[key])}", key)
        settings = config.load(find_project().config_file)
        admin.Limits(settings, locked).check_value(key, value)
    except PolicyError as refusal:
        with Ledger.open() as ledger:
            admin.audit(ledger, refusal, attempted=f"config set {key} {_show(value)}")
        raise


def _value(settings: Settings, key: str) -> Any:
    if key.startswith("prices."):
        _, model, resolution = ([*key.split("."), "", ""])[:3]
        return settings.prices.get(model, {}).get(resolution)
    if key in config.BUDGET_SETTINGS:
        # The cap that is the user's own; a project's is read with --project's file.
        return getattr(settings, config.budget_field(key, project=False))
    if key not in SETTINGS:
        config.parse_value(key, None, source="")
    return getattr(settings, key)


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value)


@app.command("get", cls=ImagineCommand)
def get(key: Key) -> None:
    """Print the value in force for KEY.

    Example: imagine config get resolution
    """
    settings, _ = _effective()
    output.data(_show(_value(settings, key)))


@app.command("set", cls=ImagineCommand)
def set_(
    key: Key,
    value: Annotated[
        str, typer.Argument(help="New value.", autocompletion=complete.setting_values)
    ],
    project: ProjectFlag = False,
) -> None:
    """Set KEY to VALUE (checked before it is written).

    Example: imagine config set resolution 720p
    """
    path = _file(project)
    _refuse_locked(key, value)
    stored = config.set_value(path, key, value)
    output.message(f"{key} = {_show(stored)}  ({path})")


@app.command("unset", cls=ImagineCommand)
def unset(key: Key, project: ProjectFlag = False) -> None:
    """Remove KEY, so the default (or the user value, for a project) applies again.

    Example: imagine config unset resolution
    """
    path = _file(project)
    if not config.unset_value(path, key):
        output.message(f"{key} was not set in {path}")
        return
    output.message(f"{key} removed from {path}")


@app.command("list", cls=ImagineCommand)
def list_(
    json_output: Annotated[bool, typer.Option("--json", help="As a JSON object.")] = False,
) -> None:
    """List every setting in force here and where it comes from.

    Example: imagine config list
    """
    settings, sources = _effective()
    locked = config.load_admin()
    if json_output:
        values = {key: getattr(settings, key) for key in SETTINGS}
        values["prices"] = {m: dict(row) for m, row in settings.prices.items()}
        if locked is not None:
            values["locked"] = {key: str(locked.path) for key in sorted(locked.locked)}
        output.json_pretty(values)
        return
    for key, setting in SETTINGS.items():
        value = _show(getattr(settings, key))
        output.data(f"{key} = {value}".ljust(44) + f"# {sources[key]}: {setting.help}")
    for model, row in settings.prices.items():
        for resolution, price in row.items():
            origin = sources.get(f"prices.{model}.{resolution}", "default")
            output.data(f"prices.{model}.{resolution} = {price}".ljust(44) + f"# {origin}: USD/s")
    for key, setting in config.BUDGET_SETTINGS.items():
        for project in (False, True):
            value = getattr(settings, config.budget_field(key, project=project))
            if value is None or (project and key == "budget.timezone"):
                continue
            scope = "project" if project else "user"
            if key == "budget.timezone":
                scope = sources.get(key, scope)
            output.data(f"{key} = {_show(value)}".ljust(44) + f"# {scope}: {setting.help}")


@app.command("path", cls=ImagineCommand)
def path(project: ProjectFlag = False) -> None:
    """Print the config file's path (it may not exist yet).

    Example: imagine config path
    """
    if project:
        output.data(str(_file(True)))
        return
    output.data(str(paths.config_file()))


__all__ = ["PROJECT_FILE", "app"]
