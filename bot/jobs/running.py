"""The job runs under way in one process, so that shutting down stops them before the database
goes: a run cut off mid-query would hand its connection back to a pool already disposed (and
leak it), and a run still starting would find no database at all."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class RunningJobs:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def track(self, run: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """``run``, counted while it runs (the scheduler starts it as a task of its own)."""

        async def tracked() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
            try:
                await run()
            finally:
                if task is not None:
                    self._tasks.discard(task)

        return tracked

    def adopt(self, task: asyncio.Task[None]) -> None:
        """A run started outside the scheduler (a nudge), counted until it finishes."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def __len__(self) -> int:
        return sum(not task.done() for task in self._tasks)

    async def settle(self, grace: float = 5.0) -> None:
        """Let the runs under way finish, for up to ``grace`` seconds; cancel the rest and wait
        until they have unwound (their sessions closed)."""
        pending = {task for task in self._tasks if not task.done()}
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
