"""OpenTelemetry traces (the otel extra): a real run's job exported to the SDK's in-memory
exporter and read back; nothing of OpenTelemetry loaded when its variables are unset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from imagine.observability import tracing
from tests.helpers import Cli, read_jobs


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> list[InMemorySpanExporter]:
    """Traces asked for as a user asks (OTEL_EXPORTER_OTLP_ENDPOINT), each run's spans sent to an
    in-memory exporter of its own instead of the network."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    exporters: list[InMemorySpanExporter] = []

    def exporter() -> InMemorySpanExporter:
        exporters.append(InMemorySpanExporter())
        return exporters[-1]

    monkeypatch.setattr(tracing, "_configured_exporter", exporter)
    return exporters


def _spans(exporters: list[InMemorySpanExporter]) -> list[ReadableSpan]:
    return [span for exporter in exporters for span in exporter.get_finished_spans()]


def test_a_job_is_one_trace_with_its_submit_polls_download_and_finish(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, exported: list[InMemorySpanExporter]
) -> None:
    assert cli.gen(sim, "a red fox in snow", "-d", "2", "-r", "720p", "-q").exit_code == 0
    (job,) = read_jobs(imagine_home)
    spans = _spans(exported)
    (root,) = [span for span in spans if span.name == "imagine.job"]
    names = [span.name for span in spans if span is not root]
    assert names.count("submit") == 1 and names.count("download") == 1
    assert names.count("finish") == 1
    assert names.count("poll") == job["poll_count"] >= 1
    assert root.context is not None
    assert root.context.trace_id == tracing.trace_id_of(job["id"])
    for span in spans:
        assert span.context is not None and span.context.trace_id == root.context.trace_id
        assert span.attributes is not None and span.attributes["imagine.job_id"] == job["id"]
        if span is not root:
            assert span.parent is not None and span.parent.span_id == root.context.span_id
            assert root.start_time is not None and root.end_time is not None
            assert span.start_time is not None and span.end_time is not None
            assert root.start_time <= span.start_time <= span.end_time <= root.end_time
    attributes = dict(root.attributes or {})
    assert attributes == {
        "imagine.job_id": job["id"],
        "imagine.outcome": "complete",
        "imagine.model": job["model"],
        "imagine.mode": "text",
        "imagine.resolution": "720p",
        "imagine.cost_usd": round(job["cost_ticks"] / 1e10, 4),
        "imagine.polls": job["poll_count"],
    }
    polls = sorted((s for s in spans if s.name == "poll"), key=lambda s: s.start_time or 0)
    assert [dict(s.attributes or {})["imagine.poll"] for s in polls] == list(
        range(1, len(polls) + 1)
    )


def test_a_failed_job_is_an_error_trace(
    cli: Cli, sim: Any, project: Path, exported: list[InMemorySpanExporter]
) -> None:
    sim.configure(fail_rate=1.0)
    assert cli.gen(sim, "a burning barn", "-d", "1", "-q").exit_code == 1
    (root,) = [span for span in _spans(exported) if span.name == "imagine.job"]
    assert root.status.status_code is StatusCode.ERROR
    assert dict(root.attributes or {})["imagine.outcome"] == "failed"
    assert dict(root.attributes or {})["imagine.error_code"]


def test_a_job_resumed_by_another_process_joins_its_trace(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, exported: list[InMemorySpanExporter]
) -> None:
    assert cli.gen(sim, "a slow tide", "-d", "1", "-q", "--no-wait").exit_code == 0
    waited = cli.run("wait", "--all", "-q", env={"XAI_API_KEY": sim.api_key})
    assert waited.exit_code == 0, waited.stderr
    (job,) = read_jobs(imagine_home)
    first, second = (exporter.get_finished_spans() for exporter in exported)
    assert {s.context.trace_id for s in (*first, *second) if s.context} == {
        tracing.trace_id_of(job["id"])
    }
    assert [s.name for s in first if s.name == "submit"] == ["submit"]
    roots = [s for s in first if s.name == "imagine.job"]
    assert dict(roots[0].attributes or {})["imagine.outcome"] == "unfinished"
    assert "finish" in [s.name for s in second]


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
    ],
)
def test_which_variables_turn_traces_on(environ: dict[str, str], on: bool) -> None:
    assert tracing.enabled(environ) is on


PROBE = """
import json, sys
sys.argv = ["imagine", *sys.argv[1:]]
from imagine.cli import main
try:
    main()
except SystemExit as exit:
    code = exit.code
print(json.dumps([code, sorted(sys.modules)]), file=sys.stderr)
"""


def _run(*args: str, env: dict[str, str]) -> tuple[int, set[str]]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env={**environ, **env},
        timeout=120,
    )
    code, modules = json.loads(done.stderr.strip().splitlines()[-1])
    return code, set(modules)


@pytest.mark.slow
def test_a_run_without_the_variables_never_imports_opentelemetry(project: Path) -> None:
    # Both start-ups at once (each with a home of its own), not in turn.
    traced = {"OTEL_TRACES_EXPORTER": "console", "IMAGINE_HOME": str(project / "traced-home")}
    with ThreadPoolExecutor(2) as pool:
        untraced = pool.submit(_run, "gen", "--sim", "a fox", "-d", "1", "-q", env={})
        with_traces = pool.submit(_run, "gen", "--sim", "a fox", "-d", "1", "-q", env=traced)
    code, modules = untraced.result()
    assert code == 0
    assert "imagine.engine.runner" in modules  # (it did render)
    assert [name for name in modules if name.startswith("opentelemetry")] == []
    code, modules = with_traces.result()
    assert code == 0
    assert "opentelemetry.sdk.trace" in modules


def test_a_last_word_said_twice_is_traced_once() -> None:
    from imagine.engine.events import Update, UpdateKind

    exporter = InMemorySpanExporter()
    tracer = tracing.start(exporter)
    for kind in ("submitting", "submitted", "progress", "rendered", "complete", "complete"):
        tracer(Update(job_id="j1", kind=UpdateKind(kind), status="", label="#1", progress=50.0))
    tracer(Update(job_id="j2", kind=UpdateKind.SUBMITTING, status="", label="#2"))
    tracer.close()
    names = sorted(span.name for span in exporter.get_finished_spans())
    assert names == sorted(
        ["imagine.job", "submit", "poll", "poll", "download", "finish", "imagine.job", "submit"]
    )
    unfinished = [
        s
        for s in exporter.get_finished_spans()
        if dict(s.attributes or {})["imagine.job_id"] == "j2"
    ]
    assert {dict(s.attributes or {}).get("imagine.outcome") for s in unfinished} == {
        "unfinished",
        None,
    }
