"""Tiny misbehaving HTTP servers on 127.0.0.1, for fault tests of our HTTP clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


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
