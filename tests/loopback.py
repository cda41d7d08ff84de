"""Tiny misbehaving HTTP servers on 127.0.0.1, for fault tests of our HTTP clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class Loopback:
    url: str
    requests: int = 0


@asynccontextmanager
async def http_server(*, status: int | None, body: bytes = b"{}") -> AsyncIterator[Loopback]:
    """Answers every request with ``status``, or never answers when ``status`` is None."""
    state = Loopback(url="")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        state.requests += 1
        if status is None:
            await asyncio.sleep(3600)
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        server.close()


@dataclass
class Proxy:
    """A loopback HTTP proxy in front of a real server, for fault tests.

    ``drop_responses``: that many times, the request reaches the server (which commits) but the
    answer is thrown away and the connection closed — "the response was lost". ``down``: refuse
    everything with a closed connection. ``requests`` counts (method, path) pairs forwarded.
    """

    url: str
    target: str
    drop_responses: int = 0
    down: bool = False
    delay: float = 0.0
    requests: list[tuple[str, str]] | None = None


@asynccontextmanager
async def proxy(target_url: str) -> AsyncIterator[Proxy]:
    import httpx

    state = Proxy(url="", target=target_url, requests=[])
    upstream = httpx.AsyncClient(base_url=target_url, timeout=30)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {}
            for line in header_lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip()] = value.strip()
            length = int(headers.get("Content-Length", "0") or 0)
            body = await reader.readexactly(length) if length else b""
            if state.down:
                return
            assert state.requests is not None
            state.requests.append((method, path.split("?")[0]))
            if state.delay:
                await asyncio.sleep(state.delay)
            forwarded = {
                k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")
            }
            response = await upstream.request(method, path, headers=forwarded, content=body)
            if state.drop_responses > 0 and method == "POST":
                state.drop_responses -= 1
                return  # the server did the work; the caller never hears of it
            out = [f"HTTP/1.1 {response.status_code} X"]
            for name, value in response.headers.items():
                if name.lower() not in (
                    "content-length",
                    "transfer-encoding",
                    "connection",
                    "content-encoding",
                ):
                    out.append(f"{name}: {value}")
            out += [f"Content-Length: {len(response.content)}", "Connection: close", "", ""]
            writer.write("\r\n".join(out).encode("latin-1") + response.content)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        server.close()
        await upstream.aclose()


@asynccontextmanager
async def serve(app: Any, port: int | None = None, **config: Any) -> AsyncIterator[str]:
    """Run an ASGI app with uvicorn on a loopback port (a free one unless given), as a task of
    the test's loop; ``config``: more ``uvicorn.Config`` settings (``http=``, ``lifespan=``)."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
