"""Getting messages to residents through Telegram's limits and failures: notifications, pacing
shared through the database, flood waits, photos fetched back, updates retried after a failure,
and long polling for development."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.jobs.media import MediaGone
from bot.jobs.notify import Delivery, NotifyFailed, NotifyRetryable
from bot.jobs.pacing import SharedPacer
from bot.settings import Settings
from bot.storage.db import sessions
from bot.telegram.application import TelegramApp, build_application
from bot.telegram.media import TelegramMedia
from bot.telegram.notifier import TelegramNotifier
from bot.telegram.polling import poll
from bot.telegram.sender import TelegramSender
from bot.telegram.tags import ChatTags
from tests.fakes.telegram_api import SECRET, FakeTelegram
from tests.telegram.conftest import TelegramBot

INTERVAL = 0.2


@pytest_asyncio.fixture
async def application(fake_telegram: FakeTelegram, db_settings: Settings) -> AsyncIterator[TelegramApp]:
    app = build_application(fake_telegram.configure(db_settings))
    await app.initialize()
    yield app
    await app.shutdown()


@pytest.fixture
def notifier(application: TelegramApp, database: AsyncEngine) -> TelegramNotifier:
    sender = TelegramSender(application.bot, SharedPacer(sessions(database)), rate=30, chat_interval=INTERVAL)
    return TelegramNotifier(sender, ChatTags(SECRET))


async def test_a_notification_reaches_the_residents_chat(
    fake_telegram: FakeTelegram, notifier: TelegramNotifier
) -> None:
    chat = fake_telegram.chat()
    assert await notifier.send(str(chat.id), "您的案件 TJ20261122-0001 有新进展：已受理。") is Delivery.SENT
    [message] = fake_telegram.sent_to(chat.id)
    assert message.text == "您的案件 TJ20261122-0001 有新进展：已受理。"
    long = await notifier.send(str(chat.id), "工作人员留言：" + "请携带身份证和相关证据材料。" * 400)
    assert long is Delivery.SENT
    assert len(fake_telegram.sent_to(chat.id)) == 3  # 5000+ characters arrive in two messages


async def test_a_resident_who_blocked_the_bot_or_a_chat_that_is_gone_fails_for_good(
    fake_telegram: FakeTelegram, notifier: TelegramNotifier
) -> None:
    blocked, gone = fake_telegram.chat(), fake_telegram.chat()
    fake_telegram.blocked.add(blocked.id)
    fake_telegram.gone.add(gone.id)
    with pytest.raises(NotifyFailed):
        await notifier.send(str(blocked.id), "您好")
    with pytest.raises(NotifyFailed):
        await notifier.send(str(gone.id), "您好")
    with pytest.raises(NotifyFailed):
        await notifier.send("oWeChatOpenId", "您好")  # not a Telegram chat at all


async def test_a_telegram_outage_is_retried_later(
    fake_telegram: FakeTelegram, notifier: TelegramNotifier
) -> None:
    chat = fake_telegram.chat()
    fake_telegram.fail("sendMessage", 502, "Bad Gateway")
    with pytest.raises(NotifyRetryable):
        await notifier.send(str(chat.id), "您好")
    assert fake_telegram.sent_to(chat.id) == []


async def test_a_flood_wait_is_honoured_before_sending_again(
    fake_telegram: FakeTelegram, notifier: TelegramNotifier
) -> None:
    chat = fake_telegram.chat()
    fake_telegram.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    assert await notifier.send(str(chat.id), "您好") is Delivery.SENT
    [message] = fake_telegram.sent_to(chat.id)
    [(_, refused_at)] = fake_telegram.refused
    assert message.at - refused_at >= 1.0  # as the fake saw it


async def test_messages_to_one_chat_are_spaced_by_the_shared_pacer(
    fake_telegram: FakeTelegram, notifier: TelegramNotifier, application: TelegramApp, database: AsyncEngine
) -> None:
    chat, other = fake_telegram.chat(), fake_telegram.chat()
    # A second sender (another bot process) shares the slots through the database.
    elsewhere = TelegramNotifier(
        TelegramSender(application.bot, SharedPacer(sessions(database)), rate=30, chat_interval=INTERVAL),
        ChatTags(SECRET),
    )
    sends = [notifier.send(str(chat.id), f"第{n}条") for n in range(3)]
    sends += [elsewhere.send(str(chat.id), f"第{n}条") for n in range(3, 5)]
    sends += [notifier.send(str(other.id), "另一位居民")]
    assert set(await asyncio.gather(*sends)) == {Delivery.SENT}
    times = [m.at for m in fake_telegram.sent_to(chat.id)]
    assert len(times) == 5
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # As the fake saw them, with room for loopback jitter (unpaced sends would be ms apart).
    assert min(gaps) >= INTERVAL * 0.75, gaps


async def test_a_residents_photo_is_fetched_for_the_case(
    fake_telegram: FakeTelegram, application: TelegramApp
) -> None:
    fake_telegram.add_file("AgACAgUAAxkBAAIphoto", b"\xff\xd8\xff\xe0 jpeg bytes", "photos/file_7.jpg")
    media = TelegramMedia(application.bot)
    fetched = await media.fetch("AgACAgUAAxkBAAIphoto")
    assert fetched.content == b"\xff\xd8\xff\xe0 jpeg bytes"
    assert fetched.content_type == "image/jpeg"
    assert fetched.filename.endswith(".jpg")
    with pytest.raises(MediaGone):
        await media.fetch("AgACAgUAAxkBAAIunknown")


@pytest.mark.rasa
async def test_an_update_whose_answer_failed_is_answered_when_retried(telegram_bot: TelegramBot) -> None:
    fake = telegram_bot.fake
    chat = fake.chat()
    fake.fail("sendMessage", 500, "Internal Server Error")
    update = chat.says("你好")
    response = await telegram_bot.deliver(update)
    assert response.status_code == 200  # stored: Telegram must not resend it
    assert fake.sent_to(chat.id) == []
    [row] = await telegram_bot.stored(update["update_id"])
    assert (row.status, row.attempts) == ("pending", 1)
    # Not yet due: the periodic job leaves it alone for now.
    assert (await telegram_bot.channel.inbox.process_due()).done == 0
    later = datetime.now(UTC) + timedelta(minutes=1)
    result = await telegram_bot.channel.inbox.process_due(now=later)
    assert result.done == 1
    assert len(fake.sent_to(chat.id)) >= 1
    [row] = await telegram_bot.stored(update["update_id"])
    assert row.status == "done"


@pytest.mark.rasa
async def test_an_update_for_a_resident_who_blocked_the_bot_is_not_retried(telegram_bot: TelegramBot) -> None:
    chat = telegram_bot.fake.chat()
    telegram_bot.fake.blocked.add(chat.id)
    update = chat.says("你好")
    await telegram_bot.deliver(update)
    [row] = await telegram_bot.stored(update["update_id"])
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error is not None and "blocked" in row.last_error


@pytest.mark.rasa
async def test_long_polling_answers_through_the_inbox(telegram_bot: TelegramBot) -> None:
    fake = telegram_bot.fake
    fake.webhook = {"url": "https://bot.example.org/telegram/webhook"}
    chat = fake.chat()
    update = chat.says("/start")
    fake.queue_update(update)
    stop = asyncio.Event()
    polling = asyncio.create_task(poll(telegram_bot.channel, stop=stop, long_poll=1))
    try:
        [answer] = await fake.wait_for_sent(chat.id, 1)
    finally:
        stop.set()
        await polling
    assert fake.webhook is None  # polling removed the webhook first
    assert answer.buttons  # the menu, as on the webhook
    [row] = await telegram_bot.stored(update["update_id"])
    assert row.status == "done"
    # The update was confirmed to Telegram (the next getUpdates asked for what follows it).
    offsets = [int(p["offset"]) for m, p in fake.calls if m == "getUpdates" and "offset" in p]
    assert update["update_id"] + 1 in offsets


async def test_set_webhook_registers_the_address_with_the_secret(
    fake_telegram: FakeTelegram, settings: Settings
) -> None:
    env = {
        **os.environ,
        "BOT_TELEGRAM_TOKEN": fake_telegram.token,
        "BOT_TELEGRAM_SECRET": SECRET,
        "BOT_TELEGRAM_API_URL": f"{fake_telegram.url}/bot",
        "BOT_TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram/webhook",
        "BOT_DATA_DIR": str(settings.data_dir),
    }
    command = [
        sys.executable,
        "-c",
        "from bot.cli_telegram import telegram_app; telegram_app()",
        "set-webhook",
    ]
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "webhook set" in out.decode()
    assert fake_telegram.webhook == {
        "url": "https://bot.example.org/telegram/webhook",
        "secret_token": SECRET,
        "allowed_updates": ["message", "callback_query"],
    }
    # Without a token the command says what is missing.
    env.pop("BOT_TELEGRAM_TOKEN")
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    assert process.returncode == 2
    assert "BOT_TELEGRAM_TOKEN" in err.decode()
