"""`imagine sim`: the bundled xAI-compatible simulator, for offline use, demos and tests."""

from __future__ import annotations

from typing import Annotated

import typer

from imagine.cli import output
from imagine.errors import UsageError
from imagine.lifecycle import Status


def sim(
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port", "-p", metavar="PORT", min=0, max=65535, help="Port (0: any free port)."
        ),
    ] = 8000,
    speed: Annotated[
        float,
        typer.Option(
            "--speed",
            metavar="FACTOR",
            min=0.001,
            help="Render-time divisor: 1 is real-API-like (tens of seconds), larger is faster.",
        ),
    ] = 1.0,
    render_time: Annotated[
        float | None,
        typer.Option(
            "--render-time", metavar="SECONDS", help="Mean render seconds (ignores --speed)."
        ),
    ] = None,
    jitter: Annotated[
        float,
        typer.Option(
            "--jitter", metavar="FRACTION", min=0.0, max=0.9, help="± fraction of render time."
        ),
    ] = 0.0,
    fail_rate: Annotated[
        float,
        typer.Option(
            "--fail-rate",
            metavar="FRACTION",
            min=0.0,
            max=1.0,
            help="Fraction of renders that fail.",
        ),
    ] = 0.0,
    rps_limit: Annotated[
        float | None,
        typer.Option(
            "--rps-limit",
            metavar="RPS",
            help="Answer 429 above this many starts per second per model.",
        ),
    ] = None,
    error_rate: Annotated[
        float,
        typer.Option(
            "--error-rate",
            metavar="FRACTION",
            min=0.0,
            max=1.0,
            help="Fraction of API requests answered 5xx.",
        ),
    ] = 0.0,
    drop_rate: Annotated[
        float,
        typer.Option(
            "--drop-rate",
            metavar="FRACTION",
            min=0.0,
            max=1.0,
            help="Fraction of accepted POSTs whose answer is dropped.",
        ),
    ] = 0.0,
    truncate_rate: Annotated[
        float,
        typer.Option(
            "--truncate-rate",
            metavar="FRACTION",
            min=0.0,
            max=1.0,
            help="Fraction of downloads cut short.",
        ),
    ] = 0.0,
    moderate: Annotated[
        list[str] | None,
        typer.Option(
            "--moderate",
            metavar="WORD",
            help="A word that gets a prompt moderated (repeatable) [default: moderate-me].",
        ),
    ] = None,
    url_ttl: Annotated[
        float, typer.Option("--url-ttl", metavar="SECONDS", help="Seconds a video URL stays valid.")
    ] = 86400.0,
    expire_after: Annotated[
        float | None,
        typer.Option(
            "--expire-after", metavar="SECONDS", help="Seconds after finishing when results expire."
        ),
    ] = None,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            help="Accept only this key (repeatable) [default: any key starting xai-].",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", metavar="N", help="Seed for the fault knobs.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request.")] = False,
    clean: Annotated[
        bool,
        typer.Option(
            "--clean",
            help="Delete the MP4s and state that --sim keeps in the per-user folder, and exit.",
        ),
    ] = False,
) -> None:
    """Serve an xAI-compatible video API on loopback until killed (Ctrl-C).

    Point imagine at it with --base-url and any key starting with xai-; read its counters at
    /sim/stats. Example: imagine sim --port 8000 --speed 10
    """
    if clean:
        _clean()
        return
    from imagine.sim import SimConfig, Simulator

    try:
        config = SimConfig(
            speed=speed,
            render_time=render_time,
            jitter=jitter,
            fail_rate=fail_rate,
            rps_limit=rps_limit,
            error_rate=error_rate,
            drop_rate=drop_rate,
            truncate_rate=truncate_rate,
            moderation_words=tuple(moderate) if moderate else ("moderate-me",),
            url_ttl=url_ttl,
            expire_after=expire_after,
            api_keys=tuple(api_key) if api_key else None,
            seed=seed,
            verbose=verbose,
        )
        simulator = Simulator(config, host=host, port=port)
    except (ValueError, OSError, OverflowError) as error:
        raise UsageError(f"cannot start the simulator: {error}") from None
    output.data(simulator.url)
    output.message(
        f"simulator listening on {simulator.url} (speed {speed:g}); try:\n"
        f'  XAI_API_KEY={simulator.api_key} imagine gen --base-url {simulator.url} "a fox"\n'
        f"counters: {simulator.url}/sim/stats · stop with Ctrl-C"
    )
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()


def _clean() -> None:
    """`--sim` keeps its clips (a cache, made again on demand) and its jobs' state (so `wait`
    can finish them in a later process) under the per-user folder; this frees the space.
    The state of jobs still unfinished is kept, or they could not be finished."""
    import shutil

    from imagine import paths
    from imagine.ledger.store import Ledger
    from imagine.session import SIM_BASE_URL

    folder = paths.sim_state_dir()
    with Ledger.open() as ledger:
        unfinished = [
            job
            for job in ledger.jobs(statuses=[s for s in Status if s.live])
            if job.base_url == SIM_BASE_URL
        ]
    doomed = [folder / "media"] + ([] if unfinished else [folder / "files", folder / "jobs"])
    files = [path for top in doomed if top.is_dir() for path in top.rglob("*") if path.is_file()]
    size = sum(path.stat().st_size for path in files)
    for top in doomed:
        shutil.rmtree(top, ignore_errors=True)
    output.message(f"removed {len(files)} file(s), {size / 1e6:.1f} MB, from {folder}")
    if unfinished:
        output.message(
            f"kept the state of {len(unfinished)} unfinished --sim job(s): "
            "finish them with imagine wait --all, then clean again"
        )
