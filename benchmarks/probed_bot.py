"""`bot run` with the burst benchmark's probes (``python -m benchmarks.probed_bot``).

The bot's own metrics say how late requests start and replies leave (bot/timing.py) and how long
turns and parses take; these probes add what only an investigation needs, on the same
``/metrics``:

- ``bench_db_wait_seconds``: waiting for a database connection from the pool. SQLite runs one
  connection per process (bot/storage/db.py), so this is the time a transaction queued behind
  the others — the in-process form of SQLite's writer lock;
- ``bench_db_hold_seconds``: how long each holder kept the connection (checkout to checkin);
  their sum over the wall time is how busy the database path is;
- ``bench_nlu_http_seconds`` and ``bench_nlu_in_flight``: one HTTP exchange with Rasa, and how
  many were in flight when each started (the bot's own ``bot_nlu_seconds`` wraps retries too);
- ``BENCH_PROFILE=FILE``: a cProfile of the event loop's thread, written at exit (pstats).

And two knobs for experiments (docs/performance.md says what they showed):

- ``BENCH_SWITCH_INTERVAL=SECONDS``: ``sys.setswitchinterval`` (how long a thread may hold the GIL
  while another waits; aiosqlite runs each statement in its own thread);
- ``BENCH_WECHAT_CONCURRENCY=N``: at most N WeChat messages admitted and turned at once, the
  others waiting in arrival order.

They patch from outside; nothing here is imported by the bot.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import sys
import time
from typing import Any

from prometheus_client import Histogram
from sqlalchemy import event
from sqlalchemy.pool import Pool, QueuePool

from bot import metrics

_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8)
DB_WAIT = Histogram(
    "bench_db_wait_seconds",
    "Waiting for a pooled database connection",
    buckets=_BUCKETS,
    registry=metrics.REGISTRY,
)
DB_HOLD = Histogram(
    "bench_db_hold_seconds",
    "A database connection held, checkout to checkin",
    buckets=_BUCKETS,
    registry=metrics.REGISTRY,
)


NLU_HTTP = Histogram(
    "bench_nlu_http_seconds", "One HTTP exchange with Rasa", buckets=_BUCKETS, registry=metrics.REGISTRY
)
NLU_IN_FLIGHT = Histogram(
    "bench_nlu_in_flight",
    "Parses in flight when one starts",
    buckets=(0, 1, 2, 4, 8, 16, 32, 64),
    registry=metrics.REGISTRY,
)


def _probe_nlu() -> None:
    from bot.nlu.client import ParseResult, RasaClient

    parse_once = RasaClient._parse_once
    in_flight = [0]

    async def timed(self: RasaClient, text: str) -> ParseResult:
        NLU_IN_FLIGHT.observe(in_flight[0])
        in_flight[0] += 1
        started = time.perf_counter()
        try:
            return await parse_once(self, text)
        finally:
            in_flight[0] -= 1
            NLU_HTTP.observe(time.perf_counter() - started)

    RasaClient._parse_once = timed  # type: ignore[method-assign]


def install() -> None:
    _experiments()
    _probe_nlu()
    original = QueuePool._do_get

    def timed_get(self: QueuePool) -> Any:
        started = time.perf_counter()
        try:
            return original(self)
        finally:
            DB_WAIT.observe(time.perf_counter() - started)

    QueuePool._do_get = timed_get  # type: ignore[method-assign]
    held: dict[int, float] = {}

    @event.listens_for(Pool, "checkout")
    def _checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        held[id(dbapi_connection)] = time.perf_counter()

    @event.listens_for(Pool, "checkin")
    def _checkin(dbapi_connection: Any, _record: Any) -> None:
        started = held.pop(id(dbapi_connection), None)
        if started is not None:
            DB_HOLD.observe(time.perf_counter() - started)


def _experiments() -> None:
    interval = os.environ.get("BENCH_SWITCH_INTERVAL")
    if interval:
        sys.setswitchinterval(float(interval))
    limit = int(os.environ.get("BENCH_WECHAT_CONCURRENCY", "0"))
    if limit:
        from bot.handlers.wechat import WeChatWebhook

        work = WeChatWebhook._work
        gates: list[asyncio.Semaphore] = []

        async def limited(self: WeChatWebhook, *args: Any) -> Any:
            if not gates:
                gates.append(asyncio.Semaphore(limit))
            async with gates[0]:
                return await work(self, *args)

        WeChatWebhook._work = limited  # type: ignore[method-assign,assignment]


def main() -> None:
    from bot.cli_run import run_command

    install()
    profile_to = os.environ.get("BENCH_PROFILE")
    if not profile_to:
        run_command()
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        run_command()
    finally:
        profiler.disable()
        profiler.dump_stats(profile_to)


if __name__ == "__main__":
    main()
