"""The HTTP transport the engine uses: asyncio streams under httpcore, and a linear pool pass."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpcore
import httpx
import pytest
from httpcore._async.connection_pool import AsyncPoolRequest

from imagine.api import net
from imagine.api.client import tls_context

ORIGINS = [httpcore.URL("http://a.test/").origin, httpcore.URL("http://b.test/").origin]


@dataclass
class FakeConnection:
    """A pooled connection reduced to the answers the pool's pass asks of it."""

    name: str
    origin: httpcore.Origin
    closed: bool = False
    expired: bool = False
    idle: bool = False
    available: bool = False

    def is_closed(self) -> bool:
        return self.closed

    def has_expired(self) -> bool:
        return self.expired

    def is_idle(self) -> bool:
        return self.idle

    def is_available(self) -> bool:
        return self.available

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == self.origin


@dataclass
class PoolState:
    connections: list[FakeConnection]
    requests: list[tuple[httpcore.Origin, str | None]]  # origin, name of the assigned connection
    max_connections: int
    max_keepalive: int
    made: list[str] = field(default_factory=list)


def random_state(rng: random.Random) -> PoolState:
    connections = []
    for n in range(rng.randint(0, 10)):
        idle = rng.random() < 0.6
        connections.append(
            FakeConnection(
                f"c{n}",
                rng.choice(ORIGINS),
                closed=rng.random() < 0.1,
                expired=rng.random() < 0.1,
                idle=idle,
                available=idle and rng.random() < 0.8,
            )
        )
    requests = [
        (rng.choice(ORIGINS), rng.choice([None, None, "c0"])) for _ in range(rng.randint(0, 6))
    ]
    max_connections = rng.randint(1, 12)
    return PoolState(connections, requests, max_connections, rng.randint(0, max_connections))


def run_pass(
    pool_class: type[httpcore.AsyncConnectionPool], state: PoolState
) -> tuple[object, ...]:
    """One assignment pass of ``pool_class`` over a copy of ``state``; what it decided."""
    pool = pool_class(
        max_connections=state.max_connections, max_keepalive_connections=state.max_keepalive
    )
    by_name = {c.name: FakeConnection(**vars(c)) for c in state.connections}
    pool._connections = list(by_name.values())  # type: ignore[arg-type]
    made: list[str] = []

    def create_connection(origin: httpcore.Origin) -> FakeConnection:
        made.append(f"new{len(made)}")
        return FakeConnection(made[-1], origin)

    pool.create_connection = create_connection  # type: ignore[assignment,method-assign]
    waiting = []
    for origin, assigned in state.requests:
        url = httpcore.URL(scheme=origin.scheme, host=origin.host, port=origin.port, target="/")
        request = AsyncPoolRequest(httpcore.Request("GET", url))
        if assigned is not None:
            request.assign_to_connection(by_name.get(assigned))  # type: ignore[arg-type]
        waiting.append(request)
    pool._requests = waiting
    closing = pool._assign_requests_to_connections()
    return (
        [c.name for c in pool._connections],  # type: ignore[attr-defined]
        [c.name for c in closing],  # type: ignore[attr-defined]
        [getattr(r.connection, "name", None) for r in waiting],
    )


def test_the_linear_pool_decides_as_httpcore_does_on_random_pool_states() -> None:
    async def compare() -> int:  # (a pool request's event needs a running loop)
        rng = random.Random(20261202)
        differing = 0
        for _ in range(3000):
            state = random_state(rng)
            ours = run_pass(net.LinearPool, state)
            theirs = run_pass(httpcore.AsyncConnectionPool, state)
            assert ours == theirs, state
            differing += ours[1] != [] or ours[2] != [r[1] for r in state.requests]
        return differing

    assert asyncio.run(compare()) > 1000  # the states closed and assigned, not only no-ops


def test_the_engine_s_transport_uses_the_linear_pool() -> None:
    made = net.transport(verify=tls_context(), limits=httpx.Limits())
    assert type(made._pool) is net.LinearPool
    assert isinstance(made._pool._network_backend, net.AsyncioBackend)


def test_another_httpcore_release_gets_httpcore_s_own_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    # LinearPool follows httpcore 1.0's private pool pass; a release it was not written against
    # keeps httpcore's pool, still on asyncio streams.
    monkeypatch.setattr(httpcore, "__version__", "1.1.0")
    made = net.transport(verify=tls_context(), limits=httpx.Limits())
    assert type(made._pool) is httpcore.AsyncConnectionPool
    assert isinstance(made._pool._network_backend, net.AsyncioBackend)


@dataclass
class Server:
    url: str
    connections: int = 0
    close_after_answer: bool = False


@asynccontextmanager
async def http_server() -> AsyncIterator[Server]:
    """A keep-alive HTTP/1.1 server on loopback that counts the connections it is given. With
    ``close_after_answer`` it hangs up after each answer without saying so, as a server whose
    keep-alive timeout ran out does."""
    server = Server(url="")
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        writers.append(writer)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
                if server.close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}"
    try:
        async with listener:
            yield server
    finally:
        for writer in writers:
            writer.close()
        await asyncio.sleep(0)  # the transports close their sockets from a callback


def client(limits: httpx.Limits) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=net.transport(verify=tls_context(), limits=limits))


def test_requests_one_after_another_share_one_connection() -> None:
    async def go() -> int:
        async with http_server() as server, client(httpx.Limits()) as http:
            for _ in range(5):
                assert (await http.get(f"{server.url}/")).text == "ok"
            return server.connections

    assert asyncio.run(go()) == 1


def test_requests_at_once_keep_no_more_idle_connections_than_allowed() -> None:
    async def go() -> tuple[int, int]:
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=2)
        async with http_server() as server, client(limits) as http:
            answers = await asyncio.gather(*(http.get(f"{server.url}/") for _ in range(8)))
            assert [a.text for a in answers] == ["ok"] * 8
            pool = http._transport._pool  # type: ignore[attr-defined]
            return server.connections, len(pool.connections)

    opened, kept = asyncio.run(go())
    assert 2 <= opened <= 8
    assert kept <= 2


@pytest.mark.parametrize("requests", [2, 4])
def test_a_connection_the_server_closed_while_idle_is_not_reused(requests: int) -> None:
    async def go() -> int:
        async with http_server() as server, client(httpx.Limits()) as http:
            server.close_after_answer = True
            for _ in range(requests):
                assert (await http.get(f"{server.url}/")).text == "ok"
                await asyncio.sleep(0.05)  # the hang-up reaches us before the next request
            return server.connections

    assert asyncio.run(go()) == requests
