"""A resident's rights over their data in the chat (个人信息保护法 第四十四至四十七条): "我的信息" shows
what the bot holds; "删除我的信息" (or plain words) asks once, deletes the bot's copy at once, and
asks the case system to delete its copy, which keeps what the mediation archive must keep; the
resident is told the outcome. Against the real engine, Rasa, database (SQLite and PostgreSQL)
and the reference case desk on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend_client import CaseSystemClient
from backend_client.models import ErasureRequestCreate, Step
from bot.dialogs.replies import Replies
from bot.dialogs.rights import DataRequest, data_request
from bot.jobs.outbox import OutboxWorker
from bot.settings import Settings
from bot.storage import models
from bot.storage.db import sessions
from casedesk.erasure import ERASED
from tests.conftest import DESK_TOKEN, Resident, RunningDesk, complete_report, readable

PHONE = "13561234987"
FIRST = "楼上邻居天天半夜剁排骨 吵得老人睡不着 我住青枫苑12栋 想请你们调解"
SECOND = "物业把我家门口的消防通道堆满了杂物 说了好几次都不清理 地址是青枫苑物业中心"


@pytest.mark.parametrize(
    "said",
    [
        "删除我的信息",
        "我要求删除你们保存的我的数据",
        "把我的资料都删了",
        "麻烦把我的个人信息删除一下",
        "请清除本人的聊天记录",
        "能不能删除我的信息",
        "可以把我的资料删掉吗",
        "别再保存我的电话了",
    ],
)
def test_plain_words_asking_to_delete_are_recognised(said: str) -> None:
    assert data_request(said) is DataRequest.ERASE


@pytest.mark.parametrize(
    "said", ["我的信息", "你们存了我哪些信息", "查看我的个人数据", "我的资料保存多久", "你们会删除我的信息吗"]
)
def test_plain_words_asking_what_is_kept_are_recognised(said: str) -> None:
    assert data_request(said) is DataRequest.VIEW


@pytest.mark.parametrize(
    "said",
    [
        "他把我的聊天记录删了",
        "对方删了我的微信还不还钱",
        "不要删除我的信息",
        "物业把我的电话号码给了别人",
        "我的电话13800001111",
        "老板删了我的考勤记录，工资少算了一千多，这种情况怎么维权",
    ],
)
def test_stories_about_data_are_not_requests(said: str) -> None:
    assert data_request(said) is None


class Desk:
    def __init__(self, settings: Settings, database: AsyncEngine, url: str) -> None:
        self.client = CaseSystemClient(url, DESK_TOKEN, timeout=5, attempts=2, max_backoff=0.05)
        self.made = sessions(database)
        self.outbox = OutboxWorker(self.made, self.client, Replies.load(settings.knowledge_dir))


@pytest_asyncio.fixture
async def desk(db_settings: Settings, database: AsyncEngine, casedesk: RunningDesk) -> AsyncIterator[Desk]:
    made = Desk(db_settings, database, casedesk.url)
    yield made
    await made.client.aclose()


async def _everything_kept(database: AsyncEngine, user_id: str) -> str:
    """Every text the bot's database holds for this resident, as one string."""
    queries = [
        "SELECT text, replies FROM processed_messages WHERE user_id = :u",
        "SELECT state FROM conversations WHERE user_id = :u",
        "SELECT description, place, occurred, other_party, name, phone FROM cases WHERE user_id = :u",
        "SELECT text FROM notifications WHERE user_id = :u",
    ]
    found: list[str] = []
    async with database.connect() as connection:
        for query in queries:
            for row in await connection.execute(text(query), {"u": user_id}):
                found.extend(readable(value) for value in row)
        for (payload,) in await connection.execute(text("SELECT payload FROM outbox")):
            if user_id in readable(payload):
                found.append(readable(payload))
    return " ".join(found)


async def _filed_case_nos(database: AsyncEngine, user_id: str) -> list[str]:
    async with sessions(database)() as session:
        rows = await session.scalars(
            select(models.Case.backend_case_no).where(models.Case.user_id == user_id).order_by(models.Case.id)
        )
        return [r for r in rows if r]


async def test_my_information_shows_cases_and_only_the_phones_last_digits(
    resident: Resident, desk: Desk
) -> None:
    receipt = await complete_report(resident, FIRST, phone=PHONE)
    assert receipt[-1].key == "report.receipt"
    shown = await resident.say("你们存了我哪些信息")
    assert shown[-1].key == "privacy.my_data"
    reply = shown[-1].text
    assert "TJ" in reply and PHONE[-4:] in reply and PHONE not in reply
    assert "90天" in reply  # the periods come from knowledge/centre.yml
    assert "删除我的信息" in shown[-1].options


async def test_deleting_my_data_erases_the_bots_copy_and_asks_the_desk(
    resident: Resident, desk: Desk, database: AsyncEngine, casedesk: RunningDesk
) -> None:
    await complete_report(resident, FIRST, phone=PHONE)
    await complete_report(resident, SECOND, phone=PHONE)
    alarm = await resident.say("楼上那人拿着刀在青枫苑12栋楼道里堵我，说今晚要砍死我")
    assert alarm[0].key.startswith("urgent.")
    await desk.outbox.flush_once()  # both cases and the alarm reach the desk
    first_no, second_no = await _filed_case_nos(database, resident.user_id)
    await casedesk.store.move_case(
        second_no, to=Step.MEDIATION, expected=Step.ACCEPTED, public_note=None, staff="调解员"
    )
    assert PHONE in await _everything_kept(database, resident.user_id)

    asked = await resident.say("我要求删除你们保存的我的数据")
    assert asked[-1].key == "privacy.confirm_erase"
    done = await resident.say("确认删除")
    assert done[-1].key == "privacy.erasing"

    kept_now = await _everything_kept(database, resident.user_id)
    for said in (PHONE, "青枫苑12栋", "剁排骨", "消防通道"):
        assert said not in kept_now, said

    await desk.outbox.flush_once()  # the desk answers the erasure request
    first = await casedesk.store.case_detail(first_no)
    second = await casedesk.store.case_detail(second_no)
    assert first.case.reporter_phone is None and first.case.description == ERASED
    # In mediation: the archive keeps it, marked for staff.
    assert second.case.reporter_phone == PHONE and second.case.erasure_requested_at is not None
    async with sessions(database)() as session:
        mine = select(models.Case).where(models.Case.user_id == resident.user_id)
        assert not list(await session.scalars(mine))
        told = list(
            await session.scalars(
                select(models.Notification.text).where(models.Notification.user_id == resident.user_id)
            )
        )
    assert len(told) == 1 and "依法需要存档" in told[0] and PHONE not in told[0]
    kept_at_the_end = await _everything_kept(database, resident.user_id)
    for told_before in (PHONE, "青枫苑12栋", "剁排骨", "消防通道", first_no):
        assert told_before not in kept_at_the_end, told_before


async def test_changing_ones_mind_keeps_everything(resident: Resident, database: AsyncEngine) -> None:
    await complete_report(resident, FIRST, phone=PHONE)
    assert (await resident.say("把我的资料都删了"))[-1].key == "privacy.confirm_erase"
    assert (await resident.say("不删了"))[-1].key == "privacy.kept"
    assert PHONE in await _everything_kept(database, resident.user_id)
    async with sessions(database)() as session:
        queued = await session.scalar(select(models.OutboxItem).where(models.OutboxItem.kind == "erasure"))
    assert queued is None or resident.user_id not in str(queued.payload)


async def test_a_deletion_request_never_reaches_the_volunteers_queue(
    resident: Resident, database: AsyncEngine
) -> None:
    before = await _misses(database)
    asked = await resident.say("我要求删除你们保存的我的数据")
    assert asked[-1].key == "privacy.confirm_erase"
    assert await _misses(database) == before


async def test_a_report_half_told_is_set_aside_while_deciding(resident: Resident) -> None:
    first = await resident.say(FIRST)
    assert first[-1].key.startswith("report.")
    assert (await resident.say("删除我的信息"))[-1].key == "privacy.confirm_erase"
    kept = await resident.say("不删了")
    assert [r.key for r in kept] == ["privacy.kept", "resume_offer"]
    assert (await resident.say("继续"))[-1].key.startswith("report.")


async def _misses(database: AsyncEngine) -> int:
    async with database.connect() as connection:
        return int(await connection.scalar(text("SELECT count(*) FROM faq_misses")) or 0)


async def test_the_desk_answers_a_repeated_erasure_request_once(casedesk: RunningDesk) -> None:
    async with CaseSystemClient(casedesk.url, DESK_TOKEN, timeout=5, attempts=1) as client:
        body = ErasureRequestCreate(channel="web", resident_ref="nobody-here", case_nos=["NONE-1"])
        first = await client.request_erasure(body, idempotency_key="erase-once")
        again = await client.request_erasure(body, idempotency_key="erase-once")
    assert again == first
    assert [o.outcome.value for o in first.cases] == ["unknown"]
