"""The HTTP transport: CPU per request of httpx as shipped (the engine's transport), against
httpcore's pool on asyncio streams (benchmarks/asyncio_transport.py, the candidate it replaced),
on the simulator, at two rates: 1 request started per second (the default pacing a user runs at)
and 64 requests in flight (`-c 64` against a simulator at top speed).

Each request is a poll (GET /v1/videos/{id}, a small JSON answer), the engine's most frequent
request. CPU is this process's (user + system) over the requests, divided by their number; the
transports alternate, --rounds times, in the same run. Progress goes to stderr; the default run
takes about a minute and a half on a loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable

import httpx
from _harness import BENCH_KEY, simulator
from asyncio_transport import transport as asyncio_transport

from imagine.api.client import DEFAULT_LIMITS, http_transport

LIMITS = DEFAULT_LIMITS  # the engine's: up to 64 connections kept open


def _transports(url: str) -> dict[str, Callable[[], httpx.AsyncBaseTransport]]:
    return {
        "httpx as shipped (the engine's)": lambda: http_transport(url, LIMITS),
        "httpcore's pool on asyncio streams": lambda: asyncio_transport(verify=None, limits=LIMITS),
    }


async def _request_id(client: httpx.AsyncClient) -> str:
    body = {"model": "grok-imagine-video", "prompt": "a paper boat", "duration": 1}
    answer = await client.post("/v1/videos/generations", json=body)
    answer.raise_for_status()
    request_id: str = answer.json()["request_id"]
    return request_id


async def _paced(url: str, make: Callable[[], httpx.AsyncBaseTransport], count: int) -> float:
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, transport=make()) as client:
        request_id = await _request_id(client)
        used = 0.0
        for _ in range(count):
            await asyncio.sleep(1.0)
            start = time.process_time()
            (await client.get(f"/v1/videos/{request_id}")).raise_for_status()
            used += time.process_time() - start
    return 1000 * used / count


async def _busy(url: str, make: Callable[[], httpx.AsyncBaseTransport], count: int) -> float:
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, transport=make()) as client:
        request_id = await _request_id(client)
        left = count

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                (await client.get(f"/v1/videos/{request_id}")).raise_for_status()

        left = 64
        await asyncio.gather(*(worker() for _ in range(64)))  # warm: up to 64 connections open
        left = count
        start = time.process_time()
        await asyncio.gather(*(worker() for _ in range(64)))
        return 1000 * (time.process_time() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced", type=int, default=5, help="paced requests per round (1/s)")
    parser.add_argument("--busy", type=int, default=1000, help="requests per round at -c 64")
    ns = parser.parse_args()
    with simulator("--render-time", "0.05") as url:
        transports = _transports(url)
        paced: dict[str, list[float]] = {name: [] for name in transports}
        busy: dict[str, list[float]] = {name: [] for name in transports}
        for round_ in range(1, ns.rounds + 1):
            for name, make in transports.items():
                busy[name].append(asyncio.run(_busy(url, make, ns.busy)))
                if ns.paced:
                    paced[name].append(asyncio.run(_paced(url, make, ns.paced)))
                last = paced[name][-1] if ns.paced else float("nan")
                print(
                    f"round {round_}/{ns.rounds} {name}: 1/s {last:.3f} ms, "
                    f"-c 64 {busy[name][-1]:.3f} ms",
                    file=sys.stderr,
                    flush=True,
                )
    print(f"{'transport':36} {'1/s: CPU ms/request':>20} {'-c 64: CPU ms/request':>22}")
    for name in transports:
        slow = statistics.median(paced[name] or [float("nan")])
        fast = statistics.median(busy[name])
        print(f"{name:36} {slow:20.3f} {fast:22.3f}")
        print(
            f"{'':36} {'rounds: ' + ' '.join(f'{v:.3f}' for v in paced[name]):>20} "
            f"{'rounds: ' + ' '.join(f'{v:.3f}' for v in busy[name]):>22}"
        )


if __name__ == "__main__":
    main()
