"""The displays of a run: plain lines and JSON events asserted exactly from a list of events, the
smooth, never-backwards bar from a table, the live view's widths, and what a person sees when a
host is unreachable or an answer is lost (each thing said once)."""

from __future__ import annotations

import io
import json
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from imagine import clock
from imagine.cli import output
from imagine.cli.display import JsonDisplay, PlainDisplay, fit, summary_line
from imagine.cli.tracking import SMOOTH_CAP, Entry, RunState, Summary, expected_finish, smoothed
from imagine.engine.events import Update
from imagine.errors import sentences
from tests.helpers import Cli

T0 = 1_000_000_000.0  # 2001-09-09T01:46:40Z


class FakeClock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.t = T0
        monkeypatch.setattr(clock, "now", lambda: self.t)


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return FakeClock(monkeypatch)


@pytest.fixture(autouse=True)
def prose_on_stderr() -> None:
    """As a command starts: messages are prose until a `--progress json` says otherwise."""
    output.events_on_stderr(False)


ENTRIES = [
    Entry("a", 1, "a fox in the snow", estimate_usd=0.4, expected=10.0),
    Entry("b", 2, "a city\n  at night", estimate_usd=0.4),
    Entry("c", 3, "a boat", estimate_usd=0.4),
]
COMPLETE = {
    "path": "/work/renders/a-fox.mp4",
    "shown": "renders/a-fox.mp4",
    "bytes": 1_234_567,
    "seconds": 8.0,
    "cost_usd": 0.4,
    "cost_estimated": False,
}
RETRY = "cannot reach http://h. Check --base-url."


def _retry(attempt: int) -> Update:
    message = sentences(RETRY, f"retrying in 0.5s (attempt {attempt})")
    data = {"error": RETRY, "attempt": attempt, "delay": 0.5}
    return Update("", "retry", "", "", message=message, data=data)


# (seconds after T0, event): a run where #1 renders and #2 cannot be sent, and then the engine
# and the client keep talking about #2 after it has said its last word; #3 fails the same way.
EVENTS: list[tuple[float, Update]] = [
    (0.1, Update("a", "submitting", "submitting", "#1", number=1)),
    (0.2, Update("a", "submitted", "running", "#1", progress=0, number=1)),
    (1.2, Update("a", "progress", "running", "#1", progress=10, number=1)),
    (3.2, Update("a", "progress", "running", "#1", progress=30, number=1)),
    (4.2, Update("a", "progress", "running", "#1", progress=40, number=1)),
    (4.5, _retry(2)),
    (5.0, _retry(3)),
    (9.9, Update("a", "rendered", "downloading", "#1", progress=100, number=1)),
    (10.0, Update("a", "downloading", "downloading", "#1", data={"bytes": 10, "total": 99})),
    (10.4, Update("a", "complete", "complete", "#1", progress=100, data=COMPLETE, number=1)),
    (10.5, Update("b", "submitting", "submitting", "#2", number=2)),
    (11.0, Update("b", "failed", "failed", "#2", message=RETRY, number=2)),
    (11.1, Update("b", "stalled", "failed", "#2", message=RETRY, number=2)),
    (11.2, Update("b", "failed", "failed", "#2", message=RETRY, number=2)),
    (11.5, Update("c", "failed", "failed", "#3", message=RETRY, number=3)),
]


def _play(display: Any, fake: FakeClock) -> None:
    for at, update in EVENTS:
        fake.t = T0 + at
        display(update)
    fake.t = T0 + 65.0
    display.close(display.state.summary(fake.t))


def test_plain_display_says_each_event_once_in_one_line(
    fake_clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    _play(PlainDisplay(RunState(ENTRIES, now=T0)), fake_clock)
    assert capsys.readouterr().err.splitlines() == [
        "#1 submitted: a fox in the snow",
        "#1 rendering 30%",
        "cannot reach http://h. Check --base-url. Retrying in 0.5s (attempt 2)",
        "#1 rendered, downloading",
        "✓ #1 renders/a-fox.mp4 · 8.0 s · 1.2 MB · $0.40",
        "✗ #2 failed: cannot reach http://h. Check --base-url.",
        "✗ #3 failed: as #2",
        "3 jobs: 1 complete, 2 failed · spent $0.40 · 1:05",
    ]


def test_json_display_events_carry_version_time_elapsed_and_the_file(
    fake_clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    output.events_on_stderr(True)
    try:
        _play(JsonDisplay(RunState(ENTRIES, now=T0)), fake_clock)
    finally:
        output.events_on_stderr(False)
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]

    def head(kind: str, at: float) -> dict[str, Any]:
        return {"event": kind, "v": 1, "time": clock.iso(T0 + at), "elapsed": at}

    job_a = {"job": "a", "number": 1}
    assert events == [
        {**head("submitting", 0.1), **job_a, "status": "submitting"},
        {**head("submitted", 0.2), **job_a, "status": "running", "progress": 0},
        {**head("progress", 1.2), **job_a, "status": "running", "progress": 10},
        {**head("progress", 3.2), **job_a, "status": "running", "progress": 30},
        {**head("progress", 4.2), **job_a, "status": "running", "progress": 40},
        {
            **head("retry", 4.5),
            "message": f"{RETRY} Retrying in 0.5s (attempt 2)",
            "error": RETRY,
            "attempt": 2,
            "delay": 0.5,
        },
        {
            **head("retry", 5.0),
            "message": f"{RETRY} Retrying in 0.5s (attempt 3)",
            "error": RETRY,
            "attempt": 3,
            "delay": 0.5,
        },
        {**head("rendered", 9.9), **job_a, "status": "downloading", "progress": 100},
        {
            **head("complete", 10.4),
            **job_a,
            "status": "complete",
            "progress": 100,
            "path": "/work/renders/a-fox.mp4",
            "bytes": 1_234_567,
            "seconds": 8.0,
            "cost_usd": 0.4,
            "cost_estimated": False,
        },
        {**head("submitting", 10.5), "job": "b", "number": 2, "status": "submitting"},
        {**head("failed", 11.0), "job": "b", "number": 2, "status": "failed", "message": RETRY},
        {**head("failed", 11.5), "job": "c", "number": 3, "status": "failed", "message": RETRY},
        {
            **head("summary", 65.0),
            "jobs": 3,
            "counts": {"complete": 1, "failed": 2},
            "spent_usd": 0.4,
            "simulated": False,
            "wall_seconds": 65.0,
        },
    ]
    assert datetime.fromisoformat(events[0]["time"]).timestamp() == pytest.approx(T0 + 0.1)


def test_summary_counts_reused_jobs_apart_and_spends_nothing_on_them() -> None:
    entries = [
        Entry("old", 1, "x", estimate_usd=0.4, state="reused", settled=True),
        Entry("had", 4, "w", estimate_usd=0.4, state="complete", settled=True),
        Entry("new", 2, "y", estimate_usd=0.4),
        Entry("cut", 3, "z", estimate_usd=0.4),
    ]
    state = RunState(entries, now=T0)
    state.apply(Update("new", "complete", "complete", "#2", data={"cost_usd": 0.3}), T0 + 5)
    summary = state.summary(T0 + 75)
    assert (summary.counts, summary.spent_usd, summary.wall_seconds) == (
        {"reused": 1, "complete": 2, "unfinished": 1},
        0.3,
        75.0,
    )
    assert summary_line(summary) == (
        "4 jobs: 2 complete, 1 reused, 1 unfinished · spent $0.30 · 1:15"
    )
    assert summary_line(Summary({"failed": 1}, 0.0, 3725)) == "1 job failed · spent $0.00 · 1:02:05"


@pytest.mark.parametrize(
    ("shown", "since", "finish", "now", "expected"),
    [
        (0.0, 0.0, 10.0, 0.0, 0.0),  # just heard: where the provider said
        (0.0, 0.0, 10.0, 5.0, SMOOTH_CAP / 2),  # halfway to the finish: halfway to the cap
        (40.0, 2.0, 12.0, 7.0, 40 + (SMOOTH_CAP - 40) / 2),  # on from the last word
        (40.0, 2.0, 12.0, 30.0, SMOOTH_CAP),  # late: it stops at the cap, never 100
        (40.0, 2.0, None, 30.0, 40.0),  # nothing says when it ends: it waits
        (97.0, 2.0, 12.0, 7.0, 97.0),  # past the cap by the provider's word: kept
        (40.0, 12.0, 10.0, 20.0, 40.0),  # overdue when heard: waits for the next word
    ],
)
def test_a_bar_moves_on_between_polls_along_its_expected_finish(
    shown: float, since: float, finish: float | None, now: float, expected: float
) -> None:
    assert smoothed(shown, since, finish, now) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("reported", "reported_at", "started", "expected", "finish"),
    [
        (50.0, 15.0, 10.0, 20.0, 30.0),  # learned from the ledger: that wins
        (25.0, 15.0, 10.0, None, 30.0),  # else the provider's pace: 25% in 5 s
        (0.0, 15.0, 10.0, None, None),  # no word yet: unknown
    ],
)
def test_expected_finish(
    reported: float, reported_at: float, started: float, expected: float | None, finish: float
) -> None:
    assert expected_finish(reported, reported_at, started, expected) == finish


# (seconds after submission, progress reported or None: only look) → what the bar shows then.
NEVER_BACKWARDS = [
    (0.0, 0.0, 0.0),
    (5.0, None, SMOOTH_CAP / 2),  # no poll for 5 s of 10: the bar has moved anyway
    (5.0, 20.0, SMOOTH_CAP / 2),  # the provider says less than shown: the bar stays
    (7.5, None, SMOOTH_CAP / 2 + (SMOOTH_CAP - SMOOTH_CAP / 2) / 2),  # and goes on from there
    (20.0, None, SMOOTH_CAP),  # overdue: it waits at the cap
    (21.0, 98.0, 98.0),  # the provider's word moves it past
]


def test_a_bar_never_goes_backwards() -> None:
    state = RunState([Entry("a", 1, "x", expected=10.0)], now=T0)
    track = state.tracks["a"]
    state.apply(Update("a", "submitted", "running", "#1", progress=0), T0)
    for at, reported, shown in NEVER_BACKWARDS:
        if reported is not None:
            state.apply(Update("a", "progress", "running", "#1", progress=reported), T0 + at)
        assert state.percent(track, T0 + at) == pytest.approx(shown), at
    state.apply(Update("a", "rendered", "downloading", "#1", progress=100), T0 + 22)
    assert state.percent(track, T0 + 22) == 100.0


def test_overall_progress_money_and_eta_weigh_every_job() -> None:
    """Two slots, four jobs of 10 s: two half done, two queued → 5 s, then 10 s more."""
    entries = [Entry(f"j{n}", n, "x", estimate_usd=0.5, expected=10.0) for n in range(1, 5)]
    state = RunState(entries, concurrency=2, rps=100.0, now=T0)
    for job in ("j1", "j2"):
        state.apply(Update(job, "submitted", "running", "#", progress=0), T0)
    overall = state.overall(T0 + 5)
    assert overall.done == 0 and overall.total == 4
    assert overall.percent == pytest.approx(SMOOTH_CAP / 2 * 2 / 4)
    assert (overall.spent_usd, overall.to_spend_usd) == (0.0, 2.0)
    assert overall.eta == pytest.approx(15.0)
    state.apply(Update("j1", "complete", "complete", "#", data={"cost_usd": 0.4}), T0 + 6)
    overall = state.overall(T0 + 6)
    assert (overall.done, overall.spent_usd, overall.to_spend_usd) == (1, 0.4, 1.5)


@pytest.mark.parametrize(
    ("width", "line"),
    [
        (80, "✓ #3 renders/a-long-name.mp4 · 8.0 s · 1.2 MB · $0.40"),
        (40, "✓ #3 …-name.mp4 · 8.0 s · 1.2 MB · $0.40"),
        (30, "✓ #3 renders/a-long-name.mp4 …"),
    ],
)
def test_a_finished_line_fits_the_terminal(width: int, line: str) -> None:
    assert fit("✓ #3 ", "renders/a-long-name.mp4", " · 8.0 s · 1.2 MB · $0.40", width) == line
    assert len(line) <= width


def _live(entries: list[Entry], width: int, height: int = 40) -> Any:
    from rich.console import Console

    from imagine.cli.live import LiveDisplay

    display = LiveDisplay(RunState(entries, concurrency=4, now=T0))
    display.console = Console(file=io.StringIO(), width=width, height=height, color_system=None)
    return display


def _screen(display: Any) -> list[str]:
    display.console.print(display._render())
    text: str = display.console.file.getvalue()
    return text.splitlines()


def test_live_view_fits_a_narrow_terminal_and_sums_up_the_queue(fake_clock: FakeClock) -> None:
    prompt = "a very long prompt about a lighthouse in a storm with waves crashing all night"
    entries = [Entry(f"j{n}", n, prompt, estimate_usd=0.2, expected=20.0) for n in range(1, 9)]
    display = _live(entries, 60)
    for n in (1, 2, 3):
        display(Update(f"j{n}", "submitted", "running", "", progress=0))
    display(Update("j4", "rendered", "downloading", "", progress=100))
    fake_clock.t = T0 + 10
    lines = _screen(display)
    assert all(len(line) <= 60 for line in lines), lines
    assert lines[0].startswith("0/8 done") and "ETA " in lines[0]
    assert [line.split()[0] for line in lines[1:5]] == ["#1", "#2", "#3", "#4"]
    assert lines[-1].strip() == "+4 queued"
    # The state column has one width whatever it says: the times line up.
    assert len({line.index(" 0:") for line in lines[1:4]}) == 1
    assert "downloading" in lines[4]


def test_live_view_shows_active_jobs_only(fake_clock: FakeClock) -> None:
    """With 200 jobs: the overall line, the four in flight and one line for the queue."""
    display = _live([Entry(f"j{n}", n, f"prompt {n}") for n in range(200)], 120)
    for n in range(200):
        display(Update(f"j{n}", "submitted", "running", "", progress=0))
        if n >= 4:
            display(Update(f"j{n - 4}", "complete", "complete", "", data=COMPLETE))
    display.console.file.truncate(0)
    display.console.file.seek(0)
    lines = _screen(display)
    assert len(lines) == 1 + 4
    assert lines[0].startswith("196/200 done")


# -- end to end ------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _planned(session: Any, prompt: str) -> Any:
    from imagine.spec import Mode, RenderSpec
    from imagine.workflow.plan import Request
    from imagine.workflow.steps import preview, record

    spec = RenderSpec(mode=Mode.TEXT, model="grok-imagine-video", prompt=prompt, duration=1)
    return record(session, preview(session, [Request(spec, "renders/{slug}")]))


def test_an_unreachable_host_says_so_once(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not four retry lines, then `failed`, then `✗ failed`, then `stalled`: one line for the
    retries, the job's last word once, the summary."""
    from imagine.api.client import RetryPolicy
    from imagine.cli.drive import Presentation, drive
    from imagine.errors import ExitCode
    from imagine.session import Session

    monkeypatch.setenv("XAI_API_KEY", "xai-anything-000000000000000000")
    fast = RetryPolicy(attempts=4, initial=0.001, maximum=0.005, max_total=5)
    with Session(base_url=f"http://127.0.0.1:{_closed_port()}", retry=fast) as session:
        planned = _planned(session, "a fox")
        show = Presentation(progress="plain")
        code = drive(session, planned, wait=True, timeout=None, show=show)
    captured = capsys.readouterr()
    assert code == ExitCode.UNREACHABLE and captured.out == ""
    retried, failed, summary = captured.err.splitlines()
    assert (
        retried.startswith("cannot reach ") and " try again. Retrying in 0.0s (attempt " in retried
    )
    assert failed.startswith("✗ #1 failed: cannot reach ") and failed.endswith("try again.")
    assert summary.startswith("1 job failed · spent $0.00 · 0:0")


def test_a_lost_answer_is_explained_once(
    cli: Cli, sim_factory: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = sim_factory(drop_rate=1.0)
    result = cli.gen(sim, "a fox", "-d", "1")
    assert result.exit_code == 4
    (explained,) = [line for line in result.stderr.splitlines() if "imagine retry" in line]
    assert explained.startswith("✗ #1 unknown: the answer was lost after sending: ")
    assert ".;" not in result.stderr and ").;" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("1 job unknown · spent $0.00")


def test_a_json_run_is_parsed_line_by_line(cli: Cli, sim: Any, project: Path) -> None:
    prompts = ["a fox", "a city at night", "please moderate-me now"]
    (project / "p.txt").write_text("\n".join(prompts) + "\n")
    result = cli.run(
        *("batch", "p.txt", "--progress", "json", "-d", "1", "--rps", "20"),
        *("--base-url", sim.url),
        env={"XAI_API_KEY": sim.api_key},
    )
    assert result.exit_code == 1  # the moderated one
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert all(event["v"] == 1 for event in events)
    times = [datetime.fromisoformat(event["time"]) for event in events]
    elapsed = [event["elapsed"] for event in events]
    assert times == sorted(times) and elapsed == sorted(elapsed) and elapsed[0] >= 0
    completes = [event for event in events if event["event"] == "complete"]
    assert len(completes) == 2
    for event in completes:
        path = Path(event["path"])
        assert path.is_absolute() and path.stat().st_size == event["bytes"]
        assert event["seconds"] == pytest.approx(1.0, abs=0.1)
        assert event["cost_usd"] > 0 and event["cost_estimated"] is False
    assert result.stdout.split() == [
        str(Path(event["path"]).relative_to(project)) for event in completes
    ]
    (blocked,) = [event for event in events if event["event"] == "blocked"]
    assert blocked["number"] == 3 and "moderation" in blocked["message"]
    summary = events[-1]
    assert [event["event"] for event in events].count("summary") == 1
    assert summary["event"] == "summary"
    assert summary["jobs"] == 3 and summary["counts"] == {"complete": 2, "blocked": 1}
    assert summary["spent_usd"] == pytest.approx(sum(e["cost_usd"] for e in completes))
    assert summary["wall_seconds"] > 0


def test_live_view_keeps_to_the_terminal_height(fake_clock: FakeClock) -> None:
    """`imagine wait` on 40 running jobs in a 12-line terminal: what fits, then the count."""
    display = _live([Entry(f"j{n}", n, f"prompt {n}") for n in range(1, 46)], 80, height=12)
    for n in range(1, 41):
        display(Update(f"j{n}", "submitted", "running", "", progress=0))
    lines = _screen(display)
    assert len(lines) == 1 + 8 + 1
    assert lines[-1].strip() == "+32 more in flight, +5 queued"


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        (
            ("cannot reach h. Check it, then try again.", "retrying in 0.5s"),
            "cannot reach h. Check it, then try again. Retrying in 0.5s",
        ),
        (
            ("cost $0.60 is above max_cost_usd ($0.50)", "Render less."),
            "cost $0.60 is above max_cost_usd ($0.50). Render less.",
        ),
        (
            ("the answer was lost: why", None, "it may be billed"),
            "the answer was lost: why. It may be billed",
        ),
        (("done", ""), "done"),
    ],
)
def test_messages_made_of_parts_read_as_sentences(parts: tuple[str | None, ...], text: str) -> None:
    assert sentences(*parts) == text


def test_an_error_and_its_hint_are_two_sentences() -> None:
    from imagine.config import Settings
    from imagine.errors import PolicyError
    from imagine.workflow.spend_checks import check_budget

    with pytest.raises(PolicyError) as refused:
        check_budget(0.6, Settings(max_cost_usd=0.5))
    assert str(refused.value).startswith(
        "estimated cost $0.60 is above max_cost_usd ($0.50). Render less, or raise it"
    )


def test_a_prompt_is_shown_as_written_not_as_markup(fake_clock: FakeClock) -> None:
    display = _live([Entry("a", 1, "a [bold]fox[/] in [/oops] snow")], 120)
    display(Update("a", "submitted", "running", "", progress=0))
    assert "a [bold]fox[/] in [/oops] snow" in _screen(display)[0]


def test_failures_scrolled_away_are_gathered_at_the_end(
    fake_clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """More finished lines than the terminal is high: the ones that failed are listed again,
    together, above the summary; when all fit on the screen they are not."""
    for height, listed in ((5, True), (40, False)):
        display = _live([Entry(f"j{n}", n, f"p{n}") for n in range(1, 9)], 80, height=height)
        for n in range(1, 9):
            if n in (3, 6):
                display(Update(f"j{n}", "failed", "failed", "", message="[red]no[/red] video"))
            else:
                display(Update(f"j{n}", "complete", "complete", "", data=COMPLETE))
        display.close(display.state.summary(T0 + 10))
        table = display.console.file.getvalue().splitlines()
        if listed:
            assert [line.split() for line in table] == [
                ["#", "ended", "why"],
                ["#3", "failed", "[red]no[/red]", "video"],
                ["#6", "failed", "[red]no[/red]", "video"],
            ]
        else:
            assert table == []
        assert capsys.readouterr().err.splitlines()[-1].startswith("8 jobs: 6 complete, 2 failed")


def test_a_simulated_run_says_nothing_was_paid(cli: Cli, project: Path) -> None:
    """--sim prices what it would have cost, but a closing line saying 'spent $0.05' would be a lie."""
    result = cli.run("gen", "--sim", "a red fox", "-d", "1", "--progress", "plain")
    assert result.exit_code == 0, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "simulated, nothing paid (would have cost $0.05)" in last
    assert "spent" not in last
    events = cli.run("gen", "--sim", "a grey owl", "-d", "1", "--progress", "json")
    summary = json.loads(events.stderr.strip().splitlines()[-1])
    assert summary["event"] == "summary" and summary["simulated"] is True
