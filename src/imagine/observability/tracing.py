"""OpenTelemetry traces of jobs (the ``otel`` extra): each job a trace, with spans for its
submission, each poll, the download and the finish.

Off, and OpenTelemetry not even imported, unless the standard variables ask for traces:
``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP), or
``OTEL_TRACES_EXPORTER`` (``otlp`` or ``console``; ``none`` turns it off, as does
``OTEL_SDK_DISABLED=true``). The exporter reads its own variables (headers, protocol, timeout).

Spans are made from the engine's progress events (the same ones ``--log-file`` records):

- ``imagine.job``: the root, from the first event this process saw of the job to its last word;
- ``submit``: sending the request until the provider took it (or refused it);
- ``poll``: one per poll that found the job rendering or done, covering the wait before it (from
  the submission or the poll before) and the poll itself, so the polls tile the render;
- ``download``: from the poll that found it done to the file saved;
- ``finish``: the job's last word (complete, failed, blocked, expired, unknown).

Every span carries ``imagine.job_id``; the root also ``imagine.model``, ``imagine.mode``,
``imagine.resolution``, ``imagine.cost_usd``, ``imagine.outcome`` and ``imagine.polls``. The trace
id is derived from the job id, so a job submitted by one process and finished by another
(`imagine wait`) is one trace.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

from imagine.engine.events import FINAL_KINDS, Update, UpdateKind

TRACE_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def enabled(environ: Any = None) -> bool:
    """Do the OpenTelemetry variables ask for traces? (Reads the environment only.)"""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return any(env.get(name, "").strip() for name in TRACE_VARIABLES)


class TracingUnavailable(RuntimeError):
    """Traces were asked for but the ``otel`` extra is not installed."""


def trace_id_of(job_id: str) -> int:
    """A job's trace id: the same in every process that drives the job."""
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:16], "big") or 1


@dataclass
class _Job:
    job_id: str
    root: Any
    submit: Any = None
    download: Any = None
    last_at: int = 0  # when the last poll (or the submission) was answered, ns
    polls: int = 0
    attributes: dict[str, Any] = field(default_factory=dict)


class JobTracer:
    """An event sink that turns each job's events into its spans; ``close`` ends the spans of
    jobs left unfinished and flushes the exporter."""

    def __init__(self, provider: Any, ids: Any) -> None:
        self._provider = provider
        self._ids = ids
        self._tracer = provider.get_tracer("imagine")
        self._jobs: dict[str, _Job] = {}
        self._ended: set[str] = set()  # a job's last word is traced once, like it is shown once

    def __call__(self, update: Update) -> None:
        if not update.job_id or update.job_id in self._ended:
            return
        now = time.time_ns()
        job = self._jobs.get(update.job_id) or self._start(update.job_id, now)
        kind = update.kind
        if kind == UpdateKind.SUBMITTING and job.submit is None:
            job.submit = self._child(job, "submit", now)
        elif kind == UpdateKind.SUBMITTED:
            self._end(job, "submit", now)
            job.last_at = now
        elif kind in (UpdateKind.PROGRESS, UpdateKind.RENDERED):
            self._poll(job, update, now)
            if kind == UpdateKind.RENDERED:
                job.download = self._child(job, "download", now)
        if kind in FINAL_KINDS:
            self._finish(update.job_id, job, update, now)

    def _start(self, job_id: str, now: int) -> _Job:
        self._ids.next_trace_id = trace_id_of(job_id)
        root = self._tracer.start_span(
            "imagine.job", start_time=now, attributes={"imagine.job_id": job_id}
        )
        job = _Job(job_id, root, last_at=now)
        self._jobs[job_id] = job
        return job

    def _child(self, job: _Job, name: str, start: int, **attributes: Any) -> Any:
        from opentelemetry import trace

        return self._tracer.start_span(
            name,
            context=trace.set_span_in_context(job.root),
            start_time=start,
            attributes={"imagine.job_id": job.job_id, **attributes},
        )

    def _end(self, job: _Job, name: str, now: int) -> None:
        span = getattr(job, name)
        if span is not None:
            span.end(end_time=now)
            setattr(job, name, None)

    def _poll(self, job: _Job, update: Update, now: int) -> None:
        job.polls += 1
        attributes: dict[str, Any] = {"imagine.poll": job.polls}
        if update.progress is not None:
            attributes["imagine.progress"] = float(update.progress)
        self._child(job, "poll", job.last_at or now, **attributes).end(end_time=now)
        job.last_at = now

    def _finish(self, job_id: str, job: _Job, update: Update, now: int) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._end(job, "submit", now)
        self._end(job, "download", now)
        data = update.data
        attributes = {
            "imagine.outcome": str(update.kind),
            "imagine.model": data.get("model"),
            "imagine.mode": data.get("mode"),
            "imagine.resolution": data.get("resolution"),
            "imagine.cost_usd": data.get("cost_usd"),
            "imagine.polls": data.get("polls"),
            "imagine.error_code": data.get("error_code"),
        }
        attributes = {key: value for key, value in attributes.items() if value is not None}
        self._child(job, "finish", now, **attributes).end(end_time=time.time_ns())
        job.root.set_attributes(attributes)
        if update.kind != UpdateKind.COMPLETE:
            job.root.set_status(Status(StatusCode.ERROR, update.message or str(update.kind)))
        job.root.end(end_time=time.time_ns())
        del self._jobs[job_id]
        self._ended.add(job_id)

    def close(self) -> None:
        """End what is still open (the job goes on: `imagine wait` adds to its trace), then
        send every span."""
        now = time.time_ns()
        for job in self._jobs.values():
            self._end(job, "submit", now)
            self._end(job, "download", now)
            job.root.set_attribute("imagine.outcome", "unfinished")
            job.root.end(end_time=now)
        self._jobs.clear()
        self._provider.shutdown()


def start(exporter: Any = None) -> JobTracer:
    """A tracer exporting to ``exporter`` (tests pass the SDK's in-memory one), else to the
    exporter the OpenTelemetry variables name."""
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
    except ImportError:
        raise TracingUnavailable(
            "OpenTelemetry variables are set but the otel extra is not installed:"
            " pip install 'imagine[otel]' (no traces this run)"
        ) from None

    class JobIds(RandomIdGenerator):
        """A root span's trace id is its job's (see trace_id_of)."""

        next_trace_id: int | None = None

        def generate_trace_id(self) -> int:
            found, self.next_trace_id = self.next_trace_id, None
            return found if found is not None else super().generate_trace_id()

    ids = JobIds()
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "imagine")})
    provider = TracerProvider(resource=resource, id_generator=ids)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(_configured_exporter()))
    return JobTracer(provider, ids)


def _configured_exporter() -> Any:
    name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if name == "console":
        import sys

        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)  # stdout is for results
    if name != "otlp":
        raise TracingUnavailable(
            f"OTEL_TRACES_EXPORTER={name} is not supported: use otlp or console (no traces this run)"
        )
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    module = "grpc" if protocol.strip().lower() == "grpc" else "http"
    try:
        exporters = importlib.import_module(
            f"opentelemetry.exporter.otlp.proto.{module}.trace_exporter"
        )
    except ImportError:
        raise TracingUnavailable(
            f"OTEL_TRACES_EXPORTER={name} needs the OTLP exporter:"
            " pip install 'imagine[otel]' (no traces this run)"
        ) from None
    return exporters.OTLPSpanExporter()
