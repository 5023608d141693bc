"""The HTTP transport the engine uses: httpcore's pool on asyncio streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpcore
import httpx
import pytest

from imagine.api import net
from imagine.api.client import tls_context


def test_the_engine_s_transport_is_httpcore_s_pool_on_asyncio_streams() -> None:
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
