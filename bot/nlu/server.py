"""A Rasa server run by the bot as a managed child process.

Bound to 127.0.0.1 (Rasa binds 0.0.0.0 by default) with an auth token, restarted when it dies,
stopped when the bot stops — and, through the kernel's parent-death signal, also when the bot
is killed outright, so no orphan keeps the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import secrets
import signal
import socket
import time
from pathlib import Path

import structlog

from bot.nlu.client import RasaClient
from bot.nlu.rasa_env import rasa_environment, rasa_executable

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(preferred: int | None = None) -> int:
    """``preferred`` when it is free on 127.0.0.1, otherwise any free port."""
    candidates = [preferred] if preferred else []
    for port in [*candidates, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free port on 127.0.0.1")


class RasaServerError(RuntimeError):
    pass


class ManagedRasaServer:
    def __init__(
        self,
        *,
        rasa_venv: Path,
        model_path: Path,
        port: int,
        log_path: Path,
        token: str | None = None,
        startup_timeout: float = 240.0,
    ) -> None:
        self._exe = rasa_executable(rasa_venv)
        self.model_path = model_path
        self.port = port
        self.token = token or secrets.token_urlsafe(24)
        self._log_path = log_path
        self._startup_timeout = startup_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping = False
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> None:
        await self._spawn()
        self._watchdog = asyncio.create_task(self._watch(), name="rasa-watchdog")

    async def _spawn(self) -> None:
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self._exe), "run", "--enable-api", "-m", str(self.model_path),
            "-i", "127.0.0.1", "-p", str(self.port), "--auth-token", self.token,
        ]  # fmt: skip
        log.info("nlu.server.starting", port=self.port, model=self.model_path.name)
        with self._log_path.open("ab") as out:
            self._process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=rasa_environment(),
                preexec_fn=_die_with_parent,  # only sets the parent-death signal
            )
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        async with RasaClient(self.url, token=self.token) as client:
            while time.monotonic() < deadline:
                if self._process is None or self._process.returncode is not None:
                    raise RasaServerError(f"Rasa exited while starting; see {self._log_path}")
                if await client.is_ready():
                    log.info("nlu.server.ready", port=self.port)
                    return
                await asyncio.sleep(0.5)
        await self._terminate()
        raise RasaServerError(
            f"Rasa did not become ready in {self._startup_timeout:.0f}s; see {self._log_path}"
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
            log.warning("nlu.server.died", returncode=code, restarts=self.restarts)
            await asyncio.sleep(min(30.0, 2.0 * self.restarts))
            try:
                await self._spawn()
            except RasaServerError:
                log.exception("nlu.server.restart_failed")

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
        log.info("nlu.server.stopped")
