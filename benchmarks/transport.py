"""The HTTP transport: CPU per request of httpx as shipped, against the engine's transport
(httpcore's pool on asyncio streams, `imagine.api.net`), on the simulator, at two rates: 1 request started per second (the default pacing a user runs at) and 64
requests in flight (`-c 64` against a simulator at top speed).

Each request is a poll (GET /v1/videos/{id}, a small JSON answer), the engine's most frequent
request. CPU is this process's (user + system) over the requests, divided by their number; the
three transports alternate, --rounds times, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

import httpx
from _harness import BENCH_KEY, simulator

from imagine.api import net
from imagine.api.client import DEFAULT_LIMITS, tls_context

LIMITS = DEFAULT_LIMITS  # the engine's: up to 64 connections kept open


def _shipped() -> httpx.AsyncBaseTransport:
    return httpx.AsyncHTTPTransport(verify=tls_context(), limits=LIMITS)


def _engine() -> httpx.AsyncBaseTransport:
    return net.transport(verify=tls_context(), limits=LIMITS)


def _engine_without_linear_pool() -> httpx.AsyncBaseTransport:
    saved, net.LINEAR_POOL_FOR = net.LINEAR_POOL_FOR, "none"  # type: ignore[attr-defined]
    try:
        return _engine()
    finally:
        net.LINEAR_POOL_FOR = saved  # type: ignore[attr-defined]


def _transports() -> dict[str, Callable[[], httpx.AsyncBaseTransport]]:
    made = {"httpx as shipped": _shipped, "engine's transport (imagine.api.net)": _engine}
    if hasattr(net, "LINEAR_POOL_FOR"):  # a checkout from 08c9f82 to 2026-12-03: with LinearPool
        made["engine's, with httpcore's own pool"] = _engine_without_linear_pool
    return made


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

        await asyncio.gather(*(worker() for _ in range(64)))  # warm: 64 connections open
        left = count
        start = time.process_time()
        await asyncio.gather(*(worker() for _ in range(64)))
        return 1000 * (time.process_time() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced", type=int, default=20, help="paced requests per round")
    parser.add_argument("--busy", type=int, default=3000, help="requests per round at -c 64")
    ns = parser.parse_args()
    transports = _transports()
    paced: dict[str, list[float]] = {name: [] for name in transports}
    busy: dict[str, list[float]] = {name: [] for name in transports}
    with simulator("--render-time", "0.05") as url:
        for _ in range(ns.rounds):
            for name, make in transports.items():
                busy[name].append(asyncio.run(_busy(url, make, ns.busy)))
                if ns.paced:
                    paced[name].append(asyncio.run(_paced(url, make, ns.paced)))
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
