"""What every door of the app shares: a per-resident rate limit with a polite pause (never for
danger), a cap on request bodies, and the Prometheus figures operators watch."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.nlu.classifier import Classifier
from bot.settings import Settings
from bot.wiring import build_engine
from tests.conftest import Resident

pytestmark = pytest.mark.rasa


async def test_a_resident_who_floods_is_asked_to_pause_but_danger_still_gets_through(
    db_settings: Settings, database: AsyncEngine, classifier: Classifier
) -> None:
    engine = build_engine(db_settings.model_copy(update={"rate_limit_messages": 3}), database, classifier)
    resident = Resident(engine)
    for text in ["你好", "菜单", "法律知识"]:
        assert (await resident.say(text, message_id=f"m-{text}"))[-1].key != "rate_limited"
    paused = await resident.say("邻居装修太吵了")
    assert [r.key for r in paused] == ["rate_limited"]
    assert "稍等" in paused[0].text
    # A redelivery of a message already handled is still answered from the record.
    assert (await resident.say("菜单", message_id="m-菜单"))[-1].key != "rate_limited"
    # Imminent danger is never kept waiting.
    alarm = await resident.say("他拿着刀说要砍死我，现在就在我家门口")
    assert alarm[0].key == "urgent.alert"
    # Another resident is not affected.
    assert (await Resident(engine).say("你好"))[-1].key != "rate_limited"


async def test_bodies_over_the_limit_are_refused_on_every_route(bot_http: str) -> None:
    big = b"x" * (6 * 1024 * 1024)
    async with httpx.AsyncClient(base_url=bot_http, timeout=30) as client:
        for path in ["/chat/api/messages", "/wechat", "/telegram/webhook", "/healthz"]:
            response = await client.post(path, content=big, headers={"content-type": "application/json"})
            assert response.status_code == 413, path
        # A body that streams without announcing its length is cut off too.

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(40):
                yield b"y" * 65536

        response = await client.post(
            "/chat/api/messages", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        # Ordinary messages still go through.
        ok = await client.post("/chat/api/messages", json={"message_id": uuid.uuid4().hex, "text": "你好"})
        assert ok.status_code == 200


async def test_metrics_count_messages_turns_and_queues(bot_http: str) -> None:
    async with httpx.AsyncClient(base_url=bot_http, timeout=30) as client:
        before = _samples((await client.get("/metrics")).text)
        # Long enough not to be answered from the NLU's cache of short answers.
        stories = [
            "楼上邻居天天半夜拖椅子，吵得我们全家都睡不着觉，物业也不管",
            "公司已经拖欠我三个月的工资了，老板一直说下个月再给，我该怎么办",
        ]
        for text in stories:
            await client.post("/chat/api/messages", json={"message_id": uuid.uuid4().hex, "text": text})
        scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    after = _samples(scraped.text)

    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert grew('bot_messages_in_total{channel="web"}') == 2
    assert grew('bot_messages_out_total{channel="web"}') >= 2
    assert grew('bot_turn_seconds_count{channel="web"}') == 2
    assert grew("bot_nlu_seconds_count") >= 2
    for gauge in ["bot_outbox_depth", "bot_notifications_waiting", "bot_nlu_failures_total"]:
        assert gauge in after


def _samples(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
