"""The Rasa server as a managed child process (``bot.process``): bound to 127.0.0.1 (Rasa binds
0.0.0.0 by default) with an auth token."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

from bot.nlu.client import RasaClient
from bot.nlu.rasa_env import rasa_environment, rasa_executable
from bot.process import ManagedProcess


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


class ManagedRasaServer(ManagedProcess):
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
        self.model_path = model_path
        self.port = port
        # Hex: a token starting with "-" would be read by rasa's argument parser as an option.
        self.token = token or secrets.token_hex(24)
        argv = [
            str(rasa_executable(rasa_venv)), "run", "--enable-api", "-m", str(model_path),
            "-i", "127.0.0.1", "-p", str(port), "--auth-token", self.token,
        ]  # fmt: skip
        super().__init__(
            "rasa",
            argv,
            env=rasa_environment(),
            log_path=log_path,
            ready=self._is_ready,
            startup_timeout=startup_timeout,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _is_ready(self) -> bool:
        async with RasaClient(self.url, token=self.token) as client:
            return await client.is_ready()
