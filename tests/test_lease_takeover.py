"""Short claims and leases kept alive by a heartbeat (``bot.jobs.heartbeat``): for each kind of
work — an outbox row, a notification, the progress-sync and handoff-events feed leases, the WeChat
token refresher's lease — a worker that dies holding it is replaced within 10 s and the work is
done once; a live worker whose call takes longer than the lease keeps it (nothing done twice).

Time is simulated where the code takes a clock: a dead worker is one whose heartbeat never beats
again, a slow call is held at a loopback gate while the clock moves on, and the heartbeat of a
live worker beats every few milliseconds of real time. One test kills a real process with SIGKILL
and measures the takeover in real time, on each database the suite runs on."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend_client import CaseSystemClient
from backend_client.models import CaseCreate, HandoffCreate, Reporter, Step
from bot.cases.steps import CaseSteps
from bot.dialogs.replies import Replies
from bot.jobs.handoff_events import HandoffEvents
from bot.jobs.heartbeat import LEASE, RENEW_EVERY
from bot.jobs.notices import queue_notification
from bot.jobs.notify import Delivery, Dispatcher
from bot.jobs.outbox import OutboxWorker
from bot.jobs.sync import ProgressSync
from bot.settings import Settings
from bot.storage import models
from bot.storage.db import sessions
from bot.telegram.runtime import INBOX_EVERY
from bot.wechat.api import WeChatApi
from bot.wechat.token import JOB_NAME as TOKEN_JOB
from bot.wechat.token import TokenRefresher
from tests.conftest import DESK_TOKEN, RunningDesk
from tests.fakes.wechat_api import APP_ID, APP_SECRET, running_fake_wechat

#: A dead worker: its heartbeat never beats again (as after kill -9).
DEAD = timedelta(days=1)
#: A live worker's heartbeat, fast in real time so that simulated time can run ahead.
BEATING = timedelta(milliseconds=20)
#: The promise: a survivor takes the work over within this long.
TAKEOVER = timedelta(seconds=10)
SECOND = timedelta(seconds=1)


def test_the_lease_leaves_room_for_the_survivor_s_polling() -> None:
    # A dead holder's work is free LEASE after its last renewal; a survivor notices at its next
    # run of the job (the claimed queues are polled every few seconds).
    polls = ("outbox_interval", "notify_interval", "handoff_interval")
    slowest = max(float(Settings.model_fields[name].default) for name in polls)
    assert LEASE + timedelta(seconds=max(slowest, INBOX_EVERY)) <= TAKEOVER
    assert RENEW_EVERY * 3 <= LEASE  # one late or failed renewal loses nothing


class Clock:
    """Simulated time, shared by the workers of a test and moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + SECOND  # rows queued just now are due

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(10):
        while not await condition():
            await asyncio.sleep(0.005)


@dataclass
class Gate:
    """A loopback proxy that holds every request until opened: a call that takes as long as the
    test wants. Requests held when the gate opens (or closes) go on to the real server."""

    url: str = ""
    arrived: list[str] = field(default_factory=list)  # request paths
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for_request(self) -> None:
        async def arrived() -> bool:
            return bool(self.arrived)

        await until(arrived)


@asynccontextmanager
async def gate(target: str) -> AsyncIterator[Gate]:
    state = Gate()
    upstream = httpx.AsyncClient(base_url=target, timeout=30)
    handlers: set[asyncio.Task[Any]] = set()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers = dict(line.split(":", 1) for line in head[1:] if ":" in line)
            headers = {k.strip(): v.strip() for k, v in headers.items()}
            body = await reader.readexactly(int(headers.get("Content-Length", "0") or 0))
            state.arrived.append(path.split("?")[0])
            await state.opened.wait()
            skip = {"host", "content-length", "connection"}
            response = await upstream.request(
                method,
                path,
                content=body,
                headers={k: v for k, v in headers.items() if k.lower() not in skip},
            )
            lines = [f"HTTP/1.1 {response.status_code} X", f"Content-Length: {len(response.content)}"]
            lines += [f"Content-Type: {response.headers.get('content-type', 'application/json')}"]
            writer.write("\r\n".join([*lines, "Connection: close", "", ""]).encode() + response.content)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the caller is gone (a dead worker): its request still reached the server
        finally:
            writer.close()

    def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(forward(reader, writer))
        handlers.add(task)
        task.add_done_callback(handlers.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        state.opened.set()
        if handlers:
            await asyncio.wait(handlers, timeout=30)
        server.close()
        await upstream.aclose()


@pytest_asyncio.fixture
async def made(database: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on the test database, with other tests' unfinished rows parked (due in a year):
    the workers here claim every due row, and must meet only this test's."""
    made = sessions(database)
    far = datetime.now(UTC) + timedelta(days=365)
    async with made.begin() as session:
        for model in (models.OutboxItem, models.Notification):
            await session.execute(
                update(model)
                .where(model.status.in_(("pending", "claimed")))
                .values(status="pending", claimed_by=None, next_attempt_at=far)
            )
    return made


# --- the outbox: an escalation row ---


def desk_client(url: str) -> CaseSystemClient:
    return CaseSystemClient(url, DESK_TOKEN, timeout=30, attempts=1, max_backoff=0.05)


async def queue_escalation(made: async_sessionmaker[AsyncSession]) -> tuple[int, str]:
    resident = f"lease-{uuid.uuid4().hex[:12]}"
    payload = {
        "channel": "console", "user_id": resident, "text": "他说要砍死我",
        "categories": ["violence"], "self_harm": False,
    }  # fmt: skip
    async with made.begin() as session:
        row = models.OutboxItem(kind="escalation", priority=0, payload=payload)
        session.add(row)
        await session.flush()
        return row.id, resident


async def outbox_row(made: async_sessionmaker[AsyncSession], row_id: int) -> models.OutboxItem:
    async with made() as session:
        row = await session.get(models.OutboxItem, row_id)
    assert row is not None
    return row


async def desk_escalations(desk: RunningDesk, resident: str) -> int:
    from casedesk.db import Base

    table = Base.metadata.tables["escalations"]
    async with desk.store.engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(table).where(table.c.resident_ref == resident)
        )
    return int(count or 0)


@asynccontextmanager
async def outbox_worker(
    made: async_sessionmaker[AsyncSession], settings: Settings, url: str, clock: Clock, name: str, **more: Any
) -> AsyncIterator[OutboxWorker]:
    async with desk_client(url) as client:
        yield OutboxWorker(
            made, client, Replies.load(settings.knowledge_dir), clock=clock, worker_id=name, **more
        )


async def test_a_dead_outbox_worker_s_row_is_sent_once_by_a_survivor(
    made: async_sessionmaker[AsyncSession], db_settings: Settings, casedesk: RunningDesk
) -> None:
    row_id, resident = await queue_escalation(made)
    clock = Clock()
    async with (
        gate(casedesk.url) as held,
        outbox_worker(made, db_settings, casedesk.url, clock, "outbox-survivor") as survivor,
        outbox_worker(made, db_settings, held.url, clock, "outbox-dead", renew_every=DEAD) as dead,
    ):
        dying = asyncio.create_task(dead.flush_once())
        await held.wait_for_request()  # it claimed the row and is sending it; then it stops
        clock.advance(LEASE - SECOND)
        assert (await survivor.flush_once()).done == 0  # still within the dead worker's lease
        clock.advance(2 * SECOND)  # 7 s after its last renewal, within the 10 s promised
        assert (await survivor.flush_once()).done == 1
        assert (await outbox_row(made, row_id)).claimed_by == "outbox-survivor"
        # Were it only frozen, its request goes through when it wakes (same idempotency key)
        # and it records nothing: the row is the survivor's.
        held.opened.set()
        late = await dying
    assert (late.done, late.retried, late.failed) == (0, 0, 0)
    row = await outbox_row(made, row_id)
    assert (row.status, row.claimed_by) == ("done", "outbox-survivor")
    assert await desk_escalations(casedesk, resident) == 1


async def test_an_outbox_send_slower_than_the_lease_keeps_its_claim(
    made: async_sessionmaker[AsyncSession], db_settings: Settings, casedesk: RunningDesk
) -> None:
    row_id, resident = await queue_escalation(made)
    clock = Clock()
    async with (
        gate(casedesk.url) as held,
        outbox_worker(made, db_settings, casedesk.url, clock, "outbox-rival") as rival,
        outbox_worker(made, db_settings, held.url, clock, "outbox-slow", renew_every=BEATING) as slow,
    ):
        sending = asyncio.create_task(slow.flush_once())
        await held.wait_for_request()

        async def renewed() -> bool:
            claimed_at = (await outbox_row(made, row_id)).claimed_at
            return claimed_at is not None and claimed_at >= clock.now

        async def rival_took_it() -> bool:
            return (await rival.flush_once()).done > 0

        await outlast_the_lease(clock, renewed, rival_took_it)
        held.opened.set()
        assert (await sending).done == 1
    assert held.arrived.count("/api/v1/escalations") == 1  # sent once, by the slow worker
    row = await outbox_row(made, row_id)
    assert (row.status, row.claimed_by) == ("done", "outbox-slow")
    assert await desk_escalations(casedesk, resident) == 1


async def outlast_the_lease(
    clock: Clock, renewed: Callable[[], Awaitable[bool]], rival_took_it: Callable[[], Awaitable[bool]]
) -> None:
    """Simulated time runs on to 30 s into the call, a second at a time; at each step the live
    holder's heartbeat renews (waited for) and a rival finds nothing to take."""
    for _ in range(30):
        clock.advance(SECOND)
        await until(renewed)
        assert not await rival_took_it()


# --- notifications ---


class Channel:
    """A channel's notifier that records what it delivered; ``hold`` keeps sends waiting."""

    def __init__(self, hold: asyncio.Event | None = None) -> None:
        self.hold = hold
        self.sending = asyncio.Event()
        self.delivered: list[str] = []

    async def send(self, user_id: str, text: str) -> Delivery:
        self.sending.set()
        if self.hold is not None:
            await self.hold.wait()
        self.delivered.append(text)
        return Delivery.SENT


async def queue_notice(made: async_sessionmaker[AsyncSession], channel: str) -> tuple[int, str]:
    text = f"您的案件已受理 {uuid.uuid4().hex[:8]}"
    key = f"lease-test:{uuid.uuid4().hex}"
    async with made.begin() as session:
        await queue_notification(session, channel=channel, user_id="resident", text=text, key=key)
        row_id = await session.scalar(
            select(models.Notification.id).where(models.Notification.dedupe_key == key)
        )
    assert row_id is not None
    return row_id, text


async def notification(made: async_sessionmaker[AsyncSession], row_id: int) -> models.Notification:
    async with made() as session:
        row = await session.get(models.Notification, row_id)
    assert row is not None
    return row


async def test_a_dead_dispatcher_s_notification_is_sent_once_by_a_survivor(
    made: async_sessionmaker[AsyncSession],
) -> None:
    row_id, text = await queue_notice(made, "lease")
    clock = Clock()
    hung = Channel(hold=asyncio.Event())  # its send never returns
    dead = Dispatcher(made, {"lease": hung}, clock=clock, worker_id="notify-dead", renew_every=DEAD)
    dying = asyncio.create_task(dead.dispatch_once())
    await hung.sending.wait()
    channel = Channel()
    survivor = Dispatcher(made, {"lease": channel}, clock=clock, worker_id="notify-survivor")
    clock.advance(LEASE - SECOND)
    assert (await survivor.dispatch_once()).sent == 0
    clock.advance(2 * SECOND)
    assert (await survivor.dispatch_once()).sent == 1
    dying.cancel()  # killed mid-send: it never delivered
    await asyncio.wait({dying})
    assert (channel.delivered, hung.delivered) == ([text], [])
    row = await notification(made, row_id)
    assert (row.status, row.attempts) == ("sent", 0)


async def test_a_notification_slower_than_the_lease_keeps_its_claim(
    made: async_sessionmaker[AsyncSession],
) -> None:
    row_id, text = await queue_notice(made, "lease")
    clock = Clock()
    slow = Channel(hold=asyncio.Event())
    holder = Dispatcher(made, {"lease": slow}, clock=clock, worker_id="notify-slow", renew_every=BEATING)
    sending = asyncio.create_task(holder.dispatch_once())
    await slow.sending.wait()
    other = Channel()
    rival = Dispatcher(made, {"lease": other}, clock=clock, worker_id="notify-rival")

    async def renewed() -> bool:
        claimed_at = (await notification(made, row_id)).claimed_at
        return claimed_at is not None and claimed_at >= clock.now

    async def rival_took_it() -> bool:
        return (await rival.dispatch_once()).sent > 0

    await outlast_the_lease(clock, renewed, rival_took_it)
    assert slow.hold is not None
    slow.hold.set()
    assert (await sending).sent == 1
    assert (slow.delivered, other.delivered) == ([text], [])
    assert (await notification(made, row_id)).status == "sent"


#: A dispatcher in a process of its own, whose channel hangs in the send of the one notification.
HANGING_DISPATCHER = """
import asyncio
from bot.jobs.notify import Delivery, Dispatcher
from bot.settings import Settings
from bot.storage.db import create_engine, sessions

class Hanging:
    async def send(self, user_id, text):
        print("sending", flush=True)
        await asyncio.sleep(3600)
        return Delivery.SENT

async def main():
    engine = create_engine(Settings())
    await Dispatcher(sessions(engine), {"sigkill": Hanging()}).dispatch_once()

asyncio.run(main())
"""


async def test_kill_9_of_a_process_mid_send_the_survivor_sends_within_10_s(
    made: async_sessionmaker[AsyncSession], db_settings: Settings
) -> None:
    row_id, text = await queue_notice(made, "sigkill")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env["BOT_DATA_DIR"] = str(db_settings.data_dir)
    if db_settings.database_url:
        env["BOT_DATABASE_URL"] = db_settings.database_url
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HANGING_DISPATCHER, env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(60):
            while (await process.stdout.readline()).strip() != b"sending":
                pass
        channel = Channel()
        survivor = Dispatcher(made, {"sigkill": channel})  # real time from here on
        loop = asyncio.get_running_loop()
        # While the process lives, its heartbeat keeps the claim, past the lease.
        live_until = loop.time() + (LEASE + SECOND).total_seconds()
        while loop.time() < live_until:
            assert (await survivor.dispatch_once()).sent == 0
            await asyncio.sleep(0.2)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        killed_at = loop.time()
        while not channel.delivered and loop.time() - killed_at < 2 * TAKEOVER.total_seconds():
            await survivor.dispatch_once()
            await asyncio.sleep(0.2)
        taken_over_in = loop.time() - killed_at
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert channel.delivered == [text]
    assert taken_over_in < TAKEOVER.total_seconds(), f"taken over {taken_over_in:.1f} s after the kill"
    assert (await notification(made, row_id)).status == "sent"


# --- the feed readers' leases: progress sync and handoff events ---


@dataclass
class Feed:
    """One feed reader and one new item in the desk's feed for this bot. ``read`` is one run of a
    reader through ``url`` (True: it held the lease and handled the item); ``notes`` counts the
    bot's notifications of the item."""

    job: str
    read: Callable[[str, Clock, timedelta], Coroutine[Any, Any, bool]]
    notes: Callable[[], Awaitable[int]]


async def a_case_moved(made: async_sessionmaker[AsyncSession], settings: Settings, desk: RunningDesk) -> Feed:
    reference = f"LT{uuid.uuid4().hex[:12]}"
    async with desk_client(desk.url) as client:
        filed = await client.create_case(
            CaseCreate(
                reference=reference, dispute_type="neighbor", description="楼上漏水", place="幸福小区",
                occurred="上周", reporter=Reporter(), channel="console", consent_at=datetime.now(UTC),
            ),
            idempotency_key=uuid.uuid4().hex,
        )  # fmt: skip
    async with made.begin() as session:
        session.add(
            models.Case(
                reference=reference, channel="console", user_id=f"lease-{reference}", dispute_type="neighbor",
                description="楼上漏水", place="幸福小区", occurred="上周", consent_at=datetime.now(UTC),
                backend_case_no=filed.case_no, step=filed.step.value,
            )
        )  # fmt: skip
    await desk.store.move_case(
        filed.case_no, to=Step.MEDIATION, expected=Step.ACCEPTED, public_note=None, staff="t"
    )
    replies, steps = Replies.load(settings.knowledge_dir), CaseSteps.load(settings.knowledge_dir)

    async def read(url: str, clock: Clock, renew_every: timedelta) -> bool:
        async with desk_client(url) as client:
            sync = ProgressSync(made, client, replies, steps, clock=clock, renew_every=renew_every)
            return (await sync.sync_once()).ran

    async def notes() -> int:
        return await count_notes(made, models.Notification.dedupe_key.like(f"change:{filed.case_no}:%"))

    return Feed("progress_sync", read, notes)


async def a_handoff_taken(
    made: async_sessionmaker[AsyncSession], settings: Settings, desk: RunningDesk
) -> Feed:
    resident = f"lease-{uuid.uuid4().hex[:12]}"
    async with desk_client(desk.url) as client:
        handoff = await client.create_handoff(
            HandoffCreate(channel="console", resident_ref=resident, text="想找人工"),
            idempotency_key=uuid.uuid4().hex,
        )
    async with made.begin() as session:
        row = models.Handoff(channel="console", user_id=resident, backend_id=handoff.id)
        row.status = "waiting"
        session.add(row)
    await desk.store.take_handoff(handoff.id, staff="值班员")
    replies = Replies.load(settings.knowledge_dir)

    async def read(url: str, clock: Clock, renew_every: timedelta) -> bool:
        async with desk_client(url) as client:
            events = HandoffEvents(made, client, replies, clock=clock, renew_every=renew_every)
            return await events.poll_once() > 0  # 0: no lease (or lost), as the feed has our event

    async def notes() -> int:
        return await count_notes(made, models.Notification.user_id == resident)

    return Feed("handoff_events", read, notes)


async def count_notes(made: async_sessionmaker[AsyncSession], where: Any) -> int:
    async with made() as session:
        found = await session.scalar(select(func.count()).select_from(models.Notification).where(where))
    return int(found or 0)


async def lease_renewed(made: async_sessionmaker[AsyncSession], job: str, clock: Clock) -> bool:
    async with made() as session:
        lease = await session.get(models.JobLease, job)
    return lease is not None and lease.expires_at is not None and lease.expires_at >= clock.now + LEASE


@pytest_asyncio.fixture(params=["progress_sync", "handoff_events"])
async def feed(
    request: pytest.FixtureRequest,
    made: async_sessionmaker[AsyncSession],
    db_settings: Settings,
    casedesk: RunningDesk,
) -> Feed:
    make = a_case_moved if request.param == "progress_sync" else a_handoff_taken
    return await make(made, db_settings, casedesk)


async def test_a_dead_feed_reader_s_lease_is_taken_over_and_the_item_applied_once(
    feed: Feed, casedesk: RunningDesk
) -> None:
    clock = Clock()
    async with gate(casedesk.url) as held:
        dying = asyncio.create_task(feed.read(held.url, clock, DEAD))
        await held.wait_for_request()  # it holds the lease and is reading the feed; then it stops
        clock.advance(LEASE - SECOND)
        assert not await feed.read(casedesk.url, clock, RENEW_EVERY)
        clock.advance(2 * SECOND)
        assert await feed.read(casedesk.url, clock, RENEW_EVERY)
        assert await feed.notes() == 1
        # Were it only frozen, it wakes with the page it asked for and applies none of it:
        # the cursor is no longer its to move, and the page's transaction rolls back.
        held.opened.set()
        assert not await dying
    assert await feed.notes() == 1


async def test_a_feed_read_slower_than_the_lease_keeps_its_lease(
    feed: Feed, made: async_sessionmaker[AsyncSession], casedesk: RunningDesk
) -> None:
    clock = Clock()
    async with gate(casedesk.url) as held:
        reading = asyncio.create_task(feed.read(held.url, clock, BEATING))
        await held.wait_for_request()

        async def renewed() -> bool:
            return await lease_renewed(made, feed.job, clock)

        async def rival_took_it() -> bool:
            return await feed.read(casedesk.url, clock, RENEW_EVERY)

        await outlast_the_lease(clock, renewed, rival_took_it)
        held.opened.set()
        assert await reading
    assert await feed.notes() == 1


# --- the WeChat access_token refresher's lease ---


@pytest_asyncio.fixture
async def no_stored_token(made: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """No token before the test, and none after it: the database is the session's, and a token
    the fake WeChat of a later test never issued would be refused there."""

    async def clear() -> None:
        async with made.begin() as session:
            await session.execute(delete(models.ChannelToken))
            await session.execute(delete(models.JobLease).where(models.JobLease.name == TOKEN_JOB))

    await clear()
    yield
    await clear()


async def stored_token(made: async_sessionmaker[AsyncSession]) -> models.ChannelToken | None:
    async with made() as session:
        return await session.get(models.ChannelToken, "wechat")


@pytest.mark.usefixtures("no_stored_token")
async def test_a_dead_token_refresher_s_lease_is_taken_over_and_one_token_stored(
    made: async_sessionmaker[AsyncSession],
) -> None:
    clock = Clock()
    async with (
        running_fake_wechat() as wechat,
        gate(wechat.url) as held,
        WeChatApi(held.url, timeout=30, attempts=1) as frozen_api,
        WeChatApi(wechat.url) as api,
    ):
        dead = TokenRefresher(made, frozen_api, APP_ID, APP_SECRET, clock=clock, renew_every=DEAD)
        dying = asyncio.create_task(dead.run_once())
        await held.wait_for_request()  # it holds the lease and is fetching; then it stops
        survivor = TokenRefresher(made, api, APP_ID, APP_SECRET, clock=clock)
        clock.advance(LEASE - SECOND)
        assert await survivor.run_once() is None
        clock.advance(2 * SECOND)
        state = await survivor.run_once()
        assert state is not None and state.refreshed
        stored_at = clock.now
        clock.advance(SECOND)
        held.opened.set()  # were it only frozen, it wakes with a token and stores nothing
        assert await dying is None
    token = await stored_token(made)
    assert token is not None and token.refreshed_at == stored_at


@pytest.mark.usefixtures("no_stored_token")
async def test_a_token_fetch_slower_than_the_lease_keeps_its_lease(
    made: async_sessionmaker[AsyncSession],
) -> None:
    clock = Clock()
    async with (
        running_fake_wechat() as wechat,
        gate(wechat.url) as held,
        WeChatApi(held.url, timeout=30, attempts=1) as slow_api,
        WeChatApi(wechat.url) as api,
    ):
        holder = TokenRefresher(made, slow_api, APP_ID, APP_SECRET, clock=clock, renew_every=BEATING)
        fetching = asyncio.create_task(holder.run_once())
        await held.wait_for_request()
        rival = TokenRefresher(made, api, APP_ID, APP_SECRET, clock=clock)

        async def renewed() -> bool:
            return await lease_renewed(made, TOKEN_JOB, clock)

        async def rival_took_it() -> bool:
            return await rival.run_once() is not None

        await outlast_the_lease(clock, renewed, rival_took_it)
        held.opened.set()
        state = await fetching
    assert state is not None and state.refreshed
    assert wechat.calls.count("/cgi-bin/stable_token") == 1  # fetched once, by the slow holder
    token = await stored_token(made)
    assert token is not None and token.refreshed_at == clock.now
