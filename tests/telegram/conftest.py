"""The Telegram channel under test: the webhook route served on loopback with the real engine and
database, PTB pointed at the fake Bot API (``tests/fakes/telegram_api.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.dialogs.replies import Replies
from bot.handlers.telegram import SECRET_HEADER
from bot.nlu.server import ManagedRasaServer
from bot.settings import Settings
from bot.storage.db import sessions
from bot.storage.models import InboundUpdate
from bot.telegram.runtime import TelegramChannel
from tests.fakes.telegram_api import SECRET, FakeTelegram, fake_telegram
from tests.loopback import serve

__all__ = ["fake_telegram"]

NOWHERE = "http://127.0.0.1:9"  # nothing listens there
#: Small, so that tests with several replies to one chat stay quick; spacing is still checked.
CHAT_INTERVAL = 0.2


@dataclass
class TelegramBot:
    """The bot as Telegram sees it: a webhook address, plus its channel and database for checks."""

    url: str
    channel: TelegramChannel
    settings: Settings
    database: AsyncEngine
    fake: FakeTelegram

    async def deliver(self, update: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
        """POST an update as Telegram does, then wait until the bot has handled it."""
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(f"{self.url}/telegram/webhook", json=update, headers=headers)
        await self.channel.idle()
        return response

    async def stored(self, update_id: int) -> list[InboundUpdate]:
        async with sessions(self.database)() as session:
            rows = await session.scalars(
                select(InboundUpdate).where(InboundUpdate.update_id == str(update_id))
            )
            return list(rows)

    async def count_stored(self) -> int:
        async with sessions(self.database)() as session:
            return int(await session.scalar(select(func.count()).select_from(InboundUpdate)) or 0)


@pytest.fixture(scope="session")
def replies(settings: Settings) -> Replies:
    return Replies.load(settings.knowledge_dir)


@pytest_asyncio.fixture
async def telegram_bot(
    fake_telegram: FakeTelegram, db_settings: Settings, database: AsyncEngine, rasa_server: ManagedRasaServer
) -> AsyncIterator[TelegramBot]:
    """The bot's real app (``create_app``) with Telegram on, pointed at the fake Bot API. The case
    system is not needed here, so the jobs are off: the route itself kicks the processing."""
    settings = fake_telegram.configure(
        db_settings,
        telegram_chat_interval=CHAT_INTERVAL,
        nlu_url=rasa_server.url,
        nlu_token=SecretStr(rasa_server.token),
        backend_url=NOWHERE,
        backend_token=SecretStr("unused"),
        jobs=False,
    )
    app = create_app(settings)
    async with serve(app) as url:
        channel = app.state.runtime.adapters["telegram"]
        yield TelegramBot(url, channel, settings, database, fake_telegram)
