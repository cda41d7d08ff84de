"""The web chat's history (``GET /chat/api/history``) and shared locations, seen from outside
(httpx against the app on loopback with the real Rasa NLU); and the storage read behind it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dialogs.messages import Inbound, Link, Outbound
from bot.storage.turns import SqlTurnStore
from bot.storage.web_history import HISTORY_LIMIT, recent_exchanges

NEIGHBOUR_NOISE = "楼上天天半夜装修吵得睡不着，帮我调解一下"
#: What a resident answers to each question of a report after the place.
ANSWERS = {
    "report.ask_time": "这个月初",
    "report.ask_other_party": "跳过",
    "report.ask_name": "匿名",
    "report.ask_phone": "13612345678",
    "report.consent": "同意",
}


class Resident:
    """One browser's worth of the web chat: a client that keeps the ``chat_uid`` cookie."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def say(self, text: str = "", **extra: Any) -> list[dict[str, Any]]:
        body = {"message_id": uuid.uuid4().hex, "text": text, **extra}
        response = await self.client.post("/chat/api/messages", json=body)
        assert response.status_code == 200, response.text
        replies: list[dict[str, Any]] = response.json()["replies"]
        return replies

    async def history(self) -> list[dict[str, Any]]:
        response = await self.client.get("/chat/api/history")
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages


@pytest_asyncio.fixture
async def residents(bot_http: str) -> AsyncIterator[list[Resident]]:
    """Two residents, each with the cookie the chat page gave them."""
    async with (
        httpx.AsyncClient(base_url=bot_http, timeout=30) as one,
        httpx.AsyncClient(base_url=bot_http, timeout=30) as two,
    ):
        for client in (one, two):
            assert (await client.get("/chat")).status_code == 200
            assert "chat_uid" in client.cookies
        assert one.cookies["chat_uid"] != two.cookies["chat_uid"]
        yield [Resident(one), Resident(two)]


@pytest.mark.rasa
async def test_history_is_the_cookie_owners_conversation_only(residents: list[Resident]) -> None:
    alice, bob = residents
    assert await alice.history() == []

    confirm = await alice.say(NEIGHBOUR_NOISE)
    ask_place = await alice.say("是")
    hello = await bob.say("你好")

    history = await alice.history()
    assert [m["text"] for m in history] == [NEIGHBOUR_NOISE, "是"]
    # The replies as the page got them live: same shape, same order, the last one's options.
    assert [m["replies"] for m in history] == [confirm, ask_place]
    assert confirm[-1]["key"] == "report.confirm_type"
    assert confirm[-1]["options"] == ["是", "不是"]
    assert ask_place[-1]["key"] == "report.ask_place"
    assert set(ask_place[-1]) == {"text", "options", "links", "key"}

    assert await bob.history() == [{"text": "你好", "replies": hello}]


@pytest.mark.rasa
async def test_no_cookie_or_a_strange_one_gets_nothing(residents: list[Resident], bot_http: str) -> None:
    alice, _ = residents
    await alice.say(NEIGHBOUR_NOISE)
    owner = alice.client.cookies["chat_uid"]
    for cookies in (
        {},
        {"chat_uid": uuid.uuid4().hex},  # well formed, never handed out
        {"chat_uid": "short"},
        {"chat_uid": owner.upper() + "!"},
        {"chat_uid": "' OR 1=1 --"},
    ):
        async with httpx.AsyncClient(base_url=bot_http, timeout=30, cookies=cookies) as stranger:
            response = await stranger.get("/chat/api/history")
            assert response.status_code == 200, response.text
            assert response.json() == {"messages": []}
            assert "set-cookie" not in response.headers


@pytest.mark.rasa
async def test_a_shared_location_answers_the_place_question(residents: list[Resident]) -> None:
    alice, _ = residents
    await alice.say("隔壁邻居在公共楼道里堆满了纸箱 说了几次都不搬 想请你们调解")
    assert (await alice.say("是"))[-1]["key"] == "report.ask_place"
    placed = await alice.say("", location={"latitude": 30.27, "longitude": 120.15})
    # The location answered the place: the bot asks what comes next, and the summary has it.
    assert placed[-1]["key"].startswith("report.ask_")
    assert placed[-1]["key"] not in ("report.ask_place", "report.place_invalid")
    replies = placed
    for _ in range(8):
        key = replies[-1]["key"]
        if key not in ANSWERS:
            break
        replies = await alice.say(ANSWERS[key])
    summary = replies[-1]
    assert summary["key"] == "report.summary", replies
    assert "30.27000,120.15000" in summary["text"]

    # In the history the location is a message without text (the page shows it as a location).
    history = await alice.history()
    assert history[2]["text"] in ("", None)
    assert history[2]["replies"] == placed


@pytest.mark.rasa
@pytest.mark.parametrize(
    "location",
    [
        {"latitude": 90.5, "longitude": 120.0},
        {"latitude": -91, "longitude": 120.0},
        {"latitude": 30.0, "longitude": 180.01},
        {"latitude": 30.0, "longitude": -181},
        {"latitude": "30.0", "longitude": "120.0"},
        {"latitude": True, "longitude": 120.0},
        {"latitude": 30.0},
        {"latitude": 30.0, "longitude": 120.0, "label": "<b>x</b>"},
        [30.0, 120.0],
        "30.0,120.0",
    ],
)
async def test_bad_locations_are_refused(residents: list[Resident], location: Any) -> None:
    alice, _ = residents
    body = {"message_id": uuid.uuid4().hex, "text": "", "location": location}
    response = await alice.client.post("/chat/api/messages", json=body)
    assert response.status_code == 422, response.text
    assert await alice.history() == []  # refused before the dialog saw it


@pytest.mark.rasa
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_locations_that_are_not_numbers_are_refused(residents: list[Resident], number: str) -> None:
    alice, _ = residents
    message_id = json.dumps(uuid.uuid4().hex)
    body = f'{{"message_id": {message_id}, "text": "", "location": {{"latitude": {number}, "longitude": 1}}}}'
    response = await alice.client.post(
        "/chat/api/messages", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text


@pytest.mark.rasa
async def test_a_location_outside_a_report_is_acknowledged(residents: list[Resident]) -> None:
    alice, _ = residents
    replies = await alice.say("", location={"latitude": -33.86, "longitude": 151.2})
    assert replies[-1]["key"] == "location_received"
    assert (await alice.say("你好", location=None))[-1]["text"]


# --- the storage read behind the history ---


async def _record(
    store: SqlTurnStore, channel: str, user_id: str, text: str, replies: tuple[Outbound, ...]
) -> None:
    async with store.transaction(channel, user_id) as tx:
        inbound = Inbound(channel, user_id, uuid.uuid4().hex, text, datetime.now(UTC))
        await tx.record_message(inbound, replies)


async def test_recent_exchanges_are_the_last_ones_in_order(database: AsyncEngine) -> None:
    store = SqlTurnStore(database)
    me, other = f"web-{uuid.uuid4().hex}", f"web-{uuid.uuid4().hex}"
    count = HISTORY_LIMIT + 5
    for n in range(count):
        await _record(
            store, "web", me, f"第{n}条", (Outbound(text=f"回复{n}", options=("是", "不是"), key="k"),)
        )
        if n % 10 == 0:
            await _record(store, "web", other, f"别人{n}", (Outbound(text="别人的回复"),))
            await _record(store, "wechat", me, f"微信{n}", (Outbound(text="微信的回复"),))
    link = Link("法律依据", "https://example.org/law")
    await _record(store, "web", me, "", (Outbound(text="收到位置", links=(link,), key="location_received"),))

    exchanges = await recent_exchanges(database, "web", me)
    assert len(exchanges) == HISTORY_LIMIT
    assert [e.text for e in exchanges] == [f"第{n}条" for n in range(count - HISTORY_LIMIT + 1, count)] + [""]
    assert exchanges[0].replies == (
        Outbound(text=f"回复{count - HISTORY_LIMIT + 1}", options=("是", "不是"), key="k"),
    )
    assert exchanges[-1].replies == (Outbound(text="收到位置", links=(link,), key="location_received"),)
    assert await recent_exchanges(database, "web", f"web-{uuid.uuid4().hex}") == []
    assert [e.text for e in await recent_exchanges(database, "web", other, limit=2)] == ["别人40", "别人50"]
