"""The quick answer to the TABs that have to be quick: every TAB whose answer is a list.

`imagine show <TAB>` runs the whole program through Click's completion protocol, and Typer
alone takes longer to import than a TAB may take. So ``main`` asks here first, and answers
without Typer when the word being completed is
- a command's name (from cli/commands.py);
- a job reference of one of JOB_COMMANDS, nothing but job references typed so far (read from
  the ledger with ``sqlite3`` alone);
- the value of an option or an argument with a fixed list: `--model`, `--resolution`,
  `--progress`, `list --status`, `stats --by`, `config set <TAB>` (setting names) and
  `config set KEY <TAB>` (its values), `completion <TAB>` (from cli/complete_table.py, made from
  Typer's own answers).
Each is printed exactly as Typer's bash, zsh and fish completion would print it
(tests/test_completions.py compares the two). Anything else (option names, files, templates, a
ledger that cannot be read, a description that Typer would render as Rich markup) returns None
and Typer answers as before.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Sequence

from imagine.cli.complete_words import (
    COMPLETE_VAR,
    JOB_COMMANDS,
    JOBS_OFFERED,
    description,
    summary,
)

TYPE_CHECKING = False  # typing itself costs a TAB a few ms
if TYPE_CHECKING:
    from imagine.cli.complete_table import Items

_MARKUP = re.compile(r"\[|:[\w+-]+:")  # Rich markup or an :emoji: code: Typer renders these


def answer() -> bool:
    """Print the answer and return True, or return False for Typer to answer."""
    instruction, _, shell = os.environ.get(COMPLETE_VAR, "").partition("_")
    if instruction != "complete" or shell not in ("bash", "zsh", "fish"):
        return False
    words = _words(shell)
    if words is None:
        return False
    args, incomplete = words
    offered: Sequence[tuple[str, str | None]] | None = _command_names(args, incomplete)
    if offered is None:
        offered = _job_references(args, incomplete)
    if offered is None:
        offered = _fixed_values(args, incomplete)
    if offered is None:
        return False
    if shell == "bash":
        _print("\n".join(value for value, _ in offered))
    elif shell == "zsh":
        _print(_zsh(offered))
    elif os.environ.get("_TYPER_COMPLETE_FISH_ACTION") == "is-args":
        sys.exit(0 if offered else 1)
    else:
        _print("\n".join(f"{value}\t{help}" if help else value for value, help in offered))
    return True


def _words(shell: str) -> tuple[list[str], str] | None:
    """The words typed before the one being completed (after `imagine`), and that word, read
    as Typer's completion classes read them."""
    if shell == "bash":
        try:
            cwords = _split(os.environ["COMP_WORDS"])
            cword = int(os.environ["COMP_CWORD"])
        except (KeyError, ValueError):
            return None
        incomplete = cwords[cword] if 0 <= cword < len(cwords) else ""
        return cwords[1:cword], incomplete
    line = os.environ.get("_TYPER_COMPLETE_ARGS", "")
    args = _split(line)[1:]
    if args and not line.endswith(" "):
        return args[:-1], args[-1]
    return args, ""


def _split(line: str) -> list[str]:
    """Split as Click's split_arg_string does: shell words, an unfinished quote kept as is."""
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    words: list[str] = []
    try:
        words.extend(lexer)
    except ValueError:
        words.append(lexer.token)
    return words


def _command_names(args: list[str], incomplete: str) -> list[tuple[str, str]] | None:
    """`imagine <TAB>`: the commands with their summaries (Click offers the group's options
    only for a word that starts with neither a letter nor a digit)."""
    if args or (incomplete and not incomplete[0].isalnum()):
        return None
    from imagine.cli.commands import COMMANDS

    offered = [
        (name, summary(help)) for name, (_, help) in COMMANDS.items() if name.startswith(incomplete)
    ]
    if any(_MARKUP.search(help) or not help.isprintable() for _, help in offered):
        return None
    return offered


def _job_references(args: list[str], incomplete: str) -> list[tuple[str, str]] | None:
    if not args or args[0] not in JOB_COMMANDS or incomplete.startswith("-"):
        return None
    given = args[1:]
    statuses, most = JOB_COMMANDS[args[0]]
    if any(word.startswith("-") for word in given) or (most is not None and len(given) >= most):
        return None  # options, or every argument given: Click knows what comes next
    offered = [("@last", "the newest job")] if "@last".startswith(incomplete) else []
    choices = _choices(incomplete, statuses)
    if choices is None:
        return None
    by_number = incomplete.startswith("@")
    for seq, job_id, prompt in choices:
        text = description(seq, prompt)
        if _MARKUP.search(text) or not text.isprintable():
            return None
        offered.append((f"@{seq}" if by_number else job_id, text))
    return offered


def _fixed_values(args: list[str], incomplete: str) -> list[tuple[str, str | None]] | None:
    """`config <TAB>`, `gen --model <TAB>`, `config set <TAB>`, `config set resolution <TAB>`:
    the fixed lists of cli/complete_table.py, chosen as Click chooses (_resolve_incomplete):
    a group's commands, the value of the option just typed, else the first argument not given.
    Anything less plain (other options on the line, `--`, `=`) is left to Typer."""
    from imagine.cli.complete_table import ANY_CASE, ARGUMENTS, OPTIONS, SUBCOMMANDS

    if not args or incomplete.startswith("-") or incomplete == "=" or "--" in args:
        return None
    path = args[0]
    if path in SUBCOMMANDS and len(args) > 1:  # a group's command
        path = f"{path} {args[1]}"
    given = args[len(path.split(" ")) :]
    items: Items | None
    if path in SUBCOMMANDS:  # `config <TAB>`: Click offers the group's options too for `_`
        items = SUBCOMMANDS[path] if not incomplete or incomplete[0].isalnum() else None
    elif given and given[-1] in OPTIONS.get(path, {}):
        items = OPTIONS[path][given[-1]]
        if f"{path} {given[-1]}" in ANY_CASE:  # as Typer matches a case-insensitive choice
            typed = incomplete.lower()
            return [(value, help) for value, help in items if value.lower().startswith(typed)]
    else:
        items = _argument(ARGUMENTS.get(path, ()), given)
    if items is None:
        return None
    offered = [(value, help) for value, help in items if value.startswith(incomplete)]
    if any(help and (_MARKUP.search(help) or not help.isprintable()) for _, help in offered):
        return None
    return offered


def _argument(
    entries: tuple[Items | dict[str, Items] | None, ...], given: list[str]
) -> Items | None:
    """The values of the first argument not given, or None for Typer to answer (other options
    on the line, every argument given, files or a project's templates)."""
    if any(word.startswith("-") for word in given) or len(given) >= len(entries):
        return None
    entry = entries[len(given)]
    return entry.get(given[0], ()) if isinstance(entry, dict) else entry  # values by the first


def _choices(
    incomplete: str, statuses: frozenset[str] | None
) -> list[tuple[int, str, str | None]] | None:
    from imagine import paths
    from imagine.ledger.address import is_postgres

    try:
        where = paths.ledger_location()
    except Exception:  # a config file that cannot be read: Typer's path says what is wrong
        return None
    if is_postgres(where):  # Typer's path asks it
        return None
    if not os.path.exists(where):  # completing must not create a ledger
        return []
    import sqlite3  # here: a TAB on a setting or an option's value needs no ledger

    from imagine.ledger.choices import job_choices

    try:
        conn = sqlite3.connect(_read_only_uri(where), uri=True, timeout=0.2)
        try:
            return job_choices(conn, incomplete, sorted(statuses or ()) or None, JOBS_OFFERED)
        finally:
            conn.close()
    except (sqlite3.Error, ValueError, OSError):
        return None  # Typer answers, and says what is wrong with the ledger


def _read_only_uri(where: str) -> str:
    """SQLite's URI for the file, opened read-only (Path.as_uri would import pathlib and
    urllib.parse: 10 ms a TAB). SQLite decodes %HH and ends the path at ? or #."""
    path = os.path.realpath(where)
    if os.name == "nt":  # file:///C:/Users/... (SQLite's form of a Windows path)
        path = "/" + path.replace("\\", "/")
    for char, code in (("%", "%25"), ("?", "%3F"), ("#", "%23")):
        path = path.replace(char, code)
    return f"file://{path}?mode=ro"  # an empty authority, then the absolute path


def _zsh(offered: Sequence[tuple[str, str | None]]) -> str:
    if not offered:
        return "_files"

    def escape(text: str) -> str:
        return (
            text.replace('"', '""')
            .replace("'", "''")
            .replace("$", "\\$")
            .replace("`", "\\`")
            .replace(":", r"\\:")
        )

    items = "\n".join(
        f'"{escape(value)}":"{escape(help)}"' if help else f'"{escape(value)}"'
        for value, help in offered
    )
    return f"_arguments '*: :(({items}))'"


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
