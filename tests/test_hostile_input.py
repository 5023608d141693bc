"""Hostile input through the real entry point: batch lines, settings, job references and base
URLs that once crashed the tool. Each ends in one line and exit 2, with nothing sent."""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.helpers import Cli, read_jobs, sim_stats

# Every example runs the whole CLI in-process; the fixtures (a home, a project) are shared by the
# examples of one test, which is what these properties want: nothing any example does may crash.
PROPERTY = settings(
    max_examples=int(os.environ.get("IMAGINE_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HUGE = "9" * 5000
DEEP = "[" * 100_000 + "]" * 100_000


def _own_exit(result: Any) -> bool:
    """The CLI ended on purpose: no exception escaped but its own exit."""
    return result.exception is None or isinstance(result.exception, SystemExit)


# --- job references -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["show", "wait", "cancel", "rm", "retry"])
def test_a_job_number_too_big_for_any_job_is_no_job(cli: Cli, command: str) -> None:
    assert cli.run("gen", "--sim", "a fox", "-d", "1", "--no-wait").exit_code == 0
    result = cli.run(command, "@" + "9" * 40)
    assert result.exit_code == 2 and _own_exit(result)
    assert f"no job @{'9' * 40}" in result.stderr
    assert result.stderr.count("\n") == 1


@PROPERTY
@given(ref=st.one_of(st.text(max_size=60), st.from_regex(r"@[0-9]{1,6000}", fullmatch=True)))
@example(ref="@" + "9" * 40)
@example(ref="@" + "9" * 5000)
def test_any_job_reference_is_found_or_refused_in_one_line(cli: Cli, ref: str) -> None:
    result = cli.run("show", "--", ref)
    assert _own_exit(result), result.exception
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1


# --- batch lines ----------------------------------------------------------------------------------


def test_hostile_batch_lines_are_bad_lines_and_the_good_ones_go_ahead(
    cli: Cli, sim: Any, project: Path
) -> None:
    path = project / "jobs.jsonl"
    path.write_text(
        "\n".join(
            [
                '{"prompt": "a good one"}',
                '{"prompt": ' + DEEP + "}",
                '{"prompt": "huge", "duration": ' + HUGE + "}",
                '{"prompt": "huge text", "duration": "' + HUGE + '"}',
                '{"prompt": "takes", "n": "' + HUGE + '"}',
                '{"prompt": "half a character \\ud800"}',
                '{"prompt": "infinite", "duration": 1e999}',
            ]
        )
        + "\n"
    )
    result = cli.run(
        "batch", str(path), "--base-url", sim.url, "-d", "1", env={"XAI_API_KEY": sim.api_key}
    )
    assert result.exit_code == 2 and _own_exit(result), result.exception
    for line, text in (
        (2, "values nested too deep"),
        (3, "a number with thousands of digits"),
        (4, "expected a whole number"),
        (5, "n must be a whole number from 1 to 16"),
        (6, "holds a lone surrogate"),
        (7, "expected a whole number"),
    ):
        assert f"jobs.jsonl:{line}: {text}" in result.stderr.replace("duration: ", "")
    assert len(result.stderr) < 3000  # a 5,000-digit value is not echoed back
    assert sim_stats(sim)["submissions"] == 1


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_FIELDS = st.sampled_from(
    [
        "prompt",
        "duration",
        "aspect",
        "resolution",
        "model",
        "n",
        "audio",
        "mode",
        "output",
        "video",
        "image",
        "refs",
        "consent",
        "no_audio",
        "durration",
        "Prompt",
    ]
)


@PROPERTY
@given(
    line=st.one_of(
        st.dictionaries(_FIELDS | st.text(max_size=10), _VALUES, max_size=5).map(json.dumps),
        st.text(max_size=80),
    )
)
@example(line='{"prompt": ' + DEEP + "}")
@example(line='{"prompt": "x", "duration": ' + HUGE + "}")
def test_any_batch_line_is_a_job_or_a_bad_line(cli: Cli, project: Path, line: str) -> None:
    for fmt, text in (
        ("jsonl", line.replace("\n", " ")),
        ("txt", line.replace("\n", " ")),
        ("csv", "prompt,duration,aspect,n,output\n" + line),
    ):
        path = project / f"jobs.{fmt}"
        path.write_text(text + "\n", encoding="utf-8", errors="surrogatepass")
        result = cli.run("batch", str(path), "--dry-run")
        assert _own_exit(result), result.exception
        assert result.exit_code in (0, 2, 5)  # 5: a local policy rule refused a prompt
        if result.exit_code == 2:
            assert f"jobs.{fmt}:" in result.stderr or "not UTF-8" in result.stderr


# --- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "rps = nan",
        "rps = inf",
        "max_cost_usd = nan",
        "confirm_above_usd = -inf",
        "max_cost_usd = inf",
        "[prices.grok-imagine-video]\n480p = nan",
        "[prices]\ngrok-imagine-video = 5",
        "duration = " + HUGE,
        "duration = " + "[" * 5000 + "]" * 5000,
    ],
)
@pytest.mark.parametrize("where", ["user", "project"])
def test_a_setting_that_is_no_finite_number_is_refused_before_anything_is_recorded(
    cli: Cli, project: Path, imagine_home: Path, text: str, where: str
) -> None:
    file = imagine_home / "config.toml" if where == "user" else project / "imagine.toml"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text + "\n")
    result = cli.run("gen", "--sim", "a fox", "-d", "1")
    assert result.exit_code == 2 and _own_exit(result), result.exception
    assert str(file) in result.stderr and result.stderr.count("\n") == 1
    assert read_jobs(imagine_home) == []


@pytest.mark.parametrize("key", ["rps", "max_cost_usd", "confirm_above_usd"])
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_config_set_refuses_nan_and_infinity(cli: Cli, key: str, value: str) -> None:
    result = cli.run("config", "set", key, "--", value)
    assert result.exit_code == 2 and _own_exit(result)
    assert "not a finite number" in result.stderr or "expected" in result.stderr


@pytest.mark.parametrize("option", ["--timeout", "--rps"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_float_options_refuse_nan_and_infinity(
    cli: Cli, project: Path, option: str, value: str
) -> None:
    (project / "p.txt").write_text("a fox\n")
    result = cli.run("batch", "p.txt", "--sim", option, value)
    assert result.exit_code == 2 and _own_exit(result)
    assert option in result.stderr


@pytest.mark.parametrize("where", ["user", "project"])
def test_a_config_file_that_is_not_utf8_is_named(
    cli: Cli, project: Path, imagine_home: Path, where: str
) -> None:
    file = imagine_home / "config.toml" if where == "user" else project / "imagine.toml"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(b'model = "caf\xe9"\n')
    result = cli.run("gen", "--sim", "a fox", "--dry-run")
    assert result.exit_code == 2 and _own_exit(result), result.exception
    assert f"{file} is not UTF-8" in result.stderr


_KEYS = st.sampled_from(
    [
        "rps",
        "max_cost_usd",
        "confirm_above_usd",
        "duration",
        "concurrency",
        "base_url",
        "output",
        "model",
        "aspect",
        "audio",
        "resolution",
        "prices.grok-imagine-video.480p",
    ]
)


@PROPERTY
@given(
    key=_KEYS,
    value=st.one_of(
        st.floats().map(repr),
        st.integers().map(str),
        st.text(max_size=40),
        st.sampled_from(["nan", "-nan", "inf", "+inf", "1e400", "http://127.0.0.1:99999"]),
    ),
)
def test_any_setting_value_is_stored_or_refused_in_one_line(cli: Cli, key: str, value: str) -> None:
    result = cli.run("config", "set", key, "--", value)
    assert _own_exit(result), result.exception
    assert result.exit_code in (0, 2)
    if result.exit_code == 0 and key in ("rps", "max_cost_usd", "confirm_above_usd"):
        shown = cli.run("config", "get", key)
        assert shown.exit_code == 0 and _own_exit(shown), shown.exception
        assert "nan" not in shown.stdout.lower() and "inf" not in shown.stdout.lower()


# --- base URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999",
        "http://127.0.0.1:-1",
        "http://[::1",
        "http://exa mple.com",
        "http://user:secret@api.example",
        "http://127.0.0.1:0",
    ],
)
def test_a_malformed_base_url_is_refused_before_a_job_is_recorded(
    cli: Cli, project: Path, imagine_home: Path, url: str
) -> None:
    for env, args in (({"IMAGINE_BASE_URL": url}, ()), ({}, ("--base-url", url))):
        result = cli.run("gen", "a fox", "-d", "1", "-y", *args, env={"XAI_API_KEY": "k", **env})
        assert result.exit_code == 2 and _own_exit(result), result.exception
        assert "base URL" in result.stderr and "secret" not in result.stderr
    assert read_jobs(imagine_home) == []


# --- output names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "size"),
    [("é" * 200, 400), ("视" * 300, 900), ("x" * 240, 240), ("d" * 300 + "/a", 300)],
)
def test_an_output_name_too_long_in_bytes_is_refused_before_anything_is_sent(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, name: str, size: int
) -> None:
    result = cli.gen(sim, "a fox", "-d", "1", "-o", name)
    assert result.exit_code == 2 and _own_exit(result), result.exception
    assert f"is {size} bytes long" in result.stderr and "at most" in result.stderr
    assert result.stderr.count("\n") == 1
    assert sim_stats(sim)["submissions"] == 0 and read_jobs(imagine_home) == []


def test_a_long_non_ascii_name_that_fits_gets_its_video_sidecar_and_poster(
    cli: Cli, sim: Any, project: Path
) -> None:
    pytest.importorskip("av")
    name = "é" * 113  # 226 bytes: the longest that fits, with room for the sidecar's temp name
    result = cli.gen(sim, "a fox", "-d", "1", "-o", name)
    assert result.exit_code == 0 and _own_exit(result), result.exception
    for suffix in (".mp4", ".json", ".jpg"):
        assert (project / (name + suffix)).is_file()
    again = cli.gen(sim, "a fox", "-d", "1", "-o", name, "--force")  # taken: "-short" is added
    assert again.exit_code == 0 and _own_exit(again), again.exception
    assert len(list(project.glob("*.mp4"))) == 2


def test_an_output_folder_linked_outside_the_project_is_refused(
    cli: Cli, sim: Any, project: Path, tmp_path: Path, imagine_home: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "link").symlink_to(outside)
    result = cli.gen(sim, "a fox", "-d", "1", "-o", "link/{slug}")
    assert result.exit_code == 2 and _own_exit(result), result.exception
    assert "outside the project" in result.stderr and "symbolic link" in result.stderr
    assert list(outside.iterdir()) == []
    assert sim_stats(sim)["submissions"] == 0 and read_jobs(imagine_home) == []
    nested = cli.gen(sim, "a fox", "-d", "1", "-o", "link/deeper/{slug}")
    assert nested.exit_code == 2 and "symbolic link" in nested.stderr


# --- the ledger file ------------------------------------------------------------------------------


def _damaged(good: bytes, how: str) -> bytes:
    noise = random.Random(how).randbytes
    return {
        "truncated": good[:5000],
        "garbage": noise(20_000),
        "text": b"these are my notes, not a ledger\n",
        "header-then-garbage": good[:100] + noise(40_000),
        "garbage-pages": good[:8192] + noise(len(good) - 8192),
    }[how]


@pytest.mark.parametrize(
    "how", ["truncated", "garbage", "text", "header-then-garbage", "garbage-pages"]
)
@pytest.mark.parametrize("command", [("list",), ("show", "@1"), ("gen", "--sim", "a fox")])
def test_a_damaged_ledger_is_named_with_what_to_do_and_left_as_it_was(
    cli: Cli, imagine_home: Path, project: Path, how: str, command: tuple[str, ...]
) -> None:
    assert cli.run("gen", "--sim", "a fox", "-d", "1", "--no-wait").exit_code == 0
    ledger = imagine_home / "ledger.sqlite3"
    for extra in ("-wal", "-shm"):
        ledger.with_name(ledger.name + extra).unlink(missing_ok=True)
    ledger.write_bytes(_damaged(ledger.read_bytes(), how))
    before = ledger.read_bytes()
    result = cli.run(*command)
    assert result.exit_code == 2 and _own_exit(result), result.exception
    assert f"the ledger {ledger} is damaged" in result.stderr
    assert "IMAGINE_LEDGER=" in result.stderr and "move it aside" in result.stderr
    assert result.stderr.count("\n") == 1
    assert ledger.read_bytes() == before


@contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """``path`` made unwritable, even for root (who ignores file modes): an immutable flag."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a file read-only here (root, and no chattr)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_ledger_is_read_and_refuses_new_jobs_in_one_line(
    cli: Cli, imagine_home: Path, project: Path
) -> None:
    assert cli.run("gen", "--sim", "a fox", "-d", "1", "--no-wait").exit_code == 0
    ledger = imagine_home / "ledger.sqlite3"
    before = ledger.read_bytes()
    with _read_only(ledger):
        listed = cli.run("list")
        assert listed.exit_code == 0 and "a fox" in listed.stdout
        result = cli.run("gen", "--sim", "a whale", "-d", "1")
    assert result.exit_code == 2 and _own_exit(result), result.exception
    assert f"the ledger {ledger} is read-only" in result.stderr
    assert "IMAGINE_LEDGER=" in result.stderr and result.stderr.count("\n") == 1
    assert ledger.read_bytes() == before


def test_an_unwritable_data_folder_is_named(cli: Cli, tmp_path: Path, project: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    with _read_only(locked):
        result = cli.run("gen", "--sim", "a fox", env={"IMAGINE_HOME": str(locked / "home")})
    assert result.exit_code == 2 and _own_exit(result), result.exception
    assert f"cannot create the folder of the ledger {locked / 'home'}" in result.stderr
    assert "IMAGINE_LEDGER=" in result.stderr and result.stderr.count("\n") == 1


# --- bad batch lines are said first ---------------------------------------------------------------


@pytest.mark.parametrize("progress", ["plain", "json", "none"])
def test_bad_batch_lines_are_reported_before_anything_is_sent(
    cli: Cli, sim: Any, project: Path, progress: str
) -> None:
    path = project / "jobs.jsonl"
    path.write_text('{"prompt": "a good one"}\n{"prompt": "typo", "durration": 3}\n')
    result = cli.run(
        "batch",
        str(path),
        "--base-url",
        sim.url,
        "-d",
        "1",
        "--progress",
        progress,
        env={"XAI_API_KEY": sim.api_key},
    )
    assert result.exit_code == 2 and _own_exit(result), result.exception
    bad = result.stderr.index("jobs.jsonl:2: unknown field 'durration'")
    if progress != "none":
        assert bad < result.stderr.index("submitted")
    assert result.stderr.count("durration") == 1  # said once, and pointed back to at the end
    assert "skipped (listed above)" in result.stderr.splitlines()[-1]
    assert sim_stats(sim)["submissions"] == 1


def test_a_batch_dry_run_prints_each_line_as_it_is_read(cli: Cli, project: Path) -> None:
    path = project / "jobs.jsonl"
    path.write_text(
        '{"prompt": "first fox"}\n{"prompt": "second fox"}\n'
        '{"prompt": "typo", "durration": 3}\n{"prompt": "fourth fox"}\n'
    )
    result = cli.run("batch", str(path), "--dry-run")
    assert result.exit_code == 2 and _own_exit(result), result.exception
    said = result.output  # stdout and stderr, in the order they were written
    first, bad, fourth = (
        said.index("first fox"),
        said.index("jobs.jsonl:3: unknown field"),
        said.index("fourth fox"),
    )
    assert first < bad < fourth
    assert said.index("dry run: nothing sent") > fourth
    assert [json.loads(line)["prompt"] for line in result.stdout.splitlines()] == [
        "first fox",
        "second fox",
        "fourth fox",
    ]
