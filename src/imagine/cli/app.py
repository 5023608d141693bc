"""The Typer app: command groups composed here, and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any

import typer
from typer._click.exceptions import ClickException  # the base of Typer's usage errors (0.26–0.29)
from typer._completion_classes import completion_init
from typer.core import TyperGroup

from imagine import __version__
from imagine.cli.commands import COMMANDS
from imagine.errors import ExitCode, ImagineError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _debug() -> bool:
    return os.environ.get("IMAGINE_DEBUG", "") not in ("", "0")


class ImagineGroup(TyperGroup):
    """Every ImagineError ends here: one line on stderr, the documented exit code.

    Commands come from COMMANDS, each imported when first named (Click's lazy group).
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # names only: Typer's own would build every command

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        from typer._click.utils import make_default_short_help

        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [
            (name, make_default_short_help(help, limit)) for name, (_, help) in COMMANDS.items()
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        """Command names with their summaries, then the group's own options."""
        from typer._click.core import Command
        from typer._click.shell_completion import CompletionItem

        from imagine.cli.complete_words import summary

        names = [
            CompletionItem(name, help=summary(help))
            for name, (_, help) in COMMANDS.items()
            if name.startswith(incomplete)
        ]
        return names + Command.shell_complete(self, ctx, incomplete)

    def invoke(self, ctx: Any) -> Any:
        from imagine.cli import output

        output.events_on_stderr(False)  # until a command's --progress json says otherwise
        output.log_to(None)  # until --log-file or IMAGINE_LOG says otherwise
        try:
            return super().invoke(ctx)
        except ImagineError as error:
            if _debug():
                import traceback

                traceback.print_exc()
            output.error(str(error))
            raise typer.Exit(int(error.exit_code)) from None
        except KeyboardInterrupt:
            output.message("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:
            # stdout's reader (`head`, `grep -m1`) stopped reading: end quietly, as git does.
            output.stdout_closed()
            raise typer.Exit(int(ExitCode.STDOUT_CLOSED)) from None
        except (typer.Exit, typer.Abort):
            raise
        except ClickException:
            # A usage error in a subcommand (an unknown option or command, a bad value) is
            # raised in here, where the subcommand's arguments are parsed: Click prints it with
            # the usage line and exits 2.
            raise
        except Exception as error:  # a bug: say so briefly, unless a traceback is wanted
            _ledger_problem(error)
            if getattr(sys, "_called_from_test", False):
                raise  # tests/helpers.py's Cli.run fails the test with this traceback
            if _debug():
                import traceback

                traceback.print_exc()
            # Its own exit code: a script must not read a crash as "a job failed" (exit 1).
            detail = " ".join(str(error).split())  # one line, whatever the exception says
            what = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
            output.error(
                f"internal error ({what}), a bug in imagine;"
                " run it again as imagine --debug … (or with IMAGINE_DEBUG=1) for the traceback"
            )
            raise typer.Exit(int(ExitCode.INTERNAL)) from None


def _ledger_problem(error: Exception) -> None:
    """A damaged or read-only ledger met in the middle of a command is the file's fault, not a
    bug: say which file and what to do, as when it is opened."""
    from imagine import paths
    from imagine.cli import output
    from imagine.ledger.db import is_ledger_problem, problem

    where = paths.ledger_file()
    if is_ledger_problem(error) and not isinstance(where, str):
        known = problem(error, where)
        output.error(str(known))
        raise typer.Exit(int(known.exit_code)) from None


app = typer.Typer(
    name="imagine",
    cls=ImagineGroup,
    context_settings=CONTEXT,
    rich_markup_mode=None,
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
)


# Typer's bash, zsh and fish answers to `_IMAGINE_COMPLETE` (add_completion would register them
# too, along with --install-completion options; `imagine completion SHELL` prints the script).
completion_init()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imagine {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for errors (or IMAGINE_DEBUG=1).")
    ] = False,
    log_file: Annotated[
        str | None,
        typer.Option(
            "--log-file",
            metavar="PATH",
            envvar="IMAGINE_LOG",
            show_envvar=False,
            help="Append every event as one JSON line to this file (or IMAGINE_LOG=PATH).",
        ),
    ] = None,
) -> None:
    """Render videos with xAI's Grok Imagine API from a terminal, a script or CI.

    Jobs are kept in a local SQLite ledger, so nothing paid for is lost and nothing is paid twice.
    Try it offline first: imagine gen --sim "a red fox running through snow"
    """
    if debug:
        os.environ["IMAGINE_DEBUG"] = "1"
    if log_file:
        _open_log(ctx, log_file)


def _open_log(ctx: typer.Context, path: str) -> None:
    from pathlib import Path

    from imagine.cli import output
    from imagine.observability.logfile import LogFile

    output.log_to(LogFile.open(Path(path)))
    ctx.call_on_close(lambda: output.log_to(None))


class _Commands(MutableMapping[str, Any]):
    """Commands by name: every name in COMMANDS is known, each built when first looked up (so
    "Did you mean" suggestions and listings need no import)."""

    def __init__(self, built: MutableMapping[str, Any]) -> None:
        self._built = dict(built)

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = _load(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*COMMANDS, *self._built]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*COMMANDS, *self._built]))


def _load(name: str) -> Any:
    """The Click command for one entry of COMMANDS, built by Typer as `app.command` would."""
    import importlib

    from typer.main import get_command_from_info, get_group_from_info
    from typer.models import CommandInfo, TyperInfo

    module, _, attribute = COMMANDS[name][0].partition(":")
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        return get_group_from_info(
            TyperInfo(target, name=name),
            pretty_exceptions_short=True,
            suggest_commands=True,
            rich_markup_mode=None,
        )
    from imagine.cli.helptext import ImagineCommand  # arguments named by metavar in --help

    return get_command_from_info(
        CommandInfo(name=name, callback=target, cls=ImagineCommand),
        pretty_exceptions_short=True,
        rich_markup_mode=None,
    )
