"""The case system for a process: the one at ``BOT_BACKEND_URL``, or the embedded reference case
desk (``casedesk``) started as a managed child process."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from backend_client import CaseSystemClient
from bot.nlu.server import free_port
from bot.process import ManagedProcess
from bot.settings import PROJECT_ROOT, Settings


@dataclass(slots=True)
class Backend:
    client: CaseSystemClient
    url: str
    #: The embedded desk the bot started, or None when it uses one at BOT_BACKEND_URL.
    managed: ManagedProcess | None
    #: Signs the case system's "feeds moved" calls (None: the bot only polls).
    webhook_secret: str | None = None


def embedded_desk(settings: Settings, *, port: int, token: str, webhook_secret: str) -> ManagedProcess:
    env = {
        **os.environ,
        "CASEDESK_DATA_DIR": str(settings.data_dir / "casedesk"),
        "CASEDESK_API_TOKEN": token,
        "CASEDESK_PORT": str(port),
        "CASEDESK_HOST": "127.0.0.1",
        # A staff member's move reaches the resident in seconds, not at the next poll.
        "CASEDESK_BOT_WEBHOOK_URL": f"http://127.0.0.1:{settings.http_port}/backend/events",
        "CASEDESK_BOT_WEBHOOK_SECRET": webhook_secret,
    }
    env.pop("CASEDESK_DATABASE_URL", None)
    url = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        async with CaseSystemClient(url, token, timeout=2, attempts=1) as client:
            return await client.is_reachable()

    return ManagedProcess(
        "casedesk",
        [sys.executable, "-m", "casedesk", "serve"],
        env=env,
        log_path=settings.data_dir / "logs" / "casedesk.log",
        ready=ready,
        startup_timeout=60,
        cwd=PROJECT_ROOT,
    )


@asynccontextmanager
async def backend_runtime(settings: Settings) -> AsyncIterator[Backend]:
    managed: ManagedProcess | None = None
    secret = settings.backend_webhook_secret.get_secret_value() if settings.backend_webhook_secret else None
    if settings.backend_url:
        url = settings.backend_url
        token = settings.backend_token.get_secret_value() if settings.backend_token else ""
    else:
        port = free_port(settings.casedesk_port)
        token = (
            settings.backend_token.get_secret_value() if settings.backend_token else secrets.token_urlsafe(24)
        )
        url = f"http://127.0.0.1:{port}"
        secret = secret or secrets.token_urlsafe(24)
        managed = embedded_desk(settings, port=port, token=token, webhook_secret=secret)
        await managed.start()
    client = CaseSystemClient(url, token, timeout=settings.backend_timeout)
    try:
        yield Backend(client, url, managed, secret)
    finally:
        await client.aclose()
        if managed:
            await managed.stop()
