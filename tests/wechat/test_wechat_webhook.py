"""The /wechat webhook through the real app on loopback, with requests made exactly as WeChat's
servers make them (tests/wechat/wechat_server.py), the real NLU and a real database: what a
resident reads on their phone, what an operator finds stored, and what an attacker gets."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.dialogs.replies import Replies
from bot.nlu.server import ManagedRasaServer
from bot.settings import Settings, WeChatMode
from bot.storage import models
from tests.conftest import answer_report
from tests.loopback import serve
from tests.wechat.wechat_server import ACCOUNT, Resident, WeChatServer, random_aes_key

pytestmark = pytest.mark.rasa

TOKEN = "wechatWebhookToken"
APP_ID = "wx7e3b5a91c2d4f680"
NOWHERE = "http://127.0.0.1:9"  # the case system and WeChat's API are not needed here: jobs are off
NOISE = "邻居天天半夜装修太吵了我想登记"


@dataclass
class Bot:
    app: FastAPI
    wechat: WeChatServer
    settings: Settings

    @property
    def database(self) -> AsyncEngine:
        engine: AsyncEngine = self.app.state.runtime.database
        return engine

    def resident(self) -> Resident:
        return self.wechat.resident()

    async def count(self, model: Any, openid: str) -> int:
        async with self.database.connect() as connection:
            query = select(func.count()).select_from(model).where(model.user_id == openid)
            return int((await connection.execute(query)).scalar_one())

    async def late_notifications(self, openid: str) -> list[str]:
        async with self.database.connect() as connection:
            rows = await connection.execute(
                select(models.Notification.text)
                .where(models.Notification.user_id == openid)
                .where(models.Notification.dedupe_key.like("wechat-late:%"))
                .order_by(models.Notification.id)
            )
            return [row[0] for row in rows]

    async def nothing_stored_for(self, openid: str) -> bool:
        counts = [
            await self.count(model, openid)
            for model in (models.ProcessedMessage, models.Conversation, models.ResidentContact)
        ]
        return counts == [0, 0, 0]


StartBot = Callable[..., Awaitable[Bot]]


@pytest_asyncio.fixture(scope="session")
async def wechat_bot(
    rasa_server: ManagedRasaServer, db_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[StartBot]:
    """Starts (once per configuration) the bot's app for an official account in a given mode, on
    SQLite (a file per app unless ``data_dir`` is shared) and on PostgreSQL when configured."""
    running: dict[tuple[Any, ...], Bot] = {}
    async with AsyncExitStack() as stack:

        async def start(mode: WeChatMode, *, data_dir: Path | None = None, **changes: Any) -> Bot:
            key = (mode, data_dir, *sorted(changes.items()))
            if key in running:
                return running[key]
            aes_key = changes.pop("aes_key", None) or random_aes_key()
            app_settings = db_settings.model_copy(
                update={
                    "data_dir": data_dir or tmp_path_factory.mktemp("wechat"),
                    "nlu_url": rasa_server.url,
                    "nlu_token": SecretStr(rasa_server.token),
                    "backend_url": NOWHERE,
                    "backend_token": SecretStr("unused"),
                    "jobs": False,
                    "wechat_token": SecretStr(TOKEN),
                    "wechat_app_id": APP_ID,
                    "wechat_encoding_aes_key": SecretStr(aes_key),
                    "wechat_mode": mode,
                    "wechat_api_url": NOWHERE,
                    **changes,
                }
            )
            app = create_app(app_settings)
            url = await stack.enter_async_context(serve(app))
            client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
            wechat = WeChatServer(client, token=TOKEN, app_id=APP_ID, aes_key=aes_key, mode=mode.value)
            running[key] = Bot(app, wechat, app_settings)
            return running[key]

        yield start


@pytest.fixture(scope="session")
def replies(settings: Settings) -> Replies:
    return Replies.load(settings.knowledge_dir)


CENTRE_FACTS = {"centre", "hotline", "duty_hours", "address", "response_days", "retention"}


def shows(replies: Replies, key: str, text: str) -> bool:
    """Whether ``text`` contains the reply ``key``, whatever fills its placeholders."""
    blanks = {name: "\x00" for name in replies.template(key).placeholders() - CENTRE_FACTS}
    pattern = re.escape(replies.text(key, **blanks)).replace("\x00", ".+?")
    return re.search(pattern, text, re.DOTALL) is not None


# --- the server check ---


async def test_wechat_checks_the_url_with_a_signed_get(wechat_bot: StartBot) -> None:
    bot = await wechat_bot(WeChatMode.SAFE)
    answer = await bot.wechat.check("7263523591287466283")
    assert (answer.status_code, answer.text) == (200, "7263523591287466283")
    assert answer.headers["content-type"].startswith("text/plain")
    forged = await bot.wechat.check("7263523591287466283", signature="0" * 40)
    assert forged.status_code == 403 and "7263523591287466283" not in forged.text
    stale = await bot.wechat.check("1", timestamp="1500000000")
    assert stale.status_code == 403


async def test_the_webhook_is_absent_when_wechat_is_off(wechat_bot: StartBot) -> None:
    bot = await wechat_bot(WeChatMode.SAFE, wechat_token=None)
    assert (await bot.wechat.check("1")).status_code == 404
    assert (await bot.resident().say("你好")).status == 404


# --- text in every mode ---


@pytest.mark.parametrize("mode", list(WeChatMode))
async def test_a_text_message_gets_the_bots_reply(
    wechat_bot: StartBot, replies: Replies, mode: WeChatMode
) -> None:
    bot = await wechat_bot(mode)
    resident = bot.resident()
    sent = await resident.say(NOISE)
    assert sent.status == 200
    assert sent.reply is not None
    assert sent.reply.encrypted is (mode is not WeChatMode.PLAINTEXT)
    assert (sent.reply.msg_type, sent.reply.to_user, sent.reply.from_user) == (
        "text",
        resident.openid,
        ACCOUNT,
    )
    # The bot takes up the report and asks for what it still needs, in Chinese.
    assert re.search(r"[\u4e00-\u9fff]{4}", sent.text)
    assert shows(replies, "report.confirm_type", sent.text) and "邻里纠纷" in sent.text
    # No buttons on WeChat: the resident is told what to type instead.
    assert sent.text.endswith(replies.text("wechat.options_hint", items="是｜不是"))


async def test_compatible_mode_also_answers_unencrypted_messages(wechat_bot: StartBot) -> None:
    bot = await wechat_bot(WeChatMode.COMPATIBLE)
    resident = bot.resident()
    plain = WeChatServer(
        bot.wechat.client, token=TOKEN, app_id=APP_ID, aes_key=random_aes_key(), mode="plaintext"
    )
    sent = await plain.post(resident.text_xml("菜单"), openid=resident.openid)
    assert sent.reply is not None and not sent.reply.encrypted
    assert "登记矛盾纠纷" in sent.text


# --- every message and event type (safe mode, as in production) ---


async def test_every_message_and_event_type_gets_the_right_answer(
    wechat_bot: StartBot, replies: Replies
) -> None:
    bot = await wechat_bot(WeChatMode.SAFE)
    resident = bot.resident()

    followed = await resident.send(resident.event_xml("subscribe", ""))
    assert shows(replies, "wechat.welcome", followed.text) and shows(replies, "menu", followed.text)
    assert followed.text.startswith(replies.text("wechat.welcome"))  # the welcome first, then the menu

    photo = await resident.send(resident.image_xml("media-outside-a-report"))
    assert shows(replies, "image_received", photo.text)

    heard = await resident.send(resident.voice_xml("我想咨询法律问题"))
    assert shows(replies, "faq.ask_question", heard.text)
    unheard = await resident.send(resident.voice_xml(None))
    assert shows(replies, "wechat.please_type", unheard.text)

    for other in (resident.video_xml(), resident.video_xml("shortvideo"), resident.link_xml()):
        polite = await resident.send(other)
        assert shows(replies, "wechat.unsupported", polite.text)

    clicks = {
        "REPORT_DISPUTE": "report.start",
        "CHECK_PROGRESS": "progress.ask_lookup",
        "LEGAL_FAQ": "faq.ask_question",
        "HUMAN_SERVICE": "handoff.requested",
    }
    for key, expected in clicks.items():
        clicked = await resident.send(resident.event_xml("CLICK", key))
        assert shows(replies, expected, clicked.text), (key, clicked.text)

    gone = await resident.send(resident.event_xml("unsubscribe", ""))
    assert (gone.status, gone.response.text) == (200, "success")
    # The resident's contact is recorded for the 48-hour customer-service window.
    assert await bot.count(models.ResidentContact, resident.openid) == 1


async def test_a_reply_too_long_for_one_passive_message_continues_in_follow_ups(
    wechat_bot: StartBot, replies: Replies
) -> None:
    bot = await wechat_bot(WeChatMode.SAFE)
    resident = bot.resident()
    # Three updates from staff were held while the resident was away (an account that cannot push).
    notes = [f"第{n}条：" + "调解员已联系双方，约定本周六上午在社区调解室见面协商。" * 12 for n in (1, 2, 3)]
    async with bot.database.begin() as connection:
        for number, note in enumerate(notes):
            await connection.execute(
                insert(models.Notification).values(
                    channel="wechat",
                    user_id=resident.openid,
                    text=note,
                    dedupe_key=f"held-{resident.openid}-{number}",
                    status="held",
                )
            )
    sent = await resident.say("菜单")
    assert len(sent.text.encode()) <= 1800
    assert sent.text.startswith("第1条")
    async with bot.database.connect() as connection:
        rows = await connection.execute(
            select(models.Notification.text)
            .where(models.Notification.user_id == resident.openid)
            .where(models.Notification.dedupe_key.like("wechat-more:%"))
            .order_by(models.Notification.id)
        )
        follow_ups = [row[0] for row in rows]
    assert follow_ups and all(len(text.encode()) <= 1800 for text in follow_ups)
    whole = "".join([sent.text, *follow_ups]).replace("\n", "")
    assert [whole.index(f"第{n}条") for n in (1, 2, 3)] == sorted(whole.index(f"第{n}条") for n in (1, 2, 3))
    assert all(note in whole for note in notes)
    assert shows(replies, "menu", "\n\n".join([sent.text, *follow_ups]))


# --- a whole report, with retries, an image and a location ---


async def test_a_report_with_photo_location_and_retries_is_filed_once(
    wechat_bot: StartBot, replies: Replies
) -> None:
    bot = await wechat_bot(WeChatMode.SAFE)
    resident = bot.resident()
    # WeChat retries a message it got no answer to, with the same MsgId (and new or same nonce).
    # The story says neither when nor who: both are asked.
    description = resident.text_xml("楼道里堆满了杂物 说了也不搬 想请你们调解", msg_id=Resident.msg_id())
    first = await resident.send(description)
    again = await resident.send(description)
    same_nonce = await resident.send(
        description, nonce=first.params["nonce"], timestamp=first.params["timestamp"]
    )
    assert shows(replies, "report.confirm_type", first.text)
    assert first.text == again.text == same_nonce.text
    # The conversation moved one step: the next answer is taken as the answer to that one question.
    yes = resident.text_xml("是", msg_id=Resident.msg_id())
    for _ in range(3):
        assert shows(replies, "report.ask_place", (await resident.send(yes)).text)
    assert await bot.count(models.ProcessedMessage, resident.openid) == 2

    photo = await resident.send(resident.image_xml("media-evidence-1"))
    assert shows(replies, "report.attachment_saved", photo.text)

    located = await resident.send(resident.location_xml(30.274085, 120.15507, "幸福小区3栋"))
    assert shows(replies, "report.ask_time", located.text)  # the place is filled: next question

    async def says(text: str) -> str:
        return (await resident.say(text)).text

    answers = {"report.ask_time": "上周开始", "report.ask_other_party": "楼上住户]]>302室"}
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    summary = await answer_report(says, replies, located.text, phone=phone, answers=answers)
    assert shows(replies, "report.summary", summary)
    assert "]]>" in summary  # the resident's own words come back intact, in a well-formed reply

    confirm = resident.text_xml("确认", msg_id=Resident.msg_id())
    receipts = [await resident.send(confirm) for _ in range(3)]
    assert all(shows(replies, "report.receipt", r.text) for r in receipts)
    assert len({r.text for r in receipts}) == 1  # one reference, told three times

    async with bot.database.connect() as connection:
        cases = (
            await connection.execute(select(models.Case).where(models.Case.user_id == resident.openid))
        ).all()
    assert len(cases) == 1
    case = cases[0]
    assert case.attachments == ["media-evidence-1"]
    assert case.place == "幸福小区3栋"
    assert (round(case.latitude, 4), round(case.longitude, 4)) == (30.2741, 120.1551)


# --- a turn slower than WeChat waits ---


async def test_a_slow_turn_answers_success_and_the_reply_follows_once(
    wechat_bot: StartBot, replies: Replies, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shared = tmp_path_factory.mktemp("wechat-shared")
    # A reply budget no real turn fits in; a second process on the same database answers in time.
    slow = await wechat_bot(WeChatMode.SAFE, data_dir=shared, wechat_reply_budget=0.001)
    other = await wechat_bot(WeChatMode.SAFE, data_dir=shared, aes_key=slow.wechat.aes_key)
    resident = slow.resident()
    message = resident.text_xml(NOISE, msg_id=Resident.msg_id())

    first = await resident.send(message)
    assert (first.status, first.response.text) == (200, "success")
    # WeChat retries while the turn is still running, and again later: still no passive reply.
    while_running = await resident.send(message)
    assert while_running.response.text == "success"
    await slow.app.state.runtime.adapters["wechat"].drain()

    late = await slow.late_notifications(resident.openid)
    assert len(late) == 1
    assert shows(replies, "report.confirm_type", late[0])  # the reply the resident would have read

    retry_elsewhere = await other.wechat.post(message, openid=resident.openid)
    assert retry_elsewhere.response.text == "success"  # not a second copy of the reply
    assert await slow.late_notifications(resident.openid) == late
    assert await slow.count(models.ProcessedMessage, resident.openid) == 1


# --- what attackers and broken clients get ---


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)
EXTERNAL = '<?xml version="1.0"?><!doctype xml [<!entity secret SYSTEM "file:///etc/passwd">]>'


def hostile(resident: Resident, prologue: str, entity: str) -> str:
    return prologue + resident.text_xml(entity)


@pytest.mark.parametrize("mode", [WeChatMode.SAFE, WeChatMode.PLAINTEXT])
async def test_forged_stale_replayed_and_hostile_requests_are_refused_and_leave_nothing(
    wechat_bot: StartBot, mode: WeChatMode
) -> None:
    bot = await wechat_bot(mode)
    wechat = bot.wechat
    resident = bot.resident()
    openid = resident.openid
    message = resident.text_xml(NOISE)

    forged = await wechat.post(
        message, openid=openid, params={"signature": "0" * 40, "timestamp": "1", "nonce": "1"}
    )
    real = await wechat.post(resident.text_xml("你好"), openid=openid, timestamp="1500000000")
    assert forged.status == 403
    assert real.status == 403  # signed, but stale

    tampered_params, body = wechat.envelope(message, wechat.signed_params(openid=openid))
    if mode is WeChatMode.SAFE:
        bad_ciphertext = await wechat.post(
            message, params={**tampered_params, "msg_signature": "1" * 40}, body=body
        )
        assert bad_ciphertext.status == 403

    cases = {
        "bomb": (hostile(resident, BOMB, "&lol3;"), 400),
        "external entity": (hostile(resident, EXTERNAL, "&secret;"), 400),
        "broken": (resident.text_xml("你好")[:-7], 400),
        "not xml": ('{"MsgType": "text"}', 400),
    }
    for name, (xml, status) in cases.items():
        sent = await wechat.post(xml, openid=openid)
        assert sent.status == status, name
    empty = await wechat.post("", openid=openid, body=b"")
    assert empty.status == 400
    huge = await wechat.post(message, openid=openid, body=b"<xml>" + b"A" * (5 * 1024 * 1024) + b"</xml>")
    assert huge.status == 413

    assert await bot.nothing_stored_for(openid)

    # A captured request replayed with another body under the same nonce: refused.
    genuine = await resident.send(message)
    assert genuine.status == 200
    replayed = await wechat.post(
        resident.text_xml("取消"),
        openid=openid,
        nonce=genuine.params["nonce"],
        timestamp=genuine.params["timestamp"],
    )
    assert replayed.status == 403
    assert await bot.count(models.ProcessedMessage, openid) == 1
