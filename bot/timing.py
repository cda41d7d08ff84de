"""When a request arrived, as early as this process can know it, and how late the event loop runs.

A caller's clock starts when it sends; ours used to start when the route ran, after the request
had waited for the event loop, for uvicorn to parse it and for its body to be read. Under load
that wait is seconds, and a deadline counted from the route misses it. So:

- ``StampingH11Protocol`` (uvicorn's HTTP/1.1 protocol, ``bot run``) stamps a request when the
  first bytes of it are read from the socket, before parsing, before the ASGI task is scheduled;
- ``ArrivalStamp`` (outermost ASGI middleware) keeps that stamp, or stamps the request itself when
  the server did not (tests, other servers), before any middleware, lock, queue or body read, and
  reports it back in a ``Server-Timing`` header (``arrival;desc=<epoch seconds>``) so that a client
  on the same clock can tell how long the request waited before the process saw it (the kernel's
  accept queue and socket buffer, which no process can observe from the inside);
- ``arrival_of(scope)`` gives routes that stamp (``time.monotonic()`` and the wall clock).

``watch_event_loop`` samples how late the loop runs a timer: the time a ready callback (the next
request, the next database answer) waits behind other work, reported as
``bot_event_loop_lag_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot import metrics

#: Where the stamp lives in an ASGI scope (``scope["extensions"]``, as the ASGI spec asks).
KEY = "bot.arrival"


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request's arrival: ``monotonic`` for deadlines (``time.monotonic()``, the clock of
    asyncio's loop), ``wall`` for comparing with a caller's clock or a message's CreateTime."""

    monotonic: float
    wall: float
    #: Who stamped it: ``socket`` (first bytes read by the server) or ``app`` (the middleware).
    source: str = "app"

    @classmethod
    def now(cls, source: str = "app") -> Arrival:
        return cls(time.monotonic(), time.time(), source)

    def age(self) -> float:
        """Seconds since arrival."""
        return time.monotonic() - self.monotonic


def _extensions(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    extensions = scope.get("extensions")
    if not isinstance(extensions, dict):
        extensions = {}
        scope["extensions"] = extensions
    return extensions


def arrival_of(scope: MutableMapping[str, Any]) -> Arrival | None:
    stamp = _extensions(scope).get(KEY)
    return stamp if isinstance(stamp, Arrival) else None


def stamp(scope: MutableMapping[str, Any], arrival: Arrival) -> None:
    _extensions(scope)[KEY] = arrival


class StampingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, stamping each request when its first bytes are read.

    Passed to uvicorn as ``http=``. The stamp is taken in ``data_received`` while the connection
    waits for a new request (h11's peer state ``IDLE``), so a request whose head comes in several
    reads keeps the first; it is put into the scope uvicorn builds for that request, before the
    request's task can run. A pipelined request, parsed only after the previous response, gets no
    stamp here and is stamped by ``ArrivalStamp``.
    """

    _pending: Arrival | None = None

    def stamp_now(self) -> Arrival:
        return Arrival.now("socket")

    def data_received(self, data: bytes) -> None:
        if self._pending is None and self.conn.their_state is h11.IDLE:
            self._pending = self.stamp_now()
        before = getattr(self, "scope", None)
        super().data_received(data)
        after = getattr(self, "scope", None)
        if after is not before and isinstance(after, dict) and self._pending is not None:
            stamp(after, self._pending)
            self._pending = None


class ArrivalStamp:
    """Outermost middleware: every HTTP request carries its ``Arrival`` (see the module)."""

    def __init__(self, app: ASGIApp, *, timing_paths: tuple[str, ...] = ("/wechat",)) -> None:
        self.app = app
        self.timing_paths = timing_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrival = arrival_of(scope)
        if arrival is None:
            arrival = Arrival.now()
            stamp(scope, arrival)
        else:  # the server stamped it: how long its task waited for the loop to run it
            metrics.REQUEST_START_SECONDS.observe(max(arrival.age(), 0.0))
        if scope["path"] not in self.timing_paths:
            await self.app(scope, receive, send)
            return

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = max(arrival.age(), 0.0) * 1000
                value = f'arrival;desc="{arrival.wall:.6f}", total;dur={elapsed:.1f}'
                message = {
                    **message,
                    "headers": [*message.get("headers", ()), (b"server-timing", value.encode())],
                }
            await send(message)

        await self.app(scope, receive, send_timed)


@asynccontextmanager
async def watch_event_loop(interval: float = 0.1) -> AsyncIterator[None]:
    """While open, a task sleeps ``interval`` again and again and records by how much each sleep
    overran (``bot_event_loop_lag_seconds``): what any ready callback waited for the loop."""

    async def watch() -> None:
        loop = asyncio.get_running_loop()
        while True:
            planned = loop.time() + interval
            await asyncio.sleep(interval)
            metrics.EVENT_LOOP_LAG.observe(max(loop.time() - planned, 0.0))

    task = asyncio.create_task(watch(), name="event-loop-lag")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
