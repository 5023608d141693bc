"""The Typer app: command groups composed here, and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from typer._click.exceptions import ClickException  # the base of Typer's usage errors (0.26–0.29)
from typer.core import TyperGroup

from imagine import __version__
from imagine.errors import ExitCode, ImagineError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _debug() -> bool:
    return os.environ.get("IMAGINE_DEBUG", "") not in ("", "0")


class ImagineGroup(TyperGroup):
    """Every ImagineError ends here: one line on stderr, the documented exit code."""

    def invoke(self, ctx: Any) -> Any:
        from imagine.cli import output

        output.events_on_stderr(False)  # until a command's --progress json says otherwise
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

    if is_ledger_problem(error):
        known = problem(error, paths.ledger_file())
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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imagine {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for errors (or IMAGINE_DEBUG=1).")
    ] = False,
) -> None:
    """Render videos with xAI's Grok Imagine API from a terminal, a script or CI.

    Jobs are kept in a local SQLite ledger, so nothing paid for is lost and nothing is paid twice.
    Try it offline first: imagine gen --sim "a red fox running through snow"
    """
    if debug:
        os.environ["IMAGINE_DEBUG"] = "1"


def _register() -> None:
    from imagine.cli import (
        auth,
        batch,
        completion,
        configure,
        edit,
        gen,
        jobs,
        manage,
        models,
        project,
        sim,
        wait,
    )
    from imagine.cli.helptext import ImagineCommand

    app.command("gen", cls=ImagineCommand)(gen.gen)
    app.command("edit", cls=ImagineCommand)(edit.edit)
    app.command("extend", cls=ImagineCommand)(edit.extend)
    app.command("batch", cls=ImagineCommand)(batch.batch)
    app.command("wait", cls=ImagineCommand)(wait.wait)
    app.command("list", cls=ImagineCommand)(jobs.list_jobs)
    app.command("show", cls=ImagineCommand)(jobs.show)
    app.command("cancel", cls=ImagineCommand)(manage.cancel)
    app.command("retry", cls=ImagineCommand)(manage.retry)
    app.command("rm", cls=ImagineCommand)(manage.rm)
    app.command("audit", cls=ImagineCommand)(jobs.audit)
    app.command("init", cls=ImagineCommand)(project.init)
    app.command("models", cls=ImagineCommand)(models.models)
    app.command("sim", cls=ImagineCommand)(sim.sim)
    app.command("completion", cls=ImagineCommand)(completion.completion)
    app.add_typer(configure.app, name="config")
    app.add_typer(auth.app, name="auth")


_register()
