"""The engine's guarantees: exactly-once handling, per-resident ordering, privacy between
residents, and a polite answer to anything a resident can type."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dialogs.engine import DialogEngine
from tests.conftest import Resident, complete_report

pytestmark = pytest.mark.rasa

REPORT = "公司拖欠我三个月工资了 一直不给 帮我处理一下"
#: Says nothing of the place, the time or who: every question is asked, in order.
UNTOLD = "我的工资被拖欠了 一直不给 帮我处理一下"


async def _file_report(resident: Resident, phone: str = "13812345678") -> str:
    receipt = await complete_report(resident, REPORT, phone=phone)
    assert receipt[0].key == "report.receipt"
    return receipt[0].text.split("编号 ")[1].split("，")[0]


async def _cases_of(database: AsyncEngine, user_id: str) -> int:
    from bot.storage import models

    async with database.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(models.Case).where(models.Case.user_id == user_id)
        )
    return int(count or 0)


async def test_a_redelivered_message_gets_the_same_reply_and_steps_nothing(resident: Resident) -> None:
    first = await resident.say(UNTOLD, message_id="m-1")
    again = await resident.say(UNTOLD, message_id="m-1")
    assert [r.text for r in again] == [r.text for r in first]
    yes = await resident.say("是", message_id="m-2")
    assert yes[0].key == "report.ask_place"
    assert (await resident.say("是", message_id="m-2"))[0].key == "report.ask_place"
    # The flow moved exactly once per distinct message: the next answer is taken as the place.
    assert (await resident.say("幸福小区3栋"))[0].key == "report.ask_time"


async def test_a_confirmation_redelivered_files_one_case(resident: Resident, database: AsyncEngine) -> None:
    summary = await complete_report(resident, REPORT, confirm=False)
    assert summary[-1].key == "report.summary"
    receipts = [await resident.say("确认", message_id="confirm-1") for _ in range(3)]
    assert len({r[0].text for r in receipts}) == 1
    assert await _cases_of(database, resident.user_id) == 1


async def test_two_messages_arriving_together_are_handled_in_order(resident: Resident) -> None:
    first, second = await asyncio.gather(resident.say(REPORT), resident.say("是"))
    assert first[0].key == "report.confirm_type"
    assert second[0].key == "report.ask_place"


async def test_many_residents_at_once(dialog_engine: DialogEngine, database: AsyncEngine) -> None:
    residents = [Resident(dialog_engine) for _ in range(12)]

    async def converse(r: Resident) -> list[str]:
        keys = []
        for text in ["你好", UNTOLD, "是", "幸福小区"]:
            keys.append((await r.say(text))[0].key)
        return keys

    results = await asyncio.gather(*(converse(r) for r in residents))
    assert all(
        keys == ["greet", "report.confirm_type", "report.ask_place", "report.ask_time"] for keys in results
    )


async def test_one_resident_never_sees_another_residents_case(dialog_engine: DialogEngine) -> None:
    alice, bob = Resident(dialog_engine), Resident(dialog_engine)
    reference = await _file_report(alice, phone="13811112222")
    assert (await bob.say("查进度"))[0].key == "progress.ask_lookup"
    assert (await bob.say(reference))[0].key == "progress.lookup_format"
    assert (await bob.say(f"{reference} 0000"))[0].key == "progress.not_found"
    mine = await alice.say("查进度")
    assert mine[0].key == "progress.list"
    assert reference in mine[0].text
    # With the phone's last four digits (what a resident who registered elsewhere has), it shows.
    shown = await bob.say(f"{reference} 2222")
    assert shown[0].key == "progress.detail"
    assert "138" not in shown[0].text  # no phone, no personal data in the detail


@pytest.mark.parametrize(
    ("text", "first_key"),
    [
        ("", "empty"),
        ("😡😡😡", "empty"),
        ("\x00\x01\x07\u200b", "empty"),
        ("楼上漏水" * 2500, "too_long"),
    ],
)
async def test_unreadable_input_gets_a_polite_answer(resident: Resident, text: str, first_key: str) -> None:
    replies = await resident.say(text)
    assert replies
    assert replies[0].key == first_key


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE cases; --",
        "<script>alert(1)</script>",
        "樓上鄰居裝修吵得要命 幫我調解",
        "佢哋成日嘈到半夜 點算",
        "１３８１２３４５６７８",
        "\u202e\u200b欠薪",
        str(uuid.uuid4()) * 50,
    ],
)
async def test_odd_input_never_crashes(resident: Resident, text: str) -> None:
    replies = await resident.say(text)
    assert replies
    assert all(r.text.strip() for r in replies)


async def test_traditional_characters_are_understood(resident: Resident) -> None:
    replies = await resident.say("樓上鄰居天天半夜裝修吵得要命 幫我調解一下")
    assert replies[0].key == "report.confirm_type"
    assert "邻里纠纷" in replies[0].text
