"""Questions the tool asks on a terminal: never in the simulator, and Ctrl-C/EOF is exit 130."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagine.cli import output
from tests.helpers import Cli, read_jobs, sim_stats


def _no_exception(result: Any) -> bool:
    return result.exception is None or isinstance(result.exception, SystemExit)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch, cli: Cli) -> None:
    """stdin is a terminal, and anything over a cent is worth asking about."""
    monkeypatch.setattr(output, "stdin_is_terminal", lambda: True)
    assert cli.run("config", "set", "confirm_above_usd", "0.01").exit_code == 0


def test_the_simulator_never_asks_to_pay_but_says_what_it_would_cost(
    cli: Cli, project: Path, terminal: None, imagine_home: Path
) -> None:
    result = cli.run("gen", "--sim", "a tiny robot waving", "-d", "1", input="")
    assert _no_exception(result)
    assert result.exit_code == 0, result.stderr
    assert "Render?" not in result.stderr
    assert "would cost about $0.05; nothing is paid" in result.stderr
    assert [row["status"] for row in read_jobs(imagine_home)] == ["complete"]


def test_end_of_input_at_the_cost_question_is_an_interruption_and_sends_nothing(
    cli: Cli, sim: Any, project: Path, terminal: None, imagine_home: Path
) -> None:
    result = cli.run(
        "gen", "a red fox", "-d", "1", "--base-url", sim.url,
        env={"XAI_API_KEY": sim.api_key}, input="",
    )  # fmt: skip
    assert _no_exception(result)
    assert "Render?" in result.stderr
    assert result.exit_code == 130
    assert "interrupted" in result.stderr and "Aborted" not in result.stderr
    assert sim_stats(sim)["submissions"] == 0 and read_jobs(imagine_home) == []


def test_end_of_input_at_the_consent_question_is_an_interruption(
    cli: Cli, sim: Any, project: Path, terminal: None
) -> None:
    assert cli.gen(sim, "a red fox", "-d", "1", "-y").exit_code == 0
    result = cli.run(
        "edit", "@1", "make it snow", "-y", "--base-url", sim.url,
        env={"XAI_API_KEY": sim.api_key}, input="",
    )  # fmt: skip
    assert _no_exception(result)
    assert result.exit_code == 130
    assert sim_stats(sim)["submissions"] == 1


def test_costs_are_always_in_cents_with_more_digits_only_below_a_cent() -> None:
    from imagine.money.pricing import format_usd

    assert [format_usd(v) for v in (0.05, 0.1, 2, 0.3, 0, 0.005, 12.345)] == [
        "$0.05", "$0.10", "$2.00", "$0.30", "$0.00", "$0.005", "$12.35",
    ]  # fmt: skip


def test_gen_dash_reads_the_prompt_from_stdin(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    result = cli.run(
        "gen", "-", "-d", "1", "--base-url", sim.url,
        env={"XAI_API_KEY": sim.api_key}, input="a heron at dawn\n",
    )  # fmt: skip
    assert _no_exception(result)
    assert result.exit_code == 0, result.stderr
    assert [row["prompt"] for row in read_jobs(imagine_home)] == ["a heron at dawn"]


def test_gen_dash_with_nothing_on_stdin_is_a_usage_error(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    result = cli.run("gen", "-", "--base-url", sim.url, env={"XAI_API_KEY": sim.api_key}, input="")
    assert _no_exception(result)
    assert result.exit_code == 2
    assert "no prompt on stdin" in result.stderr
    assert sim_stats(sim)["submissions"] == 0 and read_jobs(imagine_home) == []
