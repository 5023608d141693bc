"""`imagine review`, `gallery`, `approve`, `reject` and `open`: the review step."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from imagine import ids, paths
from imagine.cli import completion as complete
from imagine.cli import options as opt
from imagine.cli import output
from imagine.cli.listing import parse_since
from imagine.errors import UsageError
from imagine.ledger.store import Ledger
from imagine.lifecycle import Status
from imagine.project import find_project
from imagine.review import decide, launch
from imagine.review.takes import select

Jobs = Annotated[
    list[str],
    typer.Argument(
        metavar="JOB...",
        help="id, short id or prefix, request id, @N, @last, or a render's file.",
        autocompletion=complete.jobs,
    ),
]
Since = Annotated[
    str | None,
    typer.Option("--since", metavar="WHEN", help="Only renders made since: 30m, 2h, 7d or a date."),
]


def review(
    since: Since = None,
    project_dir: opt.ProjectDir = None,
    no_open: Annotated[
        bool, typer.Option("--no-open", help="Print the page's URL; do not open a browser.")
    ] = False,
    port: Annotated[
        int,
        typer.Option(
            "--port", metavar="N", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."
        ),
    ] = 0,
) -> None:
    """Review renders in a browser: play the takes, approve, reject, promote or re-run them.

    The page is served on 127.0.0.1 with a secret token in its URL, until Ctrl-C.
    Keys: arrows move, space plays, a approves, r rejects, p promotes, u undoes, n re-runs.
    Example: imagine review --since 1d
    """
    from imagine.review.server import Review, ReviewServer

    after = parse_since(since) if since else None
    root = find_project(project_dir).root
    with Ledger.open() as ledger:  # a damaged ledger is reported now, not on the first page load
        takes = sum(len(request.takes) for request in select(ledger, root, since=after))
    settings = Review(
        ledger_path=paths.ledger_file(),
        project_dir=root,
        since=after,
        run_job=lambda job_id: launch.wait_for(job_id, root),
        promote=lambda job_id: launch.imagine_in_background(["promote", job_id], root),
        promote_missing=_promote_missing(),
        actor=decide.actor("review page"),
    )
    try:
        server = ReviewServer(settings, port=port)
    except OSError as error:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {error.strerror}") from None
    with server:
        output.data(server.url)
        output.message(f"reviewing {takes} take(s) in {root}; Ctrl-C stops the page")
        if not no_open:
            import webbrowser

            webbrowser.open(server.url)
        server.serve_forever()


def _promote_missing() -> str | None:
    """Why the page's Promote cannot work in this build, if it cannot."""
    from imagine.cli.commands import COMMANDS

    if "promote" in COMMANDS:
        return None
    return "promote is not in this build of imagine: use Re-run (n) for a new take instead"


def gallery(
    out: Annotated[
        Path, typer.Option("-o", "--output", metavar="FILE", help="The HTML file to write.")
    ] = Path("gallery.html"),
    since: Since = None,
    project_dir: opt.ProjectDir = None,
) -> None:
    """Write the contact sheet of renders as one self-contained HTML file (no buttons).

    Posters are inside the file; videos are linked by their path relative to it.
    Example: imagine gallery -o public/gallery.html --since 7d
    """
    from imagine.review import gallery as sheet

    after = parse_since(since) if since else None
    root = find_project(project_dir).root
    if out.is_dir():
        raise UsageError(
            f"-o {out} is a folder: give the HTML file to write, e.g. {out}/gallery.html"
        )
    with Ledger.open() as ledger:
        requests = select(ledger, root, since=after)
    count = sheet.write(requests, out, f"imagine gallery · {root.name}")
    output.data(str(out))
    output.message(f"{count} take(s) in {out}")


def approve(jobs: Jobs) -> None:
    """Approve renders: mark them approved in the ledger (audited).

    Example: imagine approve @last
    """
    _verdict(jobs, decide.Verdict.APPROVE)


def reject(jobs: Jobs) -> None:
    """Reject renders: mark them rejected in the ledger (audited).

    Example: imagine reject @3 @4
    """
    _verdict(jobs, decide.Verdict.REJECT)


def _verdict(refs: list[str], verdict: decide.Verdict) -> None:
    with Ledger.open() as ledger:
        targets = ledger.resolve_all(refs)
        for job in targets:  # all checked before any is changed
            decide.check_reviewable(job)
        by = decide.actor("cli")
        for job in targets:
            done = decide.review(ledger, job, verdict, by=by)
            output.message(f"#{job.seq} {ids.short(job.id)} {done.job.review_state}")


def open_render(
    job_ref: Annotated[
        str,
        typer.Argument(
            metavar="JOB",
            help="id, short id or prefix, request id, @N, @last, or a render's file.",
            autocompletion=complete.jobs,
        ),
    ],
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the render's path; do not play it.")
    ] = False,
) -> None:
    """Play a render with the system's video player.

    Example: imagine open @last (or imagine open @last --print for its path)
    """
    with Ledger.open() as ledger:
        job = ledger.resolve(job_ref)
    video = Path(job.output_path)
    if job.status is not Status.COMPLETE:
        raise UsageError(f"#{job.seq} is {job.status}: there is no render to open yet")
    if not video.is_file():
        raise UsageError(f"#{job.seq}'s file is gone: {video} (imagine retry cannot bring it back)")
    if print_only:
        output.data(str(video))
        return
    _play(video)


def _play(video: Path) -> None:
    """Hand the file to the desktop's player and return (the player is not waited for)."""
    if sys.platform == "win32":
        os.startfile(video)  # type: ignore[attr-defined]
        return
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    found = shutil.which(opener)
    if found is None:
        raise UsageError(
            f"no {opener} here to play the video with: the file is {video}",
            hint="Play it with any video player, or get its path with --print.",
        )
    launch.detach([found, str(video)])
