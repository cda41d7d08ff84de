"""While staff have a conversation the bot stays quiet, also when the resident sounds in danger:
the message reaches the same staff member flagged, and the alarm path (an escalation on top of
the desk, the emergency numbers to the resident) runs only if nobody there answers within a few
minutes — once per conversation, however many worrying messages follow. Against the real
reference desk on loopback and the real Rasa NLU."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend_client import CaseSystemClient
from bot.dialogs.engine import DialogEngine
from bot.dialogs.replies import Replies
from bot.jobs.handoff_events import HandoffEvents
from bot.jobs.notify import Dispatcher, HoldingNotifier
from bot.jobs.outbox import OutboxWorker
from bot.settings import Settings
from bot.storage import models
from bot.storage.db import sessions
from tests.conftest import DESK_TOKEN, Resident, RunningDesk

pytestmark = pytest.mark.rasa


def later(minutes: float) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + timedelta(minutes=minutes)


class Jobs:
    def __init__(self, settings: Settings, database: AsyncEngine, url: str) -> None:
        self.client = CaseSystemClient(url, DESK_TOKEN, timeout=5, attempts=2, max_backoff=0.05)
        self.replies = Replies.load(settings.knowledge_dir)
        self.made = sessions(database)
        self.handoffs = HandoffEvents(self.made, self.client, self.replies)
        self.dispatcher = Dispatcher(self.made, {"console": HoldingNotifier()})

    def outbox(self, minutes_later: float = 0) -> OutboxWorker:
        return OutboxWorker(self.made, self.client, self.replies, clock=later(minutes_later))


@pytest_asyncio.fixture
async def jobs(db_settings: Settings, database: AsyncEngine, casedesk: RunningDesk) -> AsyncIterator[Jobs]:
    made = Jobs(db_settings, database, casedesk.url)
    yield made
    await made.client.aclose()


async def _taken_handoff(resident: Resident, jobs: Jobs, casedesk: RunningDesk) -> int:
    assert (await resident.say("转人工"))[0].key == "handoff.requested"
    await jobs.outbox().flush_once()
    waiting = [h for h in await casedesk.store.inbox() if h.resident_ref == resident.user_id]
    handoff_id = int(waiting[0].id)
    await casedesk.store.take_handoff(handoff_id, staff="值班员")
    await jobs.handoffs.poll_once()
    await jobs.dispatcher.dispatch_once()
    taken = await resident.say("您好")  # the held notice "值班人员已接入" comes with this turn
    assert [r.key for r in taken] == ["notify.held"]
    return handoff_id


async def _escalations(database: AsyncEngine, user_id: str) -> int:
    async with sessions(database)() as session:
        rows = await session.scalars(select(models.OutboxItem).where(models.OutboxItem.kind == "escalation"))
        return sum(1 for row in rows if row.payload.get("user_id") == user_id)


async def _alarms(database: AsyncEngine, user_id: str) -> list[models.OutboxItem]:
    async with sessions(database)() as session:
        rows = await session.scalars(
            select(models.OutboxItem).where(models.OutboxItem.kind == "handoff_alarm")
        )
        return [row for row in rows if row.payload.get("user_id") == user_id]


async def _resident_lines(casedesk: RunningDesk, handoff_id: int) -> list[str]:
    detail = await casedesk.store.handoff_detail(handoff_id)
    return [m.text for m in detail.messages if m.sender == "resident"]


async def test_danger_during_a_handoff_goes_to_staff_flagged_and_the_bot_says_nothing(
    dialog_engine: DialogEngine, jobs: Jobs, casedesk: RunningDesk, database: AsyncEngine
) -> None:
    resident = Resident(dialog_engine)
    handoff_id = await _taken_handoff(resident, jobs, casedesk)

    first = await resident.say("他拿着刀在砸门，说今晚要杀了我")
    assert first == ()  # no canned alarm over the staff member already talking to the resident
    second = await resident.say("我已经报警了，门锁好了")
    assert second == ()
    await jobs.outbox().flush_once()
    lines = await _resident_lines(casedesk, handoff_id)
    assert lines[-2].startswith("【紧急·可能有危险】") and "砸门" in lines[-2]
    assert "门锁好了" in lines[-1]  # (flagged or not: staff read it in the same thread)
    assert await _escalations(database, resident.user_id) == 0  # no second item on the desk
    assert len(await _alarms(database, resident.user_id)) == 1  # waiting on the staff member

    # The staff member answers within the few minutes: the alarm path never runs.
    await casedesk.store.reply(handoff_id, "我在，警察马上到，您待在房间里别开门。", staff="值班员")
    await jobs.handoffs.poll_once()
    await jobs.outbox(minutes_later=10).flush_once()
    queue = await casedesk.store.queue()
    assert not any(h.resident_ref == resident.user_id for _, h in queue.urgent)
    await jobs.dispatcher.dispatch_once()
    staff_answer = await resident.say("好")
    assert "警察马上到" in staff_answer[0].text
    assert "110" not in " ".join(r.text for r in staff_answer)


async def test_danger_nobody_answers_runs_the_alarm_path_once(
    dialog_engine: DialogEngine, jobs: Jobs, casedesk: RunningDesk, database: AsyncEngine
) -> None:
    resident = Resident(dialog_engine)
    await _taken_handoff(resident, jobs, casedesk)
    for text in ("我不想活了，药已经准备好了", "真的撑不下去了", "再见了大家"):
        assert await resident.say(text) == ()
    assert len(await _alarms(database, resident.user_id)) == 1  # one per conversation

    await jobs.outbox(minutes_later=1).flush_once()  # not yet due: staff still have time
    queue = await casedesk.store.queue()
    assert not any(h.resident_ref == resident.user_id for _, h in queue.urgent)

    await jobs.outbox(minutes_later=4).flush_once()
    queue = await casedesk.store.queue()
    assert [h for _, h in queue.urgent if h.resident_ref == resident.user_id]  # on top of the desk
    await jobs.dispatcher.dispatch_once()
    alert = await resident.say("……")
    text = " ".join(r.text for r in alert)
    assert "12356" in text and "120" in text  # the emergency numbers reach the resident
