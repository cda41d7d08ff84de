"""The background jobs of one bot process, run by APScheduler 3 with an in-memory job store.

APScheduler must never share a job store between two schedulers, so each process has its own
scheduler and its jobs are safe to run everywhere at once: the outbox and the notifications
are claimed row by row (``bot.jobs.claims``), and the two feed readers take a lease
(``bot.jobs.leases``) so that one process reads each feed at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.channel import PeriodicJob

log = structlog.get_logger(__name__)


def _guarded(name: str, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await job()
        except Exception:  # a job that fails is retried at its next run; the scheduler goes on
            log.exception("job.failed", job=name)

    return run


def build_scheduler(jobs: Sequence[PeriodicJob]) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler()
    for job in jobs:
        first = {"next_run_time": datetime.now(UTC)} if job.at_start else {}
        scheduler.add_job(
            _guarded(job.name, job.run), "interval", seconds=job.every, id=job.name, max_instances=1,
            coalesce=True, misfire_grace_time=max(1, int(job.every)), **first,
        )  # fmt: skip
    return scheduler
