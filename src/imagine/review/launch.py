"""Work the review page starts but does not wait for: each an `imagine` process of its own, so
the page stays responsive and the job is resumable like any other (`imagine wait`)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path


def imagine_in_background(args: list[str], project_dir: Path) -> None:
    """Run `imagine ARGS` detached in the project folder, its output discarded: the ledger
    records what it does, and the page shows it when reloaded."""
    detach([sys.executable, "-m", "imagine", *args], project_dir)


def detach(argv: list[str], cwd: Path | None = None) -> None:
    """Start a program that outlives this command's Ctrl-C, and reap it when it ends."""
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    threading.Thread(target=process.wait, name="imagine-reaper", daemon=True).start()


def wait_for(job_id: str, project_dir: Path) -> None:
    imagine_in_background(["wait", job_id, "--quiet"], project_dir)
