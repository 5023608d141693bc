"""The last stage: fetch the MP4, check it, write the sidecar, mark the job complete."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from imagine import clock, sidecar
from imagine.api.types import DONE, EXPIRED, Poll, for_ledger
from imagine.engine import workers
from imagine.engine.download import (
    Downloaded,
    DownloadError,
    LinkExpired,
    commit,
    fetch,
    save_failed,
    sha256_file,
)
from imagine.engine.events import UpdateKind
from imagine.engine.run_options import EngineOptions
from imagine.engine.stage import Run
from imagine.errors import MediaError, sentences
from imagine.ledger.store import Ledger
from imagine.lifecycle import EventKind, Job, Status
from imagine.media import label
from imagine.render_files import RenderFiles

# Pauses between resumed download attempts: 0.3 s doubling, at most 8 s (each ±20%).
RESUME_FIRST = 0.3
RESUME_MAX = 8.0

# What the poll stage makes of a poll answer (``Poller.apply``): the job as it then stands.
Apply = Callable[[Job, Poll], Job | None]


class Finisher:
    """Downloads and records finished renders."""

    def __init__(
        self,
        run: Run,
        ledger: Ledger,
        apply: Apply,
        options: EngineOptions,
    ) -> None:
        self.run = run
        self.ledger = ledger
        self.apply = apply  # for a poll answer that is neither a new URL nor the result gone
        self.options = options

    async def finish(self, job: Job) -> Job | None:
        """Download, check and record the file; the job as it then stands (None if unmoved)."""
        final = Path(job.output_path)
        if final.exists() and await asyncio.to_thread(_already_saved, final, job.id):
            return await self._complete(job, final, None)
        attempts = self.options.download_attempts
        for attempt in range(1, attempts + 1):
            if attempt > 1:  # a new URL, or someone else's move, may have come in between
                job = self.ledger.require(job.id)
                if job.status is not Status.DOWNLOADING:
                    return job
            try:
                done = await fetch(
                    job.video_url or "",
                    final,
                    self._progress(job),
                    self.options.download,
                )
            except LinkExpired:
                if not await self._refresh(job):
                    return None
                continue
            except DownloadError as error:
                if not error.resumable:
                    return self._fail(job, error)
                if attempt == attempts:
                    raise _stalled(error) from None
                self.run.emit(job, UpdateKind.RETRY, message=sentences(str(error), "resuming"))
                pause = min(RESUME_MAX, RESUME_FIRST * 2**attempt)
                await asyncio.sleep(pause * random.uniform(0.8, 1.2))
                continue
            return await self._complete(job, final, done)
        return None

    def _fail(self, job: Job, error: DownloadError) -> Job | None:
        """A download that cannot succeed (a URL we will not fetch, a file over the size cap):
        the job fails with the reason, said once."""
        moved = self.run.move(
            job,
            EventKind.DOWNLOAD_FAILED,
            status=Status.FAILED,
            error_code=error.code,
            error_message=str(error),
        )
        if moved:
            self.run.emit(moved, UpdateKind.FAILED, message=str(error))
        return moved

    def _progress(self, job: Job) -> Any:
        def report(have: int, total: int | None) -> None:
            self.run.emit(job, UpdateKind.DOWNLOADING, data={"bytes": have, "total": total})

        return report

    async def _refresh(self, job: Job) -> bool:
        """The video URL expired: ask the API for a fresh one (or learn the result is gone)."""
        assert job.request_id is not None
        poll = await self.run.client(job).poll(job.request_id)
        if poll.status == DONE and poll.video_url:
            moved = self.run.move(
                job, EventKind.NEW_URL, video_url=poll.video_url, response_json=for_ledger(poll.raw)
            )
            return moved is not None
        if poll.status in (EXPIRED, DONE):
            moved = self.run.move(
                job,
                EventKind.EXPIRED,
                status=Status.EXPIRED,
                error_code="expired",
                error_message="the video URL expired and the provider no longer holds the result",
            )
            if moved:
                self.run.emit(moved, UpdateKind.EXPIRED, message=moved.error_message)
            return False
        self.apply(job, poll)
        return False

    async def _complete(self, job: Job, final: Path, done: Downloaded | None) -> Job | None:
        # Off the event loop, in one go: the file's and the sidecar's waits for the disk, and the
        # probe and poster decode.
        try:
            values, info = await asyncio.get_running_loop().run_in_executor(
                workers.media_pool(), _describe_and_record, job, final, done
            )
        except OSError as error:
            raise save_failed(error, final.parent) from None
        moved = self.run.move(job, EventKind.COMPLETE, **values)
        if "note" in info:
            self.run.note_once(info["note"])
        if moved:
            self.run.emit(moved, UpdateKind.COMPLETE, progress=100)
        return moved


def _describe_and_record(
    job: Job, final: Path, done: Downloaded | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Give the checked download ``done`` its final name (None: it has it already) with the
    AI-generated label written into it, probe the file and write its sidecar; what the ledger records for the file once complete, and what the
    probe found. The sidecar is written from the job as it will be then, before the ledger
    commits."""
    stamp = label.Label(job.id, job.model)
    if done is None:
        outcome = label.apply(final, final, stamp)
        size, digest = final.stat().st_size, sha256_file(final)
    else:
        outcome = label.apply(done.part, final, stamp)
        if outcome.labeled:  # a new file, written whole: the download has done its part
            done.part.unlink()
            size, digest = final.stat().st_size, sha256_file(final)
        else:
            commit(done.part, final)
            size, digest = done.size, done.sha256
    info = {**_describe(final), "label": outcome.as_dict()}
    side = RenderFiles(final).sidecar
    values: dict[str, Any] = {
        "status": Status.COMPLETE,
        "file_sha256": digest,
        "file_bytes": size,
        "file_json": json.dumps(info),
        "downloaded_at": clock.iso(),
        "sidecar_path": str(side),
    }
    sidecar.write(replace(job, **values), side)
    return values, info


def _already_saved(final: Path, job_id: str) -> bool:
    """Whether an earlier run saved the file before it crashed: the download was verified
    before it got its final name, and a labelled file is only ever renamed into place whole (its
    checked ``.part`` may still be beside it)."""
    if not final.exists():
        return False
    part = RenderFiles(final).part
    if not part.exists():
        return True
    if label.carries(final, job_id):
        part.unlink(missing_ok=True)
        return True
    return False


def _describe(path: Path) -> dict[str, Any]:
    """What the file really is, read back by a decoder, and its poster (NAME.jpg, a frame from
    the middle, for previews) — when the media extra is installed."""
    from imagine.media import INSTALL_HINT, have_av
    from imagine.media.probe import probe_video

    if not have_av():
        return {
            "probed": False,
            "note": f"no probe, poster or AI label without the media extra: {INSTALL_HINT}",
        }
    try:
        poster = RenderFiles(path).poster
        info = probe_video(path, poster=poster)
    except MediaError as error:
        return {"probed": False, "probe_error": str(error)}
    return {
        "probed": True,
        "poster": poster.name,
        "duration": round(info.duration, 3),
        "width": info.width,
        "height": info.height,
        "video_codec": info.video_codec,
        "audio_codec": info.audio_codec,
        "has_audio": info.has_audio,
        "fps": info.fps,
    }


def _stalled(error: DownloadError) -> Exception:
    from imagine.api.http_errors import Unreachable

    return Unreachable(f"the download did not finish: {error}", hint="Resume with `imagine wait`.")
