"""The HTTP transport the engine uses: httpx's, as shipped, with the CA store loaded only for
https."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from imagine.api import client as api_client
from imagine.api.client import XAIClient, http_transport
from imagine.engine import download


@dataclass
class Server:
    url: str
    connections: int = 0
    open: int = 0
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
        server.open += 1
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
            server.open -= 1
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


def client(url: str, limits: httpx.Limits) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=http_transport(url, limits))


def test_requests_one_after_another_share_one_connection() -> None:
    async def go() -> int:
        async with http_server() as server, client(server.url, httpx.Limits()) as http:
            for _ in range(5):
                assert (await http.get(f"{server.url}/")).text == "ok"
            return server.connections

    assert asyncio.run(go()) == 1


def test_requests_at_once_keep_no_more_idle_connections_than_allowed() -> None:
    async def go() -> tuple[int, int]:
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=2)
        async with http_server() as server, client(server.url, limits) as http:
            answers = await asyncio.gather(*(http.get(f"{server.url}/") for _ in range(8)))
            assert [a.text for a in answers] == ["ok"] * 8
            for _ in range(200):  # until the server has seen the extra connections close
                if server.open <= 2:
                    break
                await asyncio.sleep(0.01)
            return server.connections, server.open

    opened, kept = asyncio.run(go())
    assert 2 <= opened <= 8
    assert kept <= 2


@pytest.mark.parametrize("requests", [2, 4])
def test_a_connection_the_server_closed_while_idle_is_not_reused(requests: int) -> None:
    async def go() -> int:
        async with http_server() as server, client(server.url, httpx.Limits()) as http:
            server.close_after_answer = True
            for _ in range(requests):
                assert (await http.get(f"{server.url}/")).text == "ok"
                await asyncio.sleep(0.05)  # the hang-up reaches us before the next request
            return server.connections

    assert asyncio.run(go()) == requests


def _no_ca_store(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make loading the CA store an error, and count the attempts."""
    loaded: list[str] = []

    def refuse() -> object:
        loaded.append("tls_context")
        raise AssertionError("the CA store was loaded")

    monkeypatch.setattr(api_client, "tls_context", refuse)
    return loaded


def test_a_plain_http_api_client_loads_no_ca_store(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _no_ca_store(monkeypatch)

    async def go() -> str:
        async with http_server() as server, XAIClient(server.url, "xai-test-key") as api:
            plain = api._http._transport  # what the client sends through
            assert isinstance(plain, httpx.AsyncHTTPTransport)  # httpx's, as shipped
            return (await plain.handle_async_request(httpx.Request("GET", server.url))).status_code

    assert asyncio.run(go()) == 200
    assert loaded == []


def test_an_https_api_client_loads_the_ca_store(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _no_ca_store(monkeypatch)
    with pytest.raises(AssertionError, match="CA store"):
        XAIClient("https://api.x.ai", "xai-test-key")
    assert loaded == ["tls_context"]


def test_a_plain_http_download_loads_no_ca_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loaded = _no_ca_store(monkeypatch)

    async def go() -> download.Downloaded:
        async with http_server() as server:
            return await download.fetch(f"{server.url}/v.mp4", tmp_path / "v.mp4")

    done = asyncio.run(go())
    assert done.part.read_bytes() == b"ok"
    assert loaded == []
