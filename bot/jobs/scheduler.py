"""The background jobs of one bot process, run by APScheduler 3 with an in-memory job store.

APScheduler must never share a job store between two schedulers, so each process has its own
scheduler and its jobs are safe to run everywhere at once: the outbox and the notifications
are claimed row by row (``bot.jobs.claims``), and the two feed readers take a lease
(``bot.jobs.leases``) so that one process reads each feed at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.jobs.handoff_events import HandoffEvents
from bot.jobs.notify import Dispatcher
from bot.jobs.outbox import OutboxWorker
from bot.jobs.sync import ProgressSync

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Intervals:
    outbox: float = 3.0
    notifications: float = 2.0
    handoff_events: float = 2.0
    progress_sync: float = 120.0


def _guarded(name: str, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await job()
        except Exception:  # a job that fails is retried at its next run; the scheduler goes on
            log.exception("job.failed", job=name)

    return run


def build_scheduler(
    *,
    outbox: OutboxWorker,
    dispatcher: Dispatcher,
    sync: ProgressSync,
    handoffs: HandoffEvents,
    intervals: Intervals,
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler()
    jobs: list[tuple[str, Callable[[], Awaitable[object]], float]] = [
        ("outbox", outbox.flush_once, intervals.outbox),
        ("notifications", dispatcher.dispatch_once, intervals.notifications),
        ("handoff_events", handoffs.poll_once, intervals.handoff_events),
        ("progress_sync", sync.sync_once, intervals.progress_sync),
    ]
    for name, job, seconds in jobs:
        scheduler.add_job(
            _guarded(name, job), "interval", seconds=seconds, id=name, max_instances=1, coalesce=True,
            misfire_grace_time=max(1, int(seconds)),
        )  # fmt: skip
    return scheduler
