"""A child process the bot runs and looks after (the Rasa server, the embedded case desk):
started with an argv, ready when a probe says so, restarted when it dies, stopped with the bot —
and, through the kernel's parent-death signal, also when the bot is killed outright."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ProcessError(RuntimeError):
    pass


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        log_path: Path,
        ready: Callable[[], Awaitable[bool]],
        startup_timeout: float,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self._argv = argv
        self._env = env
        self._log_path = log_path
        self._ready = ready
        self._startup_timeout = startup_timeout
        self._cwd = cwd
        self._process: asyncio.subprocess.Process | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping = False
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> None:
        await self._spawn()
        self._watchdog = asyncio.create_task(self._watch(), name=f"{self.name}-watchdog")

    async def _spawn(self) -> None:
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        log.info("process.starting", process=self.name)
        with self._log_path.open("ab") as out:
            self._process = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=self._env,
                cwd=self._cwd,
                preexec_fn=_die_with_parent,  # only sets the parent-death signal
            )
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.returncode is not None:
                raise ProcessError(f"{self.name} exited while starting; see {self._log_path}")
            if await self._ready():
                log.info("process.ready", process=self.name)
                return
            await asyncio.sleep(0.5)
        await self._terminate()
        raise ProcessError(
            f"{self.name} did not become ready in {self._startup_timeout:.0f}s; see {self._log_path}"
        )

    async def _watch(self) -> None:
        while not self._stopping:
            process = self._process
            if process is None:
                return
            code = await process.wait()
            if self._stopping:
                return
            self.restarts += 1
            log.warning("process.died", process=self.name, returncode=code, restarts=self.restarts)
            await asyncio.sleep(min(30.0, 2.0 * self.restarts))
            try:
                await self._spawn()
            except ProcessError:
                log.exception("process.restart_failed", process=self.name)

    async def _terminate(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def stop(self) -> None:
        self._stopping = True
        await self._terminate()
        if self._watchdog:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        log.info("process.stopped", process=self.name)
