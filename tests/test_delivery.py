"""Cases against the real reference case desk on loopback: filing through the outbox, progress
sync and notifications, urgent escalations first, handoffs relayed both ways — and the faults:
the desk down or broken, answers lost after it committed, a worker killed mid-flush, two workers
racing. Reports in and cases out are counted: always equal."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from backend_client import CaseSystemClient
from backend_client.models import Step
from bot.cases.steps import CaseSteps
from bot.dialogs.engine import DialogEngine
from bot.dialogs.replies import Replies
from bot.jobs.handoff_events import HandoffEvents
from bot.jobs.notify import Dispatcher, HoldingNotifier
from bot.jobs.outbox import OutboxWorker
from bot.jobs.sync import ProgressSync
from bot.nlu.server import ManagedRasaServer
from bot.settings import Settings
from bot.storage import models
from bot.storage.db import sessions
from tests.conftest import DESK_TOKEN, Resident, RunningDesk, complete_report
from tests.loopback import http_server, proxy

pytestmark = pytest.mark.rasa

REPORT = "楼上邻居天天半夜拖椅子 吵得睡不着 帮忙调解一下"
ANSWERS = {"report.ask_time": "上周开始", "report.ask_other_party": "楼上住户"}
BOT = str(Path(sys.executable).parent / "bot")


def later(minutes: float) -> Callable[[], datetime]:
    """A clock in the future: rows waiting for a retry (or a lease) are due."""
    return lambda: datetime.now(UTC) + timedelta(minutes=minutes)


async def file_report(resident: Resident) -> str:
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    receipt = await complete_report(resident, REPORT, phone=phone, answers=ANSWERS)
    assert receipt[0].key == "report.receipt"
    assert "正在提交中心" in receipt[0].text  # the resident knows it is saved and will be filed
    return receipt[0].text.split("编号 ")[1].split("，")[0]


class Jobs:
    def __init__(self, settings: Settings, database: AsyncEngine, url: str, **outbox: Any) -> None:
        self.client = CaseSystemClient(
            url, DESK_TOKEN, timeout=outbox.pop("timeout", 5), attempts=2, max_backoff=0.05
        )
        replies = Replies.load(settings.knowledge_dir)
        made = sessions(database)
        self.outbox = OutboxWorker(made, self.client, replies, **outbox)
        self.dispatcher = Dispatcher(made, {"console": HoldingNotifier()})
        self.sync = ProgressSync(made, self.client, replies, CaseSteps.load(settings.knowledge_dir))
        self.handoffs = HandoffEvents(made, self.client, replies)

    async def close(self) -> None:
        await self.client.aclose()


@pytest_asyncio.fixture
async def jobs(db_settings: Settings, database: AsyncEngine, casedesk: RunningDesk) -> AsyncIterator[Jobs]:
    made = Jobs(db_settings, database, casedesk.url)
    yield made
    await made.close()


async def desk_cases(desk: RunningDesk, reference: str) -> int:
    from casedesk.db import Base

    table = Base.metadata.tables["cases"]
    async with desk.store.engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(table).where(table.c.reference == reference)
        )
    return int(count or 0)


async def case_row(database: AsyncEngine, reference: str) -> models.Case:
    async with sessions(database)() as session:
        case = await session.scalar(select(models.Case).where(models.Case.reference == reference))
    assert case is not None
    return case


async def test_a_report_is_filed_once_and_the_resident_hears_its_number(
    dialog_engine: DialogEngine, jobs: Jobs, casedesk: RunningDesk, database: AsyncEngine
) -> None:
    resident = Resident(dialog_engine)
    reference = await file_report(resident)
    await jobs.outbox.flush_once()
    await jobs.outbox.flush_once()  # a second flush finds nothing more to do
    case = await case_row(database, reference)
    assert case.backend_case_no is not None
    assert case.step == "accepted"
    assert await desk_cases(casedesk, reference) == 1
    dispatched = await jobs.dispatcher.dispatch_once()
    assert dispatched.held >= 1  # the console cannot be pushed to: it waits for the next message
    replies = await resident.say("谢谢")
    assert replies[0].key == "notify.held"
    assert case.backend_case_no in replies[0].text
    assert replies[-1].key == "thanks"


async def test_a_progress_change_notifies_once(
    dialog_engine: DialogEngine, jobs: Jobs, casedesk: RunningDesk, database: AsyncEngine
) -> None:
    resident = Resident(dialog_engine)
    reference = await file_report(resident)
    await jobs.outbox.flush_once()
    case_no = (await case_row(database, reference)).backend_case_no
    assert case_no
    await casedesk.store.move_case(
        case_no, to=Step.MEDIATION, expected=Step.ACCEPTED, public_note="周三下午在社区调解室调解", staff="t"
    )
    await casedesk.store.assign_department(case_no, "司法所", staff="t")
    for _ in range(3):  # re-reading the feed changes nothing
        await jobs.sync.sync_once()
    case = await case_row(database, reference)
    assert (case.step, case.department) == ("mediation", "司法所")
    async with sessions(database)() as session:
        notes = list(
            await session.scalars(
                select(models.Notification.text).where(
                    models.Notification.user_id == resident.user_id,
                    models.Notification.dedupe_key.like(f"change:{case_no}:%"),
                )
            )
        )
    assert len(notes) == 2  # the move, and the department: one notification per change
    await jobs.dispatcher.dispatch_once()
    replies = await resident.say("查进度")
    texts = "\n".join(r.text for r in replies)
    assert "先行调解" in texts
    assert "周三下午在社区调解室调解" in texts
    assert "司法所" in texts


async def test_an_urgent_escalation_jumps_the_queue(
    dialog_engine: DialogEngine, db_settings: Settings, database: AsyncEngine, casedesk: RunningDesk
) -> None:
    calm, scared = Resident(dialog_engine), Resident(dialog_engine)
    await file_report(calm)
    assert (await scared.say("他拿着刀在我家门口说要砍死我"))[0].key == "urgent.alert"
    async with proxy(casedesk.url) as desk:
        jobs = Jobs(db_settings, database, desk.url, batch=1)
        await jobs.outbox.flush_once()
        await jobs.close()
    posts = [path for method, path in desk.requests or [] if method == "POST"]
    assert posts.index("/api/v1/escalations") < posts.index("/api/v1/cases")
    queue = await casedesk.store.queue()
    assert queue.urgent  # on top of the desk's queue


async def test_a_handoff_taken_and_answered_from_the_desk(
    dialog_engine: DialogEngine, jobs: Jobs, casedesk: RunningDesk
) -> None:
    resident = Resident(dialog_engine)
    assert (await resident.say("我家楼上漏水 物业不管"))[0].key in ("report.confirm_type", "faq.answer")
    assert (await resident.say("转人工"))[0].key == "handoff.requested"
    await jobs.outbox.flush_once()
    waiting = [h for h in await casedesk.store.inbox() if h.resident_ref == resident.user_id]
    assert len(waiting) == 1
    handoff_id = waiting[0].id
    detail = await casedesk.store.handoff_detail(handoff_id)
    assert "物业不管" in str(detail.handoff.transcript)  # staff see the conversation so far
    await casedesk.store.take_handoff(handoff_id, staff="值班员")
    await jobs.handoffs.poll_once()
    await jobs.dispatcher.dispatch_once()
    relayed = await resident.say("楼上住户电话打不通")
    assert [r.key for r in relayed] == ["notify.held"]  # 值班人员已接入, and the bot itself says nothing
    assert "值班人员已接入" in relayed[0].text
    await jobs.outbox.flush_once()
    relayed_to_desk = (await casedesk.store.handoff_detail(handoff_id)).messages
    assert [m.text for m in relayed_to_desk if m.sender == "resident"] == ["楼上住户电话打不通"]
    await casedesk.store.reply(handoff_id, "您好，请问是几栋几单元？", staff="值班员")
    await jobs.handoffs.poll_once()
    await jobs.dispatcher.dispatch_once()
    answer = await resident.say("3栋2单元")
    assert [r.key for r in answer] == ["notify.held"]
    assert "请问是几栋几单元" in answer[0].text
    await casedesk.store.hand_back(handoff_id, staff="值班员")
    await jobs.handoffs.poll_once()
    await jobs.dispatcher.dispatch_once()
    back = await resident.say("你好")
    assert back[0].key == "notify.held"
    assert "已结束人工服务" in back[0].text
    # The bot speaks again: here it picks the report up where it was before the handoff.
    assert back[1].key == "report.confirm_type"


async def test_backend_down_for_a_while_then_every_report_filed_exactly_once(
    dialog_engine: DialogEngine, db_settings: Settings, database: AsyncEngine, casedesk: RunningDesk
) -> None:
    residents = [Resident(dialog_engine) for _ in range(4)]
    references = [await file_report(r) for r in residents]
    async with proxy(casedesk.url) as desk:
        desk.down = True
        down = Jobs(db_settings, database, desk.url, timeout=1)
        result = await down.outbox.flush_once()
        assert result.done == 0
        assert result.retried >= len(references)
        await down.close()
        for reference in references:
            assert await desk_cases(casedesk, reference) == 0
            assert (await case_row(database, reference)).backend_case_no is None
        desk.down = False
        back = Jobs(db_settings, database, desk.url, clock=later(30))
        await back.outbox.flush_once()
        await back.close()
    for reference in references:  # reports in == cases out
        assert await desk_cases(casedesk, reference) == 1
        assert (await case_row(database, reference)).backend_case_no is not None


@pytest.mark.parametrize("status", [500, None], ids=["500", "hanging"])
async def test_a_broken_backend_leaves_rows_waiting_with_backoff(
    status: int | None, dialog_engine: DialogEngine, db_settings: Settings, database: AsyncEngine
) -> None:
    resident = Resident(dialog_engine)
    reference = await file_report(resident)
    case_id = (await case_row(database, reference)).id
    async with http_server(status=status) as broken:
        jobs = Jobs(db_settings, database, broken.url, timeout=0.5)
        await jobs.outbox.flush_once()
        await jobs.close()
        assert broken.requests >= 1
    async with sessions(database)() as session:
        row = await session.scalar(select(models.OutboxItem).where(models.OutboxItem.case_id == case_id))
    assert row is not None
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error and ("500" in row.last_error or "timed out" in row.last_error)
    assert row.next_attempt_at.replace(tzinfo=UTC) > datetime.now(UTC)  # backing off, not hammering


async def test_a_lost_answer_does_not_make_a_second_case(
    dialog_engine: DialogEngine, db_settings: Settings, database: AsyncEngine, casedesk: RunningDesk
) -> None:
    resident = Resident(dialog_engine)
    reference = await file_report(resident)
    async with proxy(casedesk.url) as desk:
        desk.drop_responses = 3  # the desk creates the case; the bot never hears (three times)
        first = Jobs(db_settings, database, desk.url, timeout=2)
        await first.outbox.flush_once()
        await first.close()
        assert await desk_cases(casedesk, reference) == 1
        assert (await case_row(database, reference)).backend_case_no is None
        again = Jobs(db_settings, database, desk.url, clock=later(30))
        await again.outbox.flush_once()
        await again.close()
    assert await desk_cases(casedesk, reference) == 1
    assert (await case_row(database, reference)).backend_case_no is not None


async def test_two_workers_racing_file_each_report_once(
    dialog_engine: DialogEngine, db_settings: Settings, database: AsyncEngine, casedesk: RunningDesk
) -> None:
    references = [await file_report(Resident(dialog_engine)) for _ in range(8)]
    async with proxy(casedesk.url) as desk:
        desk.delay = 0.05
        a = Jobs(db_settings, database, desk.url, batch=2)
        b = Jobs(db_settings, database, desk.url, batch=2)
        await asyncio.gather(a.outbox.flush_once(), b.outbox.flush_once())
        await a.close()
        await b.close()
    created = [p for m, p in desk.requests or [] if (m, p) == ("POST", "/api/v1/cases")]
    assert len(created) == len(references)  # every row sent by exactly one worker
    for reference in references:
        assert await desk_cases(casedesk, reference) == 1


async def test_killed_mid_flush_then_restarted(
    dialog_engine: DialogEngine,
    db_settings: Settings,
    database: AsyncEngine,
    casedesk: RunningDesk,
    rasa_server: ManagedRasaServer,
) -> None:
    references = [await file_report(Resident(dialog_engine)) for _ in range(5)]
    async with proxy(casedesk.url) as desk:
        desk.delay = 0.4
        env = {
            **os.environ,
            "BOT_DATA_DIR": str(db_settings.data_dir),
            "BOT_BACKEND_URL": desk.url,
            "BOT_BACKEND_TOKEN": DESK_TOKEN,
        }
        if db_settings.database_url:
            env["BOT_DATABASE_URL"] = db_settings.database_url
        worker = subprocess.Popen(  # noqa: ASYNC220 - started, not waited for
            [BOT, "jobs", "once", "--only", "outbox"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            if len([1 for m, p in desk.requests or [] if (m, p) == ("POST", "/api/v1/cases")]) >= 2:
                break
            await asyncio.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        desk.delay = 0
        restarted = Jobs(db_settings, database, desk.url, clock=later(10))  # the dead worker's lease ran out
        await restarted.outbox.flush_once()
        await restarted.close()
    for reference in references:
        assert await desk_cases(casedesk, reference) == 1
        assert (await case_row(database, reference)).backend_case_no is not None
    case_ids = [(await case_row(database, reference)).id for reference in references]
    async with sessions(database)() as session:
        stuck = await session.scalar(
            select(func.count())
            .select_from(models.OutboxItem)
            .where(models.OutboxItem.case_id.in_(case_ids), models.OutboxItem.status != "done")
        )
    assert stuck == 0


async def test_notifications_retry_and_respect_the_channel_limit(
    db_settings: Settings, database: AsyncEngine
) -> None:
    from bot.jobs.notices import queue_notification
    from bot.jobs.notify import Delivery, NotifyRetryable, RateLimiter

    class Flaky:
        def __init__(self) -> None:
            self.sent: list[str] = []
            self.failures = 1

        async def send(self, user_id: str, text: str) -> Delivery:
            if self.failures:
                self.failures -= 1
                raise NotifyRetryable("network")
            self.sent.append(text)
            return Delivery.SENT

    made = sessions(database)
    async with made.begin() as session:
        await session.execute(update(models.Notification).values(status="sent"))  # earlier tests' rows
        for n in range(6):
            await queue_notification(
                session, channel="flaky", user_id="u", text=f"n{n}", key=f"t-{uuid.uuid4().hex}"
            )
    channel = Flaky()
    now = [0.0]

    async def sleep(seconds: float) -> None:  # a clock that only moves when the limiter waits
        now[0] += seconds

    limiter = RateLimiter(20, clock=lambda: now[0], sleep=sleep)
    first = await Dispatcher(made, {"flaky": channel}, {"flaky": limiter}).dispatch_once()
    assert (first.sent, first.retried) == (5, 1)
    assert now[0] >= 5 / 20 - 1e-9  # six sends at 20/s: the limiter waited a quarter second in all
    again = await Dispatcher(made, {"flaky": channel}, clock=later(5)).dispatch_once()
    assert again.sent == 1
    assert sorted(channel.sent) == [f"n{n}" for n in range(6)]


async def test_staff_see_a_filed_case_beside_the_residents_handoff(
    dialog_engine: DialogEngine, jobs: Jobs, casedesk: RunningDesk, database: AsyncEngine
) -> None:
    resident = Resident(dialog_engine)
    reference = await file_report(resident)
    assert (await resident.say("转人工"))[0].key == "handoff.requested"
    await jobs.outbox.flush_once()
    case_no = (await case_row(database, reference)).backend_case_no
    [handoff] = [h for h in await casedesk.store.inbox() if h.resident_ref == resident.user_id]
    resident_key = (handoff.channel, handoff.resident_ref)
    found = await casedesk.store.residents_cases([resident_key])
    assert [(c.case_no, c.reference) for c in found[resident_key]] == [(case_no, reference)]
