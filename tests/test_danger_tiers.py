"""Danger in three tiers: ``alarm`` (the urgent path), ``check`` (a caring safety question) and
``none``. The rule tier and the danger model decide together; the rules never wait on a slow
model; a possible danger asks, pauses the report, and reaches staff if nobody answers.

The danger model's own judgement on real messages is measured by ``bot nlu eval`` on the dev and
sealed sets (docs/nlu.md); here a scripted model stands in, so each rule of combination is tested
on exactly the scores it is about."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dialogs.engine import DialogEngine
from bot.nlu.classifier import Classifier, Risk
from bot.nlu.client import NluUnavailable, ParseResult, RasaClient
from bot.nlu.urgent import UrgentRules
from bot.settings import Settings
from bot.storage import models
from bot.wiring import build_engine
from tests.conftest import Resident
from tests.loopback import http_server

CALM = {"alarm": 0.01, "check": 0.02, "none": 0.97}
POSSIBLE = {"alarm": 0.15, "check": 0.55, "none": 0.30}
CLEAR = {"alarm": 0.85, "check": 0.10, "none": 0.05}


def _parse(risk: dict[str, float], label: str = "report_dispute+neighbor") -> ParseResult:
    ranking = ((label, 0.8), ("ask_legal+neighbor", 0.1), ("greet", 0.1))
    return ParseResult(label=label, confidence=0.8, ranking=ranking, entities=(), risk=dict(risk))


class ScriptedModel:
    """A stand-in for Rasa: the danger scores a message gets, by its first characters."""

    def __init__(self, script: dict[str, dict[str, float]], *, down: bool = False) -> None:
        self.script = script
        self.down = down
        self.calls = 0

    async def parse(self, text: str) -> ParseResult:
        self.calls += 1
        if self.down:
            raise NluUnavailable("scripted outage")
        for start, risk in self.script.items():
            if text.startswith(start):
                return _parse(risk)
        return _parse(CALM)


@pytest.fixture(scope="module")
def rules(settings: Settings) -> UrgentRules:
    return UrgentRules.load(settings.knowledge_dir)


async def test_the_model_alone_can_raise_an_alarm_without_any_alarming_word(rules: UrgentRules) -> None:
    model = ScriptedModel({"药都攒够了": CLEAR})
    c = await Classifier(model, rules, max_chars=1000).classify("药都攒够了 孩子以后拜托你们照顾")
    assert (c.risk, c.urgent, c.intent, c.dispute_type) == (Risk.ALARM, True, "urgent_risk", None)
    assert c.urgent_categories == ("model",)


async def test_a_few_characters_alone_get_a_question_not_an_alarm_from_the_model(rules: UrgentRules) -> None:
    # "今晚" may answer "什么时候发生的？"; the model alone cannot tell, so it asks.
    classifier = Classifier(ScriptedModel({"今晚": CLEAR, "救命": POSSIBLE}), rules, max_chars=1000)
    assert (await classifier.classify("今晚")).risk is Risk.CHECK
    assert (await classifier.classify("今晚他们就要来砸店")).risk is Risk.ALARM
    assert (await classifier.classify("救命")).risk is Risk.ALARM  # the rules are not capped


async def test_possible_danger_is_a_check_that_keeps_the_dispute(rules: UrgentRules) -> None:
    model = ScriptedModel({"他说迟早": POSSIBLE})
    c = await Classifier(model, rules, max_chars=1000).classify("他说迟早让我们家好看 邻居天天堵门")
    assert (c.risk, c.urgent) == (Risk.CHECK, False)
    assert (c.intent, c.dispute_type) == ("report_dispute", "neighbor")


async def test_a_calm_message_is_none(rules: UrgentRules) -> None:
    c = await Classifier(ScriptedModel({}), rules, max_chars=1000).classify("楼上漏水 物业不管")
    assert c.risk is Risk.NONE


async def test_the_model_turns_a_figure_of_speech_the_rules_took_literally_into_a_question(
    rules: UrgentRules,
) -> None:
    # The rules see 想死 and alarm; the model, sure it is calm, lowers it to a safety question.
    c = await Classifier(ScriptedModel({}), rules, max_chars=1000).classify("想死你了 周末出来吃饭")
    assert c.risk is Risk.CHECK


async def test_danger_words_in_the_news_or_a_legal_question_are_left_to_the_model(rules: UrgentRules) -> None:
    classifier = Classifier(ScriptedModel({}), rules, max_chars=1000)
    for text in ["看新闻说有人跳河被救上来了", "家暴可以申请人身安全保护令吗 怎么申请"]:
        assert (await classifier.classify(text)).risk is Risk.NONE, text
    worried = Classifier(
        ScriptedModel({"电视上": {"alarm": 0.8, "check": 0.1, "none": 0.1}}), rules, max_chars=1000
    )
    # ... which still sees the resident's own danger behind the distance marker.
    assert (await worried.classify("电视上那个人拿着刀 跟我老公现在一模一样")).risk is Risk.ALARM


async def test_violence_that_is_over_is_at_most_a_question(rules: UrgentRules) -> None:
    model = ScriptedModel({"去年": CLEAR})
    c = await Classifier(model, rules, max_chars=1000).classify("去年他把我打得头破血流 想要回医药费")
    assert c.risk is Risk.CHECK and not c.urgent


async def test_with_the_model_down_the_rules_alarm_and_distant_words_ask(rules: UrgentRules) -> None:
    classifier = Classifier(ScriptedModel({}, down=True), rules, max_chars=1000)
    assert (await classifier.classify("我不想活了")).risk is Risk.ALARM
    assert (await classifier.classify("看新闻说有人喝农药了 好可怜")).risk is Risk.CHECK
    assert (await classifier.classify("楼上漏水")).risk is Risk.NONE


async def test_a_hung_rasa_does_not_delay_the_rules_alarm(rules: UrgentRules) -> None:
    async with http_server(status=None) as hung, RasaClient(hung.url, timeout=30, retries=0) as client:
        classifier = Classifier(client, rules, max_chars=1000)
        started = time.monotonic()
        c = await classifier.classify("我不想活了 药已经买好了")
        elapsed = time.monotonic() - started
    assert c.risk is Risk.ALARM and c.self_harm
    assert elapsed < 5  # the NLU's own timeout is 30 s: the rules did not wait for it


async def test_a_long_post_that_ends_with_thanks_is_not_a_thank_you(rules: UrgentRules) -> None:
    """Small talk is short: a long question signed off with 谢谢 keeps its substantive intent."""

    class ThankfulModel:
        async def parse(self, text: str) -> ParseResult:
            ranking = (("thanks", 0.55), ("ask_legal+labor", 0.3), ("report_dispute+labor", 0.15))
            return ParseResult(label="thanks", confidence=0.55, ranking=ranking, entities=(), risk=dict(CALM))

    classifier = Classifier(ThankfulModel(), rules, max_chars=1000)
    assert (await classifier.classify("谢谢你们")).intent == "thanks"
    long = (
        "我在工地干了半年活，包工头说年底一起结，现在过年了人找不到，电话也不接，请问这种情况怎么办？谢谢！"
    )
    c = await classifier.classify(long)
    assert (c.intent, c.dispute_type) == ("ask_legal", "labor")


# --- the conversation: ask, pause, resolve or escalate ---


@pytest.fixture
def scripted_engine(db_settings: Settings, database: AsyncEngine, rules: UrgentRules) -> DialogEngine:
    model = ScriptedModel({"他说迟早": POSSIBLE, "他又来了": CLEAR, "邻居家狗": POSSIBLE})
    return build_engine(db_settings, database, Classifier(model, rules, max_chars=1000))


async def _safety_items(database: AsyncEngine, user_id: str) -> list[dict[str, Any]]:
    async with database.connect() as connection:
        rows = await connection.execute(
            select(models.OutboxItem.payload, models.OutboxItem.next_attempt_at).where(
                models.OutboxItem.kind == "handoff"
            )
        )
        return [
            {**payload, "due": due}
            for payload, due in rows
            if payload.get("safety_check") and payload.get("user_id") == user_id
        ]


async def test_a_possible_danger_asks_and_a_safe_answer_withdraws_the_staff_request_and_goes_on(
    scripted_engine: DialogEngine, database: AsyncEngine
) -> None:
    resident = Resident(scripted_engine)
    asked = await resident.say("他说迟早让我们家好看 邻居天天堵门")
    assert [r.key for r in asked] == ["safety.ask"]
    assert all(number in asked[0].text for number in ("110", "120", "12356"))
    [queued] = await _safety_items(database, resident.user_id)
    due = queued["due"] if queued["due"].tzinfo else queued["due"].replace(tzinfo=UTC)
    assert timedelta(minutes=3) < due - datetime.now(UTC) <= timedelta(minutes=5)
    glad = await resident.say("我现在安全 没事")
    # ... and the dispute told with the worrying words is registered, not lost.
    assert [r.key for r in glad] == ["safety.glad_report", "report.confirm_type"]
    assert "邻里纠纷" in glad[1].text
    assert await _safety_items(database, resident.user_id) == []


async def test_not_safe_raises_the_alarm_at_once(
    scripted_engine: DialogEngine, database: AsyncEngine
) -> None:
    resident = Resident(scripted_engine)
    await resident.say("他说迟早让我们家好看 邻居天天堵门")
    alarm = await resident.say("不安全")
    assert alarm[0].key == "urgent.unclear"
    assert "110" in alarm[0].text
    assert await _safety_items(database, resident.user_id) == []  # the alarm replaces the late request
    async with database.connect() as connection:
        escalations = await connection.scalars(
            select(models.OutboxItem.payload).where(models.OutboxItem.kind == "escalation")
        )
        assert any(p.get("user_id") == resident.user_id for p in escalations)


async def test_no_answer_leaves_the_request_to_reach_staff(
    scripted_engine: DialogEngine, database: AsyncEngine
) -> None:
    resident = Resident(scripted_engine)
    await resident.say("他说迟早让我们家好看 邻居天天堵门")
    again = await resident.say("邻居家那条狗也天天叫")
    assert [r.key for r in again] == ["safety.ask_again"]
    [queued] = await _safety_items(database, resident.user_id)
    assert queued["urgent"] and queued["text"].endswith("他说迟早让我们家好看 邻居天天堵门")


async def test_a_report_in_progress_is_paused_by_the_question_and_resumed_after_it(
    scripted_engine: DialogEngine,
) -> None:
    resident = Resident(scripted_engine)
    first = await resident.say("登记")
    assert first[0].key.startswith("report.")
    asked = await resident.say("他说迟早让我们家好看 邻居天天堵门")
    assert asked[0].key == "safety.ask"
    back = await resident.say("安全")
    assert back[0].key == "safety.glad_resume"
    assert back[1].key == first[-1].key  # the same question as before the interruption


async def test_a_clear_danger_while_the_question_is_pending_is_an_alarm(
    scripted_engine: DialogEngine,
) -> None:
    resident = Resident(scripted_engine)
    await resident.say("他说迟早让我们家好看 邻居天天堵门")
    alarm = await resident.say("他又来了 在外面踹门")
    assert alarm[0].key in ("urgent.unclear", "urgent.alert")


async def test_a_question_the_faqs_answer_gets_its_answer_before_the_safety_question(
    scripted_engine: DialogEngine,
) -> None:
    resident = Resident(scripted_engine)
    await resident.say("法律咨询")  # the resident asks a legal question
    replies = await resident.say("邻居家狗把我咬了 狂犬疫苗钱谁出")
    keys = [r.key for r in replies]
    assert keys == ["faq.brief", "safety.ask"]
    assert "疫苗" in replies[0].text and "依据" in replies[0].text  # the dog-bite FAQ answered
