"""A staff member's move reaches the resident in seconds, not at the next progress poll: the
reference desk calls the bot's ``/backend/events`` (signed, no data) after a feed moves, and the
bot reads its feeds at once. The real bot app (its jobs, the real Rasa) and the real desk, each
on loopback, the progress poll set to ten minutes so that only the push can explain a quick
notice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import select

from backend_client.models import Step
from backend_client.webhook import signed_headers
from bot.app import create_app
from bot.dialogs.messages import Inbound
from bot.nlu.server import ManagedRasaServer
from bot.settings import Settings
from bot.storage import models
from bot.storage.db import sessions
from tests.conftest import DESK_TOKEN, PHONE, REPORT_ANSWERS
from tests.loopback import free_port, serve

pytestmark = pytest.mark.rasa

SECRET = "test-webhook-secret"
#: Long enough that a notice within the wait below can only come from the push.
POLL_EVERY = 600.0
WAIT = 20.0


@dataclass
class Pair:
    bot: Any  # the bot's FastAPI app (its runtime in app.state)
    bot_url: str
    desk: Any  # casedesk.store.Desk


@pytest_asyncio.fixture
async def pair(
    rasa_server: ManagedRasaServer, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Pair]:
    from casedesk.app import create_app as create_desk
    from casedesk.settings import Environment
    from casedesk.settings import Settings as DeskSettings

    bot_port = free_port()
    desk_app = create_desk(
        DeskSettings(
            _env_file=None,
            env=Environment.DEVELOPMENT,
            data_dir=tmp_path_factory.mktemp("desk-push"),
            api_token=SecretStr(DESK_TOKEN),
            session_secret=SecretStr("desk-push-session"),
            bot_webhook_url=f"http://127.0.0.1:{bot_port}/backend/events",
            bot_webhook_secret=SecretStr(SECRET),
        )
    )
    async with serve(desk_app) as desk_url:
        bot_settings = settings.model_copy(
            update={
                "data_dir": tmp_path_factory.mktemp("bot-push"),
                "nlu_url": rasa_server.url,
                "nlu_token": SecretStr(rasa_server.token),
                "backend_url": desk_url,
                "backend_token": SecretStr(DESK_TOKEN),
                "backend_webhook_secret": SecretStr(SECRET),
                "http_port": bot_port,
                "sync_interval": POLL_EVERY,
                "outbox_interval": 0.5,
            }
        )
        bot = create_app(bot_settings)
        async with serve(bot, port=bot_port) as bot_url:
            yield Pair(bot, bot_url, desk_app.state.desk)


async def _say(pair: Pair, user_id: str, text: str) -> str:
    inbound = Inbound("web", user_id, f"m-{datetime.now(UTC).timestamp()}", text, datetime.now(UTC))
    replies = await pair.bot.state.runtime.engine.handle(inbound)
    return str(replies[-1].key)


async def _until(check: Any, within: float) -> float:
    """Seconds until ``check()`` is truthy; fails after ``within`` seconds."""
    started = asyncio.get_running_loop().time()
    while not await check():
        assert asyncio.get_running_loop().time() - started < within, "it never happened"
        await asyncio.sleep(0.2)
    return asyncio.get_running_loop().time() - started


async def test_a_case_moved_at_the_desk_reaches_the_resident_without_waiting_for_the_poll(pair: Pair) -> None:
    user = "resident-push"
    answers = {**REPORT_ANSWERS, "report.ask_phone": PHONE}
    key = await _say(pair, user, "楼下饭店油烟天天往我家窗户里灌 说了不听 想请你们调解")
    for _ in range(15):
        if key == "report.summary":
            key = await _say(pair, user, "确认")
            break
        key = await _say(pair, user, answers[key])
    assert key == "report.receipt"
    made = sessions(pair.bot.state.runtime.database)

    async def filed() -> str | None:
        async with made() as session:
            return await session.scalar(
                select(models.Case.backend_case_no).where(models.Case.user_id == user)
            )

    await _until(filed, WAIT)
    case_no = await filed()
    assert case_no is not None
    await pair.desk.move_case(
        case_no, to=Step.MEDIATION, expected=Step.ACCEPTED, public_note=None, staff="调解员"
    )

    async def told() -> bool:
        async with made() as session:
            texts = await session.scalars(
                select(models.Notification.text).where(models.Notification.user_id == user)
            )
            return any("先行调解" in t for t in texts)

    await _until(told, WAIT)  # the poll would have taken ten minutes


async def test_unsigned_or_forged_calls_are_refused(pair: Pair) -> None:
    body = json.dumps({"event": "feeds_moved"}).encode()
    async with httpx.AsyncClient(base_url=pair.bot_url) as client:
        unsigned = await client.post("/backend/events", content=body)
        forged = await client.post("/backend/events", content=body, headers=signed_headers("wrong", body))
        stale = await client.post(
            "/backend/events", content=body, headers=signed_headers(SECRET, body, now=1_000_000_000)
        )
        signed = await client.post("/backend/events", content=body, headers=signed_headers(SECRET, body))
    assert [unsigned.status_code, forged.status_code, stale.status_code] == [403, 403, 403]
    assert signed.status_code == 204
