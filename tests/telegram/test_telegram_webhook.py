"""Residents on Telegram: updates as Telegram sends them, POSTed to the webhook; the bot's answers
arrive at the fake Bot API as Telegram would receive them."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from bot.dialogs.replies import Replies
from bot.handlers.telegram import SECRET_HEADER
from bot.storage.db import sessions
from bot.storage.models import Case
from tests.conftest import answer_report
from tests.fakes.telegram_api import SECRET
from tests.telegram.conftest import TelegramBot

pytestmark = pytest.mark.rasa


async def test_start_welcomes_the_resident_and_shows_the_menu_as_buttons(
    telegram_bot: TelegramBot, replies: Replies
) -> None:
    chat = telegram_bot.fake.chat()
    response = await telegram_bot.deliver(chat.says("/start"))
    assert (response.status_code, response.json()) == (200, {})
    [message] = telegram_bot.fake.sent_to(chat.id)  # welcome and menu in one message
    assert message.text.startswith(replies.text("telegram.welcome"))
    assert replies.text("menu") in message.text
    assert message.buttons == list(replies.template("menu").options)


async def test_help_and_cancel_commands_are_understood(telegram_bot: TelegramBot, replies: Replies) -> None:
    chat = telegram_bot.fake.chat()
    await telegram_bot.deliver(chat.says("/help"))
    [menu] = telegram_bot.fake.sent_to(chat.id)
    assert replies.text("menu") in menu.text
    await telegram_bot.deliver(chat.says("登记纠纷"))
    await telegram_bot.deliver(chat.says("/cancel"))
    assert telegram_bot.fake.sent_to(chat.id)[-1].text == replies.text("cancelled")


async def test_a_text_message_gets_an_answer_in_chinese(telegram_bot: TelegramBot, replies: Replies) -> None:
    chat = telegram_bot.fake.chat()
    await telegram_bot.deliver(chat.says("我想咨询法律问题"))
    [answer] = telegram_bot.fake.sent_to(chat.id)
    assert answer.text == replies.text("faq.ask_question")


async def test_a_tapped_button_is_answered_and_read_as_what_the_resident_chose(
    telegram_bot: TelegramBot, replies: Replies
) -> None:
    chat = telegram_bot.fake.chat()
    await telegram_bot.deliver(chat.says("/start"))
    [menu] = telegram_bot.fake.sent_to(chat.id)
    tap = chat.taps(menu, "法律咨询")
    await telegram_bot.deliver(tap)
    assert tap["callback_query"]["id"] in telegram_bot.fake.answered  # the button stops spinning
    assert telegram_bot.fake.sent_to(chat.id)[-1].text == replies.text("faq.ask_question")


async def test_the_same_update_delivered_twice_is_answered_once(telegram_bot: TelegramBot) -> None:
    chat = telegram_bot.fake.chat()
    update = chat.says("你好")
    first = await telegram_bot.deliver(update)
    answered = len(telegram_bot.fake.sent_to(chat.id))
    again = await telegram_bot.deliver(update)  # Telegram did not get our 200 and retries
    assert first.status_code == again.status_code == 200
    assert answered >= 1
    assert len(telegram_bot.fake.sent_to(chat.id)) == answered
    assert len(await telegram_bot.stored(update["update_id"])) == 1


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
async def test_a_request_without_the_webhook_secret_is_refused_and_nothing_is_stored(
    telegram_bot: TelegramBot, secret: str | None
) -> None:
    chat = telegram_bot.fake.chat()
    update = chat.says("你好")
    response = await telegram_bot.deliver(update, secret=secret)
    assert response.status_code == 403
    assert await telegram_bot.stored(update["update_id"]) == []
    assert telegram_bot.fake.sent_to(chat.id) == []


async def test_what_is_not_a_telegram_update_is_refused(telegram_bot: TelegramBot) -> None:
    stored = await telegram_bot.count_stored()
    headers = {SECRET_HEADER: SECRET, "content-type": "application/json"}
    url = f"{telegram_bot.url}/telegram/webhook"
    big = {"update_id": 1, "message": {"text": "x" * telegram_bot.settings.max_request_bytes}}
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.post(url, content=b"{not json", headers=headers)).status_code == 400
        assert (await client.post(url, content=b'{"message": {}}', headers=headers)).status_code == 400
        assert (await client.post(url, content=b"[1, 2]", headers=headers)).status_code == 400
        assert (await client.post(url, content=json.dumps(big), headers=headers)).status_code == 413
    assert await telegram_bot.count_stored() == stored


async def test_the_webhook_does_not_exist_when_telegram_is_off(bot_http: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{bot_http}/telegram/webhook", json={"update_id": 1}, headers={SECRET_HEADER: "x"}
        )
    assert response.status_code == 404


async def test_stickers_and_voice_get_a_polite_note_of_what_works(
    telegram_bot: TelegramBot, replies: Replies
) -> None:
    chat = telegram_bot.fake.chat()
    await telegram_bot.deliver(chat.sends_sticker())
    await telegram_bot.deliver(chat.sends_voice())
    assert [m.text for m in telegram_bot.fake.sent_to(chat.id)] == [replies.text("telegram.unsupported")] * 2


async def test_group_chats_get_no_answer(telegram_bot: TelegramBot) -> None:
    group = telegram_bot.fake.chat(-100_123_456_789, kind="supergroup")
    update = group.says("楼上漏水谁管")
    response = await telegram_bot.deliver(update)
    assert response.status_code == 200
    assert telegram_bot.fake.sent_to(group.id) == []
    [row] = await telegram_bot.stored(update["update_id"])
    assert row.status == "done"
    assert row.payload == {}  # the resident's words are not kept once handled


async def test_a_report_with_buttons_a_shared_location_and_photos(
    telegram_bot: TelegramBot, replies: Replies
) -> None:
    fake = telegram_bot.fake
    chat = fake.chat()

    async def say(update: dict[str, object]) -> str:
        before = len(fake.sent_to(chat.id))
        await telegram_bot.deliver(update)
        answers = fake.sent_to(chat.id)[before:]
        assert answers, "no answer"
        return answers[-1].text

    # The story does not say when: after the place, the time is asked.
    await say(chat.says("隔壁邻居在公共楼道里堆满了纸箱 说了几次都不搬 想请你们调解"))
    confirm = fake.sent_to(chat.id)[-1]
    assert confirm.buttons == ["是", "不是"]
    assert await say(chat.taps(confirm, "是")) == replies.text("report.ask_place")
    venue = ("幸福小区3栋", "文三路100号")
    asked = await say(chat.shares_location(30.27, 120.15, venue=venue))
    assert asked == replies.text("report.ask_time")
    photo = chat.sends_photo()
    assert await say(photo) == replies.text("report.attachment_saved")
    answers = {"report.ask_time": "这个月初", "report.ask_other_party": "隔壁302"}

    async def says(text: str) -> str:
        return await say(chat.says(text))

    summary = await answer_report(says, replies, asked, phone="13612345678", answers=answers)
    assert "幸福小区3栋 文三路100号" in summary
    assert "回复“确认”" in summary
    assert "编号" in await say(chat.says("确认"))

    async with sessions(telegram_bot.database)() as session:
        [case] = (await session.scalars(select(Case).where(Case.user_id == str(chat.id)))).all()
    assert case.channel == "telegram"
    assert case.place == "幸福小区3栋 文三路100号"
    assert (case.latitude, case.longitude) == (30.27, 120.15)
    largest = photo["message"]["photo"][-1]["file_id"]
    assert case.attachments == [largest]
