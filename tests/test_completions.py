"""Completion through the program itself: the committed scripts are the program's, and a TAB is
answered from the live command tree and the ledger (job ids with their prompts, @N, settings,
models), in-process through the protocol and in real bash, zsh and fish."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imagine.cli.completion import FILES, script
from tests.helpers import Cli, failed_renders, read_jobs

COMPLETIONS = Path(__file__).resolve().parents[1] / "completions"
BIN = str(Path(sys.executable).parent)  # where the `imagine` the scripts call is installed


@pytest.mark.parametrize("shell", sorted(FILES))
def test_committed_scripts_are_up_to_date(shell: str) -> None:
    committed = (COMPLETIONS / FILES[shell]).read_text()
    assert committed == script(shell), (
        f"completions/{FILES[shell]} is stale: run `python -m imagine.cli.completion completions`"
    )


@pytest.mark.parametrize("shell", sorted(FILES))
def test_completion_command_prints_the_script(cli: Cli, shell: str) -> None:
    result = cli.run("completion", shell)
    assert result.exit_code == 0
    assert result.stdout == script(shell)
    assert "_IMAGINE_COMPLETE=complete_" in result.stdout


def _bash(cli: Cli, *words: str) -> list[str]:
    """What `imagine` answers bash (Click's COMP_WORDS/COMP_CWORD protocol), in-process."""
    env = {
        "_IMAGINE_COMPLETE": "complete_bash",
        "COMP_WORDS": " ".join(["imagine", *words]),
        "COMP_CWORD": str(len(words)),
    }
    result = cli.run(env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def _described(cli: Cli, shell: str, line: str) -> str:
    """The zsh or fish answer (values with descriptions) for a command line being typed."""
    env = {
        "_IMAGINE_COMPLETE": f"complete_{shell}",
        "_TYPER_COMPLETE_ARGS": line,
        "_TYPER_COMPLETE_FISH_ACTION": "get-args",
    }
    result = cli.run(env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_commands_options_and_closed_values(cli: Cli) -> None:
    assert "gen" in _bash(cli, "g")
    assert _bash(cli, "config", "s") == ["set"]
    assert {"--no-audio", "--no-wait"} <= set(_bash(cli, "gen", "--no"))
    assert _bash(cli, "gen", "--resolution", "") == ["480p", "720p", "1080p"]
    assert _bash(cli, "gen", "--model", "") == ["grok-imagine-video", "grok-imagine-video-1.5"]
    assert _bash(cli, "completion", "") == ["bash", "zsh", "fish"]
    assert _bash(cli, "list", "--status", "un") == ["unknown"]
    assert _bash(cli, "list", "--review", "") == ["approved", "rejected", "pending"]
    assert _bash(cli, "batch", "f.txt", "--format", "") == ["txt", "jsonl", "csv"]
    assert _bash(cli, "gen", "fox", "-d", "1") == ["1", "10", "11", "12", "13", "14", "15"]
    assert _bash(cli, "extend", "@1", "--duration", "") == [str(s) for s in range(1, 16)]


def test_config_set_offers_setting_names_then_their_values(cli: Cli) -> None:
    names = _bash(cli, "config", "set", "")
    assert {"model", "resolution", "concurrency", "max_cost_usd"} <= set(names)
    assert _bash(cli, "config", "set", "res") == ["resolution"]
    assert _bash(cli, "config", "set", "resolution", "") == ["480p", "720p", "1080p"]
    assert _bash(cli, "config", "set", "audio", "") == ["true", "false"]
    assert "concurrency\trenders in flight at once" in _described(
        cli, "fish", "imagine config set "
    )


def test_jobs_are_offered_with_their_prompts(cli: Cli, sim: Any, imagine_home: Path) -> None:
    assert _bash(cli, "show", "") == ["@last"]  # no ledger yet: nothing else, and none created
    assert not (imagine_home / "ledger.sqlite3").exists()
    assert cli.gen(sim, "a red fox running through snow", "-d", "1").exit_code == 0
    assert cli.gen(sim, "a lantern over water", "-d", "1").exit_code == 0
    first, second = (row["id"] for row in read_jobs(imagine_home))

    assert _bash(cli, "show", "") == ["@last", second, first]  # newest first
    assert _bash(cli, "show", first[:-3]) == [first]
    assert _bash(cli, "show", "@") == ["@last", "@2", "@1"]
    assert _bash(cli, "show", "@1") == ["@1"]
    assert _bash(cli, "wait", first, "@") == ["@last"]  # both finished: nothing left to wait for
    zsh = _described(cli, "zsh", "imagine show ")
    assert f'"{second}":"#2 a lantern over water"' in zsh
    fish = _described(cli, "fish", "imagine rm @")
    assert "@1\t#1 a red fox running through snow" in fish.splitlines()


def test_retry_offers_only_jobs_it_can_retry(cli: Cli, sim: Any, imagine_home: Path) -> None:
    assert cli.gen(sim, "a finished render", "-d", "1").exit_code == 0
    failed_renders(cli, sim, "a failed render")
    done, failed = (row["id"] for row in read_jobs(imagine_home))
    assert _bash(cli, "retry", "") == ["@last", failed]
    assert _bash(cli, "rm", "") == ["@last", failed, done]


def _real_shell(program: list[str], home: Path) -> str:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "IMAGINE_HOME": str(home),
    }
    done = subprocess.run(program, capture_output=True, text=True, check=True, env=env)
    return done.stdout


@pytest.fixture
def one_job(cli: Cli, sim: Any, imagine_home: Path) -> str:
    assert cli.gen(sim, "a red fox running through snow", "-d", "1").exit_code == 0
    job_id: str = read_jobs(imagine_home)[0]["id"]
    return job_id


def test_bash_completes_a_job_id(one_job: str, imagine_home: Path) -> None:
    program = (
        f"source {COMPLETIONS / FILES['bash']}; COMP_WORDS=(imagine show {one_job[:6]}); "
        "COMP_CWORD=2; _imagine_completion imagine; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    assert _real_shell(["bash", "-c", program], imagine_home).split() == [one_job]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completes_a_job_with_its_prompt(one_job: str, imagine_home: Path) -> None:
    # compdef and _arguments belong to zsh's completion system: stand-ins print what they get.
    program = (
        'compdef() { :; }; _arguments() { print -r -- "$@"; }; '
        f"source {COMPLETIONS / FILES['zsh']}; words=(imagine show ''); CURRENT=3; "
        "_imagine_completion"
    )
    shown = _real_shell(["zsh", "-c", program], imagine_home)
    assert f'"{one_job}":"#1 a red fox running through snow"' in shown


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_a_job_with_its_prompt(one_job: str, imagine_home: Path) -> None:
    program = f"source {COMPLETIONS / FILES['fish']}; complete -C 'imagine show @'"
    shown = _real_shell(["fish", "-c", program], imagine_home).splitlines()
    assert "@1\t#1 a red fox running through snow" in shown


# -- the quick path: a job reference answered before Typer is imported --------------------------

PROMPTS = [
    "a red fox running through snow",
    "quotes \"double\" and 'single', $HOME and `ticks`",
    "accents: café, naïve, 東京 at night and a very long prompt that goes on past sixty characters",
    "a colon: here, and time 12:30",
    None,
]
# Typer renders Rich markup and :emoji: codes in descriptions: the quick path leaves those to it.
MARKUP = ["rich markup [bold]here[/bold]", "an emoji code :smile: inside"]


@pytest.fixture
def mixed_ledger(imagine_home: Path) -> list[str]:
    """Jobs in every status a completer filters on, with prompts that need escaping."""
    from imagine.ledger.store import Ledger
    from imagine.lifecycle import EventKind, Status
    from tests.helpers import job_values

    made = []
    with Ledger.open(imagine_home / "ledger.sqlite3") as ledger:
        for n, prompt in enumerate(PROMPTS * 2):
            status = Status.COMPLETE if n % 3 == 0 else Status.QUEUED
            job = ledger.insert(job_values(prompt=prompt, status=status))
            if n % 3 == 1:  # queued -> submitting -> failed or unknown
                moving = ledger.move(job, EventKind.SUBMITTING, status=Status.SUBMITTING)
                assert moving is not None
                lost = n % 2 == 1
                ledger.move(
                    moving,
                    EventKind.ANSWER_LOST if lost else EventKind.REFUSED,
                    status=Status.UNKNOWN if lost else Status.FAILED,
                )
            made.append(job.id)
    return made


def _environments(shell: str, words: list[str]) -> list[dict[str, str]]:
    line = " ".join(["imagine", *words])
    if shell == "bash":
        return [
            {
                "_IMAGINE_COMPLETE": "complete_bash",
                "COMP_WORDS": line if words[-1] else line + " ",
                "COMP_CWORD": str(len(words)),
            }
        ]
    env = {"_IMAGINE_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": line}
    if shell == "zsh":
        return [env]
    return [{**env, "_TYPER_COMPLETE_FISH_ACTION": action} for action in ("get-args", "is-args")]


def _quick(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Any:
    from imagine.cli import quick

    with monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        try:
            answered = quick.answer()
            code = 0
        except SystemExit as exit:
            answered, code = True, exit.code
    out = capsys.readouterr().out
    return (out, code) if answered else None


@pytest.mark.parametrize("shell", sorted(FILES))
def test_the_quick_answer_is_typers_answer_to_the_letter(
    shell: str, mixed_ledger: list[str], cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from imagine.cli.commands import COMMANDS
    from imagine.cli.complete_words import JOB_COMMANDS

    answered = 0
    for typed in ["", "g", "re", "st", "zz", "9"]:  # command names
        for env in _environments(shell, [typed]):
            quick = _quick(env, monkeypatch, capsys)
            assert quick is not None, typed
            typer_answer = cli.run(env=env)
            assert quick == (typer_answer.stdout, typer_answer.exit_code), typed
            if env.get("_TYPER_COMPLETE_FISH_ACTION") == "get-args" and not typed:
                # one line per command: a description wrapped by Rich would break the list
                assert len(quick[0].splitlines()) == len(COMMANDS)
    for command in JOB_COMMANDS:
        for typed in ["", "@", "@1", "@12", "@x", mixed_ledger[4][:5], mixed_ledger[0], "zz"]:
            for words in ([command, typed], [command, mixed_ledger[1], typed]):
                for env in _environments(shell, words):
                    quick = _quick(env, monkeypatch, capsys)
                    if quick is None:
                        continue
                    answered += 1
                    typer_answer = cli.run(env=env)
                    assert quick == (typer_answer.stdout, typer_answer.exit_code), (command, words)
    assert answered >= 40  # the quick path answered most of them (markup is left to Typer)


@pytest.mark.parametrize("prompt", MARKUP)
def test_markup_and_options_are_left_to_typer(
    prompt: str,
    mixed_ledger: list[str],
    imagine_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    from imagine.ledger.store import Ledger
    from tests.helpers import job_values

    zsh = {"_IMAGINE_COMPLETE": "complete_zsh"}
    assert _quick({**zsh, "_TYPER_COMPLETE_ARGS": "imagine show "}, monkeypatch, capsys)
    with Ledger.open(imagine_home / "ledger.sqlite3") as ledger:
        ledger.insert(job_values(prompt=prompt))
    assert _quick({**zsh, "_TYPER_COMPLETE_ARGS": "imagine show "}, monkeypatch, capsys) is None
    assert _quick({**zsh, "_TYPER_COMPLETE_ARGS": "imagine show @3"}, monkeypatch, capsys)
    for line in (
        "imagine wait --timeout 5 ",
        "imagine show -",
        "imagine config set --project ",
        "imagine config _",
        "imagine gen --model=",
        "imagine gen -- --model ",
        "imagine gen --template ",
        "imagine --",
    ):
        assert _quick({**zsh, "_TYPER_COMPLETE_ARGS": line}, monkeypatch, capsys) is None, line


def test_every_command_that_completes_jobs_has_the_quick_path(
    cli: Cli, mixed_ledger: list[str]
) -> None:
    """A new command taking job references must join JOB_COMMANDS, or its TAB is slow."""
    from imagine.cli.commands import COMMANDS
    from imagine.cli.complete_words import JOB_COMMANDS

    offering = {command for command in COMMANDS if "@last" in _bash(cli, command, "")}
    assert offering == set(JOB_COMMANDS)


def test_the_statuses_each_command_is_offered_are_the_lifecycles() -> None:
    from imagine.cli import complete_words as words
    from imagine.lifecycle import FINAL, LIVE, UNSUCCESSFUL, Status

    assert {*LIVE, Status.UNKNOWN} == words.UNFINISHED
    assert {*UNSUCCESSFUL, Status.CANCELED, Status.UNKNOWN} == words.RETRYABLE
    assert {*FINAL, Status.UNKNOWN} == words.REMOVABLE


# What a TAB on a job reference must not import: each costs it milliseconds (pathlib and
# urllib.parse 10 ms, platformdirs 18, typing 7, tomllib 30, Typer and pydantic 100 and more).
NOT_ON_A_TAB = (
    "typer",
    "imagine.ledger.store",
    "imagine.lifecycle",
    "imagine.errors",
    "pathlib",
    "platformdirs",
    "typing",
    "tomllib",
    "urllib.parse",
)


@pytest.mark.parametrize("where", ["IMAGINE_HOME", "XDG_DATA_HOME", "HOME", "IMAGINE_LEDGER"])
def test_a_tab_on_a_job_reference_imports_only_what_it_reads(
    where: str, one_job: str, imagine_home: Path, tmp_path: Path
) -> None:
    """Wherever the ledger is found (IMAGINE_HOME, platformdirs' XDG folder, under the home
    folder, or IMAGINE_LEDGER naming a file whose path holds what a file: URI escapes), the
    quick path finds it with os.path alone and reads it with sqlite3 alone."""
    program = (
        "import sys\nfrom imagine.cli import main\nmain()\n"
        f"print(*(name in sys.modules for name in {NOT_ON_A_TAB!r}))"
    )
    env = {
        **os.environ,
        "_IMAGINE_COMPLETE": "complete_bash",
        "COMP_WORDS": f"imagine show {one_job[:6]}",
        "COMP_CWORD": "2",
    }
    if where == "IMAGINE_LEDGER":  # SQLite opens it read-only by a URI, where ?, # and % mean
        odd = tmp_path / "a ?odd# 100%/folder"  # something
        odd.mkdir(parents=True)
        shutil.copy(imagine_home / "ledger.sqlite3", odd / "ledger.sqlite3")
        env["IMAGINE_LEDGER"] = str(odd / "ledger.sqlite3")
    elif where != "IMAGINE_HOME":  # the same ledger, found where platformdirs puts it
        del env["IMAGINE_HOME"]
        env.pop("XDG_DATA_HOME", None)
        env.pop("XDG_CONFIG_HOME", None)
        env["HOME"] = str(tmp_path / "user")
        data = tmp_path / "xdg" if where == "XDG_DATA_HOME" else tmp_path / "user/.local/share"
        if where == "XDG_DATA_HOME":
            env["XDG_DATA_HOME"] = str(data)
        (data / "imagine").mkdir(parents=True)
        shutil.copy(imagine_home / "ledger.sqlite3", data / "imagine/ledger.sqlite3")
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split() == [one_job, *["False"] * len(NOT_ON_A_TAB)]


# -- the quick path for fixed lists: option values, setting names and values ---------------------


def test_the_table_of_fixed_answers_is_typers_answer_now() -> None:
    """cli/complete_table.py is made from Typer's own answers: a new option or setting with a
    fixed list of values makes this fail until the table is written again."""
    from imagine.cli import complete_table
    from imagine.cli.completion import table

    found = table()
    assert found == {name: getattr(complete_table, name) for name in found}, (
        "src/imagine/cli/complete_table.py is stale: run `python -m imagine.cli.completion completions`"
    )


def test_the_table_holds_every_setting_and_its_values_as_config_py_defines_them() -> None:
    from imagine.api import contract
    from imagine.cli.complete_table import ARGUMENTS, OPTIONS
    from imagine.config import BUDGET_SETTINGS, SETTINGS
    from imagine.lifecycle import Status

    defined = {key: setting.help for key, setting in {**SETTINGS, **BUDGET_SETTINGS}.items()}
    for command in ("config get", "config set", "config unset"):
        assert dict(ARGUMENTS[command][0]) == defined
    by_key = {
        key: [value for value, _ in items] for key, items in ARGUMENTS["config set"][1].items()
    }
    resolutions, durations = list(contract.RESOLUTIONS), [str(s) for s in range(1, 16)]
    assert by_key == {
        "model": list(contract.MODELS),
        "aspect": list(contract.ASPECT_RATIOS),
        "resolution": resolutions,
        "preview_resolution": resolutions,
        "max_resolution": resolutions,
        "duration": durations,
        "preview_duration": durations,
        "audio": ["true", "false"],
        "allow_edits": ["true", "false"],
        "allow_uploads": ["true", "false"],
        "require_consent_for_edits": ["true", "false"],
        "policy": ["standard", "strict"],
    }
    assert [value for value, _ in OPTIONS["gen"]["--model"]] == list(contract.MODELS)
    assert [value for value, _ in OPTIONS["list"]["--status"]] == [s.value for s in Status]


def _fixed_cases() -> list[list[str]]:
    """The words of every TAB the table answers: a group's commands, each option with a fixed
    list and each argument, typed as nothing, as the start of a value, as a whole value, and as nothing any
    value starts with."""
    from imagine.cli.complete_table import ARGUMENTS, OPTIONS, SUBCOMMANDS

    def typed(items: Any) -> list[str]:
        first = items[0][0] if items else "x"
        return ["", first[:1], first, first.upper()[:2], "zz"]

    cases = [[group, word] for group, items in SUBCOMMANDS.items() for word in typed(items)]
    for path, options in OPTIONS.items():
        for option, items in options.items():
            cases += [[*path.split(), option, word] for word in typed(items)]
    for path, entries in ARGUMENTS.items():
        for n, entry in enumerate(entries):
            if isinstance(entry, dict):
                for first, items in [*entry.items(), ("concurrency", ()), ("durration", ())]:
                    cases += [[*path.split(), first, word] for word in typed(items)]
            elif entry is not None:
                cases += [[*path.split(), *["x"] * n, word] for word in typed(entry)]
    cases.append(["gen", "'a prompt, quoted'", "-d", "4", "--resolution", ""])
    cases.append(["list", "--status", "failed", "--status", "un"])
    return cases


@pytest.mark.parametrize("shell", sorted(FILES))
def test_fixed_lists_are_answered_quickly_exactly_as_typer_answers(
    shell: str, cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    cases = _fixed_cases()
    assert len(cases) > 100
    for words in cases:
        for env in _environments(shell, words):
            quick = _quick(env, monkeypatch, capsys)
            assert quick is not None, words  # answered without Typer
            typer_answer = cli.run(env=env)
            assert quick == (typer_answer.stdout, typer_answer.exit_code), words


def test_a_setting_is_described_in_full(cli: Cli) -> None:
    """Typer renders descriptions as Rich markup: `[default: local]` vanished from the list."""
    fish = _described(cli, "fish", "imagine config set budget.t")
    assert fish == "budget.timezone\ttime zone of budget days (default: local)\n"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["config", "set", "res"], ["resolution"]),
        (["config", "set", "resolution", ""], ["480p", "720p", "1080p"]),
        (["gen", "--model", ""], ["grok-imagine-video", "grok-imagine-video-1.5"]),
        (["stats", "--by", "m"], ["model", "mode"]),
        (["usage", "--by", "m"], ["model"]),
        (["config", "set", "max_resolution", ""], ["480p", "720p", "1080p"]),
        (["batch", "f.txt", "--policy", ""], ["standard", "strict"]),
        (["list", "--review", "r"], ["rejected"]),
        (["batch", "f.txt", "--format", "j"], ["jsonl"]),
        (["promote", "@1", "-d", "1"], ["1", "10", "11", "12", "13", "14", "15"]),
    ],
)
def test_a_tab_on_a_fixed_list_imports_neither_typer_nor_config(
    words: list[str], expected: list[str], imagine_home: Path
) -> None:
    program = (
        "import sys\nfrom imagine.cli import main\nmain()\n"
        "print(*(name in sys.modules for name in ('typer', 'imagine.config', 'imagine.api')))"
    )
    env = {
        **os.environ,
        "IMAGINE_HOME": str(imagine_home),
        "_IMAGINE_COMPLETE": "complete_bash",
        "COMP_WORDS": " ".join(["imagine", *words]),
        "COMP_CWORD": str(len(words)),
    }
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split() == [*expected, "False", "False", "False"]


def test_bash_completes_settings_and_option_values(imagine_home: Path) -> None:
    source = f"source {COMPLETIONS / FILES['bash']}"

    def tab(*words: str) -> list[str]:
        quoted = " ".join(f"'{word}'" for word in words)
        program = (
            f"{source}; COMP_WORDS=(imagine {quoted}); COMP_CWORD={len(words)}; "
            "_imagine_completion imagine; printf '%s\\n' \"${COMPREPLY[@]}\""
        )
        return _real_shell(["bash", "-c", program], imagine_home).split()

    assert tab("config", "set", "max_") == ["max_cost_usd", "max_download_mb", "max_resolution"]
    assert tab("config", "set", "audio", "") == ["true", "false"]
    assert tab("gen", "fox", "-r", "7") == ["720p"]
    assert tab("list", "--review", "") == ["approved", "rejected", "pending"]
    assert tab("batch", "shots.csv", "--format", "c") == ["csv"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completes_settings_with_descriptions_and_option_values(imagine_home: Path) -> None:
    program = (
        'compdef() { :; }; _arguments() { print -r -- "$@"; }; '
        f"source {COMPLETIONS / FILES['zsh']}; words=(imagine config set st); CURRENT=4; "
        "_imagine_completion"
    )
    shown = _real_shell(["zsh", "-c", program], imagine_home)
    assert '"storage":"shared bucket for finished renders, s3\\\\://bucket/prefix"' in shown
    program = program.replace(
        "words=(imagine config set st); CURRENT=4", "words=(imagine list --review ''); CURRENT=4"
    )
    shown = _real_shell(["zsh", "-c", program], imagine_home)
    assert shown.strip() == '*: :(("approved" "rejected" "pending"))'


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_option_values_and_setting_values(imagine_home: Path) -> None:
    source = f"source {COMPLETIONS / FILES['fish']}"
    shown = _real_shell(
        [
            "fish",
            "-c",
            f"{source}; complete -C 'imagine gen --model '; complete -C "
            "'imagine config set aspect 16'; complete -C 'imagine list --review p'; "
            "complete -C 'imagine batch shots.txt --format j'",
        ],
        imagine_home,
    ).splitlines()
    assert shown == ["grok-imagine-video", "grok-imagine-video-1.5", "16:9", "pending", "jsonl"]


# -- the ledger's part of a TAB: only the rows it shows ------------------------------------------


@pytest.fixture(scope="module")
def big_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4,000 jobs a second apart: 90% complete, then failed and unknown ones among them."""
    from imagine import ids
    from imagine.ledger.store import Ledger
    from tests.helpers import job_values

    path = tmp_path_factory.mktemp("big") / "ledger.sqlite3"
    with Ledger.open(path) as ledger, ledger.transaction() as conn:
        for n in range(4000):
            ledger.insert(job_values(id=ids.new_id(1.7e9 + n), prompt=f"scene {n}"))
        conn.execute("UPDATE jobs SET status = 'complete'")
        conn.execute("UPDATE jobs SET status = 'failed' WHERE seq % 20 = 3")
        conn.execute("UPDATE jobs SET status = 'unknown' WHERE seq % 50 = 7")
    return path


def test_a_tab_reads_only_the_jobs_it_offers(big_ledger: Path) -> None:
    """Whatever is typed (nothing, an id prefix shared by many or few jobs, @N) and whichever
    jobs the command acts on, the query reads about as many rows as it offers: SQLite's
    virtual machine runs a bounded number of steps, where walking a status's index from the
    newest job (rm @12, rm on an old prefix) took hundreds of thousands. The answer is the
    newest jobs the reference can become, as a scan of every job finds them."""
    import sqlite3

    from imagine.cli.complete_words import statuses
    from imagine.ledger.choices import job_choices

    conn = sqlite3.connect(f"file:{big_ledger}?mode=ro", uri=True)
    jobs = conn.execute("SELECT seq, id, prompt, status FROM jobs ORDER BY seq").fetchall()
    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(step, 100)  # called every 100 instructions
    old, late = jobs[500][1], jobs[3990][1]
    for typed in ["", "@", "@12", "@3", old[:6], old[:8], old[:9], late[:9], old, "zz"]:
        for command in ("show", "rm", "retry", "wait"):
            wanted = statuses(command)
            steps = 0
            found = job_choices(conn, typed, sorted(wanted or ()) or None, 30)
            assert steps < 100, (command, typed, steps)  # 49 at most now; 340 and more before

            def fits(
                seq: int,
                job_id: str,
                status: str,
                typed: str = typed,
                wanted: frozenset[str] | None = wanted,
            ) -> bool:
                if wanted is not None and status not in wanted:
                    return False
                if typed.startswith("@"):
                    return str(seq).startswith(typed[1:])
                return job_id.startswith(typed)

            newest = [row[:3] for row in reversed(jobs) if fits(row[0], row[1], row[3])][:30]
            by_id = typed and not typed.startswith("@")
            expected = sorted(newest, key=lambda row: row[1] if by_id else row[0], reverse=True)
            assert found == expected, (command, typed)


def test_the_ledger_offers_the_same_jobs_on_both_backends(
    each_ledger: str, imagine_home: Path
) -> None:
    """The narrow and broad id prefixes, @N by spans and the status filters, through
    Ledger.job_choices on SQLite and PostgreSQL (which Typer's completion asks)."""
    from imagine import ids, paths
    from imagine.ledger.choices import NARROW
    from imagine.ledger.store import Ledger
    from tests.helpers import job_values

    count = NARROW + 100
    with Ledger.open(paths.ledger_file()) as ledger:
        with ledger.transaction() as conn:
            for n in range(count):
                ledger.insert(job_values(id=ids.new_id(1.7e9 + n), prompt=f"scene {n}"))
            conn.execute("UPDATE jobs SET status = 'failed' WHERE seq % ? = ?", (7, 3))
        jobs = [(job.seq, job.id, job.status) for job in ledger.jobs(limit=count)]
        newest = jobs[0][1]
        shared = next(  # the longest prefix every id shares: a broad one
            newest[:k]
            for k in range(10, 0, -1)
            if all(j.startswith(newest[:k]) for _, j, _ in jobs)
        )
        for typed, statuses in [
            (newest[:12], {"queued"}),
            (newest[:12], {"failed"}),
            (shared, {"failed"}),
            (shared, None),
            ("@12", {"failed", "queued"}),
            ("@3", {"queued"}),
        ]:
            found = ledger.job_choices(typed, statuses, 30)

            def fits(seq: int, job_id: str, status: str, typed: str = typed) -> bool:
                if typed.startswith("@"):
                    return str(seq).startswith(typed[1:])
                return job_id.startswith(typed)

            wanted = [
                (seq, job_id)
                for seq, job_id, status in jobs
                if fits(seq, job_id, status) and (statuses is None or status in statuses)
            ][:30]
            by_id = not typed.startswith("@")
            expected = sorted(wanted, key=lambda row: row[1] if by_id else row[0], reverse=True)
            assert [(seq, job_id) for seq, job_id, _ in found] == expected, (each_ledger, typed)
