"""Renders to review, made through the simulator, and a review server over them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagine.review.server import Review, ReviewServer
from tests.helpers import Cli

HOSTILE_PROMPT = 'a red fox <img src=x onerror="document.title=1"> & </script>'


def make_renders(cli: Cli, project: Path, env: dict[str, str] | None = None) -> None:
    """Three renders in ``project``: two takes of one request (-n 2), one of another."""
    for args in ((HOSTILE_PROMPT, "-n", "2"), ("a lighthouse at dusk",)):
        result = cli.run("gen", "--sim", *args, "-d", "1", "--project", str(project), env=env)
        assert result.exit_code == 0, result.stderr


@dataclass
class Started:
    """What the review server was asked to start, in place of real processes."""

    runs: list[str] = field(default_factory=list)
    promotions: list[str] = field(default_factory=list)


def serve(
    ledger: Path, project: Path, started: Started, promote_missing: str | None = "not here"
) -> ReviewServer:
    review = Review(
        ledger_path=ledger,
        project_dir=project.resolve(),
        since=None,
        run_job=started.runs.append,
        promote=started.promotions.append,
        promote_missing=promote_missing,
        actor="tester (review page)",
    )
    return ReviewServer(review).start()


def stop(server: ReviewServer) -> None:
    server.shutdown()
    server.server_close()


Factory = Callable[..., Any]
