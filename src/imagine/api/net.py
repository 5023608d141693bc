"""httpx's transport on plain asyncio streams, for every client the engine uses.

httpx runs its connection pool (httpcore) on anyio, whose streams cost more per request than the
request itself is worth to us: every read and write goes through a cancel scope, and before each
request the pool asks every idle connection whether the server has closed it, which anyio answers
by building a table of socket attributes (with a getpeername call) per connection. Measured side by
side against the simulator (bare httpx, no imagine code), the same pool on asyncio streams costs
0.6 ms of CPU per request instead of 0.8 at 4 requests in flight, and 1.2 instead of 2.3 at 64.

Only the network layer changes: HTTP/1.1 framing, keep-alive, TLS settings, timeouts and the errors
httpx raises are httpcore's and httpx's own. Proxies set in the environment still get httpx's
default transport (httpx mounts those separately). The pool is httpcore's own, as shipped: a
linear rewrite of its bookkeeping pass (a private method) saved 0.15 ms of CPU per request at 64
in flight against the simulator and 0.1 ms at one request a second, both within the noise of
benchmarks/transport.py (docs/benchmarks.md): not worth following httpcore's internals for.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import Awaitable, Iterable
from typing import Any

import httpcore
import httpx

HAPPY_EYEBALLS_DELAY = 0.25  # seconds before trying the next address, as anyio does


def transport(*, verify: ssl.SSLContext, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections are asyncio streams."""
    made = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    made._pool = httpcore.AsyncConnectionPool(
        ssl_context=verify,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=AsyncioBackend(),
    )
    return made


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        sock = writer.get_extra_info("socket")
        # Made once: the pool asks every idle connection before and after every request.
        self._poller: select.poll | None = None
        if sock is not None and sock.fileno() >= 0:
            self._poller = select.poll()
            self._poller.register(sock.fileno(), select.POLLIN)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout("timed out reading from the server") from None
        except OSError as error:  # ssl.SSLError included
            raise httpcore.ReadError(str(error) or type(error).__name__) from error

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout("timed out writing to the server") from None
        except OSError as error:
            raise httpcore.WriteError(str(error) or type(error).__name__) from error

    async def aclose(self) -> None:
        self._writer.close()
        # One turn of the loop lets the transport close its socket (it does so from a callback).
        await asyncio.sleep(0)

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError:
            await self.aclose()
            raise httpcore.ConnectTimeout("timed out during the TLS handshake") from None
        except OSError as error:
            await self.aclose()
            raise httpcore.ConnectError(str(error) or type(error).__name__) from error
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return self._closed_by_peer()
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        return None

    def _closed_by_peer(self) -> bool:
        """Whether an idle connection has heard from the server (which then is closing it):
        what the loop has already read, else what waits on the socket."""
        if self._reader.at_eof() or self._writer.transport.is_closing() or self._poller is None:
            return True
        return bool(self._poller.poll(0))


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        opening = asyncio.open_connection(
            host, port, local_addr=local, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY
        )
        return await _connected(opening, f"{host}:{port}", timeout, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        opening = asyncio.open_unix_connection(path)
        return await _connected(opening, path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connected(
    opening: Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    where: str,
    timeout: float | None,
    options: Iterable[Any] | None,
) -> AsyncioStream:
    """The stream once ``opening`` connects, with httpcore's errors when it does not."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await opening
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"timed out connecting to {where}") from None
    except OSError as error:
        raise httpcore.ConnectError(str(error) or type(error).__name__) from error
    sock: socket.socket = writer.get_extra_info("socket")
    for option in options or ():
        sock.setsockopt(*option)
    return AsyncioStream(reader, writer)
