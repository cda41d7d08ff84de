"""The reply budget counts from the request's arrival, as WeChat's five seconds count from its
sending: a request that waited before the handler (behind other requests, the event loop, the
database) has less time, and a reply that misses the budget is counted late however it goes out.

The app is the real one (uvicorn with the bot's stamping protocol, the arrival middleware, the
WeChat route and handler, SQLite); only the engine is a stand-in, so no Rasa is needed, and the
past is injected through the server's own stamp — no test here waits for a clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from starlette.types import Receive, Scope, Send

from bot import metrics
from bot.app import create_app
from bot.dialogs.messages import Inbound, Outbound
from bot.handlers.wechat import WeChatWebhook
from bot.settings import Settings, WeChatMode
from bot.storage import models
from bot.timing import Arrival, ArrivalStamp, StampingH11Protocol, arrival_of
from tests.loopback import serve
from tests.wechat.wechat_server import Resident, WeChatServer, random_aes_key

TOKEN = "wechatArrivalToken"
APP_ID = "wx0a1b2c3d4e5f6a7b"
NOWHERE = "http://127.0.0.1:9"
REPLY = "收到，我们会尽快处理。"


class Waited(StampingH11Protocol):
    """The bot's protocol, but each request's first bytes 'arrived' ``seconds`` ago: what a
    request that queued before the handler (behind others, the loop, the database) looks like."""

    seconds = 0.0

    def stamp_now(self) -> Arrival:
        now = Arrival.now("socket")
        return Arrival(now.monotonic - self.seconds, now.wall - self.seconds, now.source)


@dataclass
class Engine:
    """The engine's stand-in: answers at once; ``during`` runs inside the turn."""

    during: Callable[[], None] = lambda: None
    seen: list[str] = field(default_factory=list)

    async def handle(self, inbound: Inbound) -> tuple[Outbound, ...]:
        self.seen.append(inbound.text)
        self.during()
        return (Outbound(REPLY, key="test.reply"),)


@dataclass
class Running:
    app: FastAPI
    wechat: WeChatServer
    webhook: WeChatWebhook


@pytest_asyncio.fixture(scope="module")
async def started(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    aes_key = random_aes_key()
    app_settings = settings.model_copy(
        update={
            "data_dir": tmp_path_factory.mktemp("wechat-arrival"),
            "database_url": None,
            "nlu_url": NOWHERE,
            "nlu_token": SecretStr("unused"),
            "backend_url": NOWHERE,
            "backend_token": SecretStr("unused"),
            "jobs": False,
            "wechat_token": SecretStr(TOKEN),
            "wechat_app_id": APP_ID,
            "wechat_encoding_aes_key": SecretStr(aes_key),
            "wechat_mode": WeChatMode.SAFE,
            "wechat_api_url": NOWHERE,
        }
    )
    app = create_app(app_settings)
    async with serve(app, http=Waited) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        webhook = app.state.runtime.adapters["wechat"]
        wechat = WeChatServer(client, token=TOKEN, app_id=APP_ID, aes_key=aes_key, mode="safe")
        yield Running(app, wechat, webhook)


@pytest.fixture
def bot(started: Running) -> Iterator[Running]:
    """The running app, its requests arriving now, its engine and clock restored after each test."""
    webhook = started.webhook
    engine, clock = webhook.engine, webhook.clock
    yield started
    Waited.seconds = 0.0
    webhook.engine, webhook.clock = engine, clock


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def late_texts(bot: Running, openid: str) -> list[str]:
    async with bot.app.state.runtime.database.connect() as connection:
        rows = await connection.execute(
            select(models.Notification.text)
            .where(models.Notification.user_id == openid)
            .where(models.Notification.dedupe_key.like("wechat-late:%"))
        )
        return [row[0] for row in rows]


async def test_a_request_that_waited_past_the_budget_goes_late_and_is_counted(bot: Running) -> None:
    Waited.seconds = bot.webhook.settings.wechat_reply_budget + 0.5
    engine = Engine()
    bot.webhook.engine = engine
    pushed = sample("bot_wechat_late_replies_total", how="pushed")
    passive = sample("bot_wechat_late_replies_total", how="passive")
    answered = sample("bot_wechat_response_seconds_count", answer="success")
    resident = bot.wechat.resident()
    message = resident.text_xml("邻居装修太吵", msg_id=Resident.msg_id())

    sent = await resident.send(message)

    # The turn would have answered at once, but the request had used its budget before the
    # handler saw it: the deadline counts from arrival, so the late path answers.
    assert (sent.status, sent.response.text) == (200, "success")
    assert sample("bot_wechat_late_replies_total", how="pushed") == pushed + 1
    assert sample("bot_wechat_late_replies_total", how="passive") == passive
    assert sample("bot_wechat_response_seconds_count", answer="success") == answered + 1
    await bot.webhook.drain()
    assert engine.seen == ["邻居装修太吵"]  # the turn still ran, once
    assert await late_texts(bot, resident.openid) == [REPLY]  # and its reply follows by push

    # WeChat's retry of the message (a new nonce, the same MsgId) gets "success" again and
    # neither a second turn nor a second copy of the reply.
    retry = await resident.send(message)
    await bot.webhook.drain()
    assert (retry.status, retry.response.text) == (200, "success")
    assert engine.seen == ["邻居装修太吵"]
    assert await late_texts(bot, resident.openid) == [REPLY]


async def test_a_request_that_queued_within_the_budget_is_answered_passively_and_reports_its_arrival(
    bot: Running,
) -> None:
    Waited.seconds = bot.webhook.settings.wechat_reply_budget / 2  # queued, but in time
    bot.webhook.engine = Engine()
    late = [sample("bot_wechat_late_replies_total", how=how) for how in ("pushed", "passive")]
    queued = sample("bot_wechat_queue_seconds_count")

    sent = await bot.wechat.resident().say("你好")

    assert sent.text == REPLY
    assert sample("bot_wechat_queue_seconds_count") == queued + 1
    assert [sample("bot_wechat_late_replies_total", how=how) for how in ("pushed", "passive")] == late
    timing = sent.response.headers["server-timing"]
    assert timing.startswith('arrival;desc="') and "total;dur=" in timing


async def test_a_passive_reply_that_leaves_after_the_budget_is_counted_late(bot: Running) -> None:
    """The turn ends inside the budget as the wait saw it, but by the time the reply is handed to
    the server the budget has passed (the webhook's clock moves on during the turn)."""
    moved = 0.0
    real_clock = bot.webhook.clock

    def clock() -> float:
        return real_clock() + moved

    def slow_turn() -> None:
        nonlocal moved
        moved = bot.webhook.settings.wechat_reply_budget + 0.5

    bot.webhook.clock = clock
    bot.webhook.engine = Engine(during=slow_turn)
    passive = sample("bot_wechat_late_replies_total", how="passive")

    sent = await bot.wechat.resident().say("你好")

    assert sent.text == REPLY  # it did go out passively…
    assert sample("bot_wechat_late_replies_total", how="passive") == passive + 1  # …and late


async def test_the_server_stamps_each_request_when_its_first_bytes_are_read() -> None:
    seen: list[Arrival | None] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        seen.append(arrival_of(scope))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async with (
        serve(ArrivalStamp(app, timing_paths=("/t",)), http=StampingH11Protocol, lifespan="off") as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        before_first = Arrival.now()
        first = await client.post("/t", content=b"x")
        before_second = Arrival.now()
        second = await client.get("/other")  # same kept-alive connection

    assert (first.status_code, second.status_code) == (200, 200)
    assert "server-timing" in first.headers and "server-timing" not in second.headers
    stamps = [stamp for stamp in seen if stamp is not None]
    assert [stamp.source for stamp in stamps] == ["socket", "socket"]
    # Each request keeps its own stamp, taken after it was sent (not a stale one from before).
    assert before_first.monotonic <= stamps[0].monotonic <= before_second.monotonic <= stamps[1].monotonic


async def test_requests_without_a_server_stamp_are_stamped_by_the_middleware() -> None:
    seen: list[Arrival | None] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(arrival_of(scope))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=ArrivalStamp(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.get("/healthz")
    assert len(seen) == 1 and seen[0] is not None and seen[0].source == "app"
