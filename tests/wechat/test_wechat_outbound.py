"""What the bot sends to WeChat on its own: the shared access_token, notifications by the best
path the account has (customer-service message, template message, or held), error handling.
WeChat is the fake of ``tests/fakes/wechat_api.py`` on loopback; the database is real."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channel import ChannelParts
from bot.jobs.notices import queue_notification
from bot.jobs.notify import Delivery, Dispatcher, NotifyFailed, NotifyRetryable
from bot.settings import Settings, WeChatAccount
from bot.storage import models
from bot.storage.db import sessions
from bot.wechat.api import WeChatApi
from bot.wechat.notifier import Template, WeChatNotifier
from bot.wechat.parts import wechat_api, wechat_channel
from bot.wechat.token import JOB_NAME, StoredAccessToken, TokenRefresher
from tests.fakes import wechat_api as fakes
from tests.fakes.wechat_api import APP_ID, APP_SECRET, TEMPLATE_ID, FakeWeChat

fake_wechat = fakes.fake_wechat  # the fixture

CUSTOM = "/cgi-bin/message/custom/send"
FIELDS = {"thing1": "title", "thing2": "detail", "time3": "time", "character_string4": "reference"}


@pytest_asyncio.fixture(autouse=True)
async def no_stored_token(database: AsyncEngine) -> None:
    """Each test's fake issues its own tokens: forget the previous test's."""
    async with sessions(database).begin() as session:
        await session.execute(delete(models.ChannelToken))
        await session.execute(delete(models.JobLease).where(models.JobLease.name == JOB_NAME))


@pytest_asyncio.fixture
async def channel(
    fake_wechat: FakeWeChat, db_settings: Settings, database: AsyncEngine
) -> AsyncIterator[ChannelParts]:
    """The channel's parts as the runtime builds them, with the refresher job run once."""
    settings = fake_wechat.configure(db_settings, wechat_template_fields=FIELDS)
    async with wechat_channel(settings, database) as parts:
        (job,) = parts.jobs
        await job.run()
        yield parts


def openid() -> str:
    return f"o{uuid.uuid4().hex[:27]}"


async def resident_wrote(database: AsyncEngine, user: str, at: datetime | None = None) -> None:
    """What the webhook records on every message a resident sends."""
    moment = at or datetime.now(UTC)
    insert = postgresql.insert if database.dialect.name == "postgresql" else sqlite.insert
    statement = insert(models.ResidentContact).values(
        channel="wechat", user_id=user, last_inbound_at=moment, pushed_since=0
    )
    async with sessions(database).begin() as session:
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["channel", "user_id"], set_={"last_inbound_at": moment, "pushed_since": 0}
            )
        )


async def pushed_since(database: AsyncEngine, user: str) -> int:
    async with sessions(database)() as session:
        contact = await session.get(models.ResidentContact, ("wechat", user))
        assert contact is not None
        return contact.pushed_since


# --- the access_token ---


async def test_one_refresher_fetches_and_every_process_reuses_the_token(
    channel: ChannelParts, fake_wechat: FakeWeChat, database: AsyncEngine, db_settings: Settings
) -> None:
    await channel.jobs[0].run()  # the job's next run: the stored token is still good
    user = openid()
    fake_wechat.resident_wrote(user)
    await resident_wrote(database, user)
    # Two more "processes", each with its own client reading the stored token.
    others = [wechat_api(fake_wechat.configure(db_settings), database) for _ in range(2)]
    try:
        for n, api in enumerate([*others, *others]):
            await api.send_text(user, f"message {n}")
    finally:
        for api in others:
            await api.aclose()
    assert await channel.notifier.send(user, "from the notifier") is Delivery.SENT
    assert fake_wechat.token_requests == 1
    assert len(fake_wechat.texts_to(user)) == 5
    assert not fake_wechat.refused


async def test_racing_refreshers_fetch_one_token(fake_wechat: FakeWeChat, database: AsyncEngine) -> None:
    made = sessions(database)
    async with WeChatApi(fake_wechat.url) as api:
        refreshers = [TokenRefresher(made, api, APP_ID, APP_SECRET) for _ in range(3)]
        states = await asyncio.gather(*(r.run_once() for r in refreshers))
    assert fake_wechat.token_requests == 1
    assert [s.refreshed for s in states if s is not None].count(True) == 1


async def test_the_refresher_asks_again_only_near_the_end(
    fake_wechat: FakeWeChat, database: AsyncEngine
) -> None:
    made = sessions(database)
    async with WeChatApi(fake_wechat.url, StoredAccessToken(made)) as api:
        first = await TokenRefresher(made, api, APP_ID, APP_SECRET).run_once()
        assert first is not None
        in_100_minutes = first.expires_at - timedelta(minutes=20)
        still = await TokenRefresher(made, api, APP_ID, APP_SECRET, clock=lambda: in_100_minutes).run_once()
        assert (still is not None, fake_wechat.token_requests) == (True, 1)
        near_end = first.expires_at - timedelta(minutes=10)
        again = await TokenRefresher(made, api, APP_ID, APP_SECRET, clock=lambda: near_end).run_once()
        assert again is not None and again.refreshed
        assert fake_wechat.token_requests == 2
        user = openid()
        fake_wechat.resident_wrote(user)
        await api.send_text(user, "still works")  # the stable token in force was kept, not replaced
    assert fake_wechat.texts_to(user) == ["still works"]


async def test_a_refused_token_is_read_again_once(
    channel: ChannelParts, fake_wechat: FakeWeChat, database: AsyncEngine
) -> None:
    user = openid()
    fake_wechat.resident_wrote(user)
    await resident_wrote(database, user)
    assert await channel.notifier.send(user, "first") is Delivery.SENT  # caches the token
    fake_wechat.invalidate_tokens()
    # No new token stored yet: the re-read finds the same one, so try later.
    with pytest.raises(NotifyRetryable, match="40001"):
        await channel.notifier.send(user, "second")
    # Another process's refresher stores a new one: this process picks it up on the refusal.
    async with WeChatApi(fake_wechat.url) as api:
        near_end = datetime.now(UTC) + timedelta(hours=1, minutes=50)
        await TokenRefresher(sessions(database), api, APP_ID, APP_SECRET, clock=lambda: near_end).run_once()
    assert await channel.notifier.send(user, "third") is Delivery.SENT
    assert fake_wechat.texts_to(user) == ["first", "third"]
    assert await pushed_since(database, user) == 2  # the refused one spent none of the five
    assert [code for path, code in fake_wechat.refused if path == CUSTOM] == [40001, 40001]


# --- notifications ---


async def test_inside_the_window_a_customer_service_message_goes_out(
    channel: ChannelParts, fake_wechat: FakeWeChat, database: AsyncEngine
) -> None:
    user = openid()
    fake_wechat.resident_wrote(user)
    await resident_wrote(database, user)
    text = "您的案件 TJ20261122-0001 有新进展：调解中。"
    assert await channel.notifier.send(user, text) is Delivery.SENT
    assert fake_wechat.texts_to(user) == [text]
    assert not fake_wechat.templates_to(user)
    assert await pushed_since(database, user) == 1


async def test_a_long_text_goes_in_parts_each_counted(
    channel: ChannelParts, fake_wechat: FakeWeChat, database: AsyncEngine
) -> None:
    user = openid()
    fake_wechat.resident_wrote(user)
    await resident_wrote(database, user)
    sentence = "工作人员已联系双方，约定下周在社区调解室面谈，请按时到场并带好相关材料。"
    text = sentence * 120  # about 4,300 characters
    assert await channel.notifier.send(user, text) is Delivery.SENT
    parts = fake_wechat.texts_to(user)
    assert len(parts) == 3
    assert all(len(p) <= 2000 and p.endswith("。") for p in parts)
    assert "".join(parts) == text
    assert await pushed_since(database, user) == 3


async def test_outside_the_window_a_template_message_goes_out(
    fake_wechat: FakeWeChat, db_settings: Settings, database: AsyncEngine
) -> None:
    user = openid()
    now = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)
    await resident_wrote(database, user, now - timedelta(days=3))
    text = (
        "您的案件 TJ20261122-0001 有新进展：调解中。😊\n"
        "调解员将在三个工作日内与您联系，请保持电话畅通。工作人员留言：请带上租房合同。"
    )
    settings = fake_wechat.configure(db_settings)
    made = sessions(database)
    async with wechat_api(settings, database) as api:
        await TokenRefresher(made, api, APP_ID, APP_SECRET).run_once()
        notifier = WeChatNotifier(
            api,
            made,
            account=WeChatAccount.SERVICE,
            template=Template(TEMPLATE_ID, FIELDS),
            timezone=ZoneInfo("Asia/Shanghai"),
            clock=lambda: now,
        )
        assert await notifier.send(user, text) is Delivery.SENT
    assert fake_wechat.calls.count(CUSTOM) == 0  # outside the window: not even tried
    (template,) = fake_wechat.templates_to(user)
    assert template.template_id == TEMPLATE_ID
    data = template.data
    assert data["time3"] == "2026-11-22 10:30"  # the centre's time
    assert data["character_string4"] == "TJ20261122-0001"
    assert data["thing1"].split("\n") == ["您的案件 TJ20261122-0001", "有新进展：调解中。"]
    assert "😊" not in data["thing1"]
    assert all(len(line) <= 20 for value in data.values() for line in value.split("\n"))
    assert data["thing2"].replace("\n", "") == (
        "调解员将在三个工作日内与您联系，请保持电话畅通。工作人员留言：请带上租房合同。"
    )


async def test_a_text_too_long_for_a_template_is_also_held_whole(
    channel: ChannelParts, fake_wechat: FakeWeChat, database: AsyncEngine
) -> None:
    user = openid()
    await resident_wrote(database, user, datetime.now(UTC) - timedelta(days=3))
    text = "工作人员：" + "关于您反映的邻里噪音问题，我们已经上门了解情况。" * 12
    assert await channel.notifier.send(user, text) is Delivery.HELD
    (template,) = fake_wechat.templates_to(user)  # the fake checked every line and the total
    assert template.data["thing1"].endswith("…")


async def test_our_quota_of_five_then_the_template(
    channel: ChannelParts, fake_wechat: FakeWeChat, database: AsyncEngine
) -> None:
    user = openid()
    fake_wechat.resident_wrote(user)
    await resident_wrote(database, user)
    for n in range(6):
        assert await channel.notifier.send(user, f"进展 {n}") is Delivery.SENT
    assert fake_wechat.texts_to(user) == [f"进展 {n}" for n in range(5)]
    assert [t.data["thing1"] for t in fake_wechat.templates_to(user)] == ["进展 5"]
    assert not fake_wechat.refused  # the bot knew the quota was spent; WeChat never had to say


async def test_wechat_closing_the_window_falls_back_to_the_template(
    channel: ChannelParts, fake_wechat: FakeWeChat, database: AsyncEngine
) -> None:
    user = openid()
    await resident_wrote(database, user)  # the bot believes the window is open
    fake_wechat.resident_wrote(user, datetime.now(UTC) - timedelta(hours=49))  # WeChat does not
    assert await channel.notifier.send(user, "第一条") is Delivery.SENT
    assert await channel.notifier.send(user, "第二条") is Delivery.SENT
    assert [t.data["thing1"] for t in fake_wechat.templates_to(user)] == ["第一条", "第二条"]
    assert fake_wechat.refused == [(CUSTOM, 45015)]  # the second went straight to the template
    await resident_wrote(database, user)  # the resident writes again: pushes are allowed again
    fake_wechat.resident_wrote(user)
    assert await channel.notifier.send(user, "第三条") is Delivery.SENT
    assert fake_wechat.texts_to(user) == ["第三条"]


async def test_quota_spent_at_wechat_without_a_template_is_held(
    fake_wechat: FakeWeChat, db_settings: Settings, database: AsyncEngine
) -> None:
    user = openid()
    fake_wechat.resident_wrote(user)
    await resident_wrote(database, user)
    settings = fake_wechat.configure(db_settings, wechat_template_id=None)
    async with wechat_channel(settings, database) as parts:
        await parts.jobs[0].run()
        async with wechat_api(settings, database) as api:  # pushes the bot did not count
            for n in range(5):
                await api.send_text(user, f"elsewhere {n}")
        assert await parts.notifier.send(user, "进展") is Delivery.HELD
    assert fake_wechat.refused == [(CUSTOM, 45047)]
    assert await pushed_since(database, user) == 5


async def test_without_a_template_the_dispatcher_leaves_it_held(
    fake_wechat: FakeWeChat, db_settings: Settings, database: AsyncEngine
) -> None:
    user = openid()
    await resident_wrote(database, user, datetime.now(UTC) - timedelta(days=5))
    made = sessions(database)
    async with made.begin() as session:
        await session.execute(
            update(models.Notification).where(models.Notification.status == "pending").values(status="sent")
        )  # earlier tests' rows
        await queue_notification(session, channel="wechat", user_id=user, text="进展", key=uuid.uuid4().hex)
    settings = fake_wechat.configure(db_settings, wechat_template_id=None)
    async with wechat_channel(settings, database) as parts:
        await parts.jobs[0].run()
        result = await Dispatcher(made, {"wechat": parts.notifier}).dispatch_once()
    assert (result.held, result.sent) == (1, 0)
    async with made() as session:
        status = await session.scalar(
            select(models.Notification.status).where(models.Notification.user_id == user)
        )
    assert status == "held"  # goes out with the reply to the resident's next message
    assert not fake_wechat.sent


async def test_a_subscription_account_holds_without_calling_wechat(
    fake_wechat: FakeWeChat, db_settings: Settings, database: AsyncEngine
) -> None:
    user = openid()
    await resident_wrote(database, user)
    settings = fake_wechat.configure(db_settings, wechat_account=WeChatAccount.SUBSCRIPTION)
    async with wechat_channel(settings, database) as parts:
        assert await parts.notifier.send(user, "进展") is Delivery.HELD
    assert fake_wechat.calls == []


async def test_an_unsubscribed_resident_fails_once_and_is_not_retried(
    channel: ChannelParts, fake_wechat: FakeWeChat, database: AsyncEngine
) -> None:
    user = openid()
    fake_wechat.resident_wrote(user)
    await resident_wrote(database, user)
    fake_wechat.unsubscribe(user)
    with pytest.raises(NotifyFailed, match="43004"):
        await channel.notifier.send(user, "进展")
    made = sessions(database)
    async with made.begin() as session:
        await session.execute(
            update(models.Notification).where(models.Notification.status == "pending").values(status="sent")
        )
        await queue_notification(session, channel="wechat", user_id=user, text="进展", key=uuid.uuid4().hex)
    later = datetime.now(UTC) + timedelta(days=1)
    first = await Dispatcher(made, {"wechat": channel.notifier}).dispatch_once()
    again = await Dispatcher(made, {"wechat": channel.notifier}, clock=lambda: later).dispatch_once()
    assert (first.failed, again.failed, again.retried) == (1, 0, 0)
    async with made() as session:
        status = await session.scalar(
            select(models.Notification.status).where(
                models.Notification.user_id == user, models.Notification.channel == "wechat"
            )
        )
    assert status == "failed"
    assert fake_wechat.refused.count((CUSTOM, 43004)) == 2  # the direct try and the dispatcher's


async def test_a_busy_wechat_is_asked_again(
    channel: ChannelParts, fake_wechat: FakeWeChat, database: AsyncEngine
) -> None:
    user = openid()
    fake_wechat.resident_wrote(user)
    await resident_wrote(database, user)
    fake_wechat.busy(1)
    assert await channel.notifier.send(user, "进展") is Delivery.SENT
    assert fake_wechat.refused == [(CUSTOM, -1)]
    assert fake_wechat.texts_to(user) == ["进展"]


async def test_before_the_first_token_notifications_wait(
    fake_wechat: FakeWeChat, db_settings: Settings, database: AsyncEngine
) -> None:
    user = openid()
    await resident_wrote(database, user)
    async with wechat_channel(fake_wechat.configure(db_settings), database) as parts:
        with pytest.raises(NotifyRetryable, match="no valid token"):
            await parts.notifier.send(user, "进展")
    assert fake_wechat.calls == []
    assert await pushed_since(database, user) == 0


async def test_an_unreachable_wechat_is_retried_later_without_spending_quota(
    channel: ChannelParts, db_settings: Settings, database: AsyncEngine
) -> None:
    user = openid()
    await resident_wrote(database, user)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = db_settings.model_copy(
        update={"wechat_api_url": closed, "wechat_app_id": APP_ID, "wechat_app_secret": SecretStr(APP_SECRET)}
    )
    async with wechat_channel(settings, database) as parts:  # the token is stored already
        with pytest.raises(NotifyRetryable, match="unreachable"):
            await parts.notifier.send(user, "进展")
    assert await pushed_since(database, user) == 0
