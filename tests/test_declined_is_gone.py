"""Declined means gone (个人信息保护法): a resident who tells a dispute with a phone number and then
answers "不同意", or drops the report half way, leaves nothing of what they typed for it — not in
the record of handled messages, not in the conversation's state. Questions volunteers read are
masked. Against the real engine, database and Rasa."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.web_history import recent_exchanges
from tests.conftest import Resident, readable

pytestmark = pytest.mark.rasa

PHONE = "13987654321"


async def _stored(database: AsyncEngine, user_id: str) -> str:
    """Everything the bot's database holds for this resident, as one string."""
    async with database.connect() as connection:
        rows = await connection.execute(
            text("SELECT text, replies FROM processed_messages WHERE user_id = :u"), {"u": user_id}
        )
        messages = " ".join(f"{readable(t)} {readable(r)}" for t, r in rows)
        states = await connection.execute(
            text("SELECT state FROM conversations WHERE user_id = :u"), {"u": user_id}
        )
        return messages + " ".join(readable(s) for (s,) in states)


async def _tell_with_phone(resident: Resident) -> None:
    first = await resident.say(f"隔壁装修把我家墙打裂了 不认账 我电话{PHONE} 想请你们调解")
    assert first[-1].key == "report.confirm_type"
    replies = await resident.say("是")
    answers = {
        "report.ask_place": "阳光花园9栋",
        "report.ask_time": "上个月",
        "report.ask_other_party": "隔壁",
        "report.ask_name": "我姓赵",
        "report.offer_known_phone": "是",
        "report.ask_phone": PHONE,
    }
    while replies[-1].key in answers:
        replies = await resident.say(answers[replies[-1].key])
    assert replies[-1].key == "report.consent"


async def test_declining_consent_erases_what_was_typed(resident: Resident, database: AsyncEngine) -> None:
    await _tell_with_phone(resident)
    assert PHONE in await _stored(database, resident.user_id)  # held only while deciding
    declined = await resident.say("不同意")
    assert declined[-1].key == "report.consent_declined"
    stored = await _stored(database, resident.user_id)
    for told in (PHONE, "阳光花园9栋", "墙打裂", "我姓赵"):
        assert told not in stored, told
    # A redelivered message of the erased report is still recognised: nothing steps twice.
    async with database.connect() as connection:
        handled = await connection.scalar(
            text("SELECT count(*) FROM processed_messages WHERE user_id = :u"), {"u": resident.user_id}
        )
    assert handled and handled >= 5
    shown = await recent_exchanges(database, resident.channel, resident.user_id)
    assert all(PHONE not in (e.text or "") for e in shown)
    assert all(e.text is not None or e.replies for e in shown)  # erased turns are not shown again


async def test_dropping_the_report_half_way_erases_it(resident: Resident, database: AsyncEngine) -> None:
    first = await resident.say(f"物业把我家车位租给别人了 我电话{PHONE}")
    assert first[-1].key == "report.confirm_type"
    await resident.say("是")
    await resident.say("金桥花园2栋")
    dropped = await resident.say("算了不登记了")
    assert dropped[-1].key == "report.cancelled"
    stored = await _stored(database, resident.user_id)
    assert PHONE not in stored and "金桥花园2栋" not in stored


async def test_questions_volunteers_read_are_masked(resident: Resident, database: AsyncEngine) -> None:
    await resident.say("法律咨询")
    told = f"我叫王建国 公司拖欠我两个月工资 我电话{PHONE} 身份证110101199003071234 该怎么办"
    asked = await resident.say(told)
    assert asked[0].key in ("faq.answer", "faq.suggest")
    if asked[0].key == "faq.answer":  # "没用" sends it to the queue; "not sure" already did
        assert (await resident.say("没用"))[0].key == "faq.not_helpful"
    async with database.connect() as connection:
        rows = (await connection.execute(select(text("text")).select_from(text("faq_misses")))).all()
    texts = " ".join(t for (t,) in rows)
    assert "拖欠我两个月工资" in texts  # the question reached the queue…
    assert PHONE not in texts  # …without the numbers in it
    assert "110101199003071234" not in texts
    assert "王建国" not in texts and "王**" in texts  # …nor the names
