"""The webhook's protocol pieces on their own: who gets in (signatures, timestamps, nonces, keys),
what XML is read at all, how a message becomes an ``Inbound``, how replies fit a passive reply."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import xmltodict  # type: ignore[import-untyped,unused-ignore]
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dialogs.messages import Link, Location, Outbound
from bot.dialogs.replies import Replies
from bot.settings import PROJECT_ROOT, Settings, WeChatMode
from bot.storage.db import sessions
from bot.storage.models import SeenNonce
from bot.wechat import render
from bot.wechat.envelope import Envelope, Rejected, text_reply
from bot.wechat.inbound import PLEASE_TYPE, UNSUPPORTED, WELCOME, Answer, Ignore, Run, convert
from bot.wechat.menu_file import MenuFileError, load_menu, parse_menu
from bot.wechat.security import (
    NonceVerdict,
    WeChatConfigError,
    check_nonce,
    fresh_timestamp,
    nonce_purge,
    validate_settings,
)
from tests.wechat.wechat_server import ACCOUNT, WeChatServer, message_xml, random_aes_key

TOKEN = "wechatTestToken2026"
APP_ID = "wx1234567890abcdef"
KNOWLEDGE = PROJECT_ROOT / "knowledge"


def now() -> datetime:
    """The moment of checking: requests are signed with the current time, and a long test run
    must not age a time taken when the module was imported."""
    return datetime.now(UTC)


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><ToUserName>gh_x</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"""
EXTERNAL = """<?xml version="1.0"?>
<!DoCtYpE xml [<!EnTiTy secret SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh_x</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&secret;</Content><MsgId>1</MsgId></xml>"""


def wechat_settings(mode: WeChatMode = WeChatMode.SAFE, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "wechat_token": SecretStr(TOKEN),
        "wechat_app_id": APP_ID,
        "wechat_encoding_aes_key": SecretStr(random_aes_key()),
        "wechat_mode": mode,
        **changes,
    }
    return Settings(_env_file=None, **values)


def wechat(settings: Settings) -> WeChatServer:
    """WeChat's side of the account configured by ``settings`` (only its signing is used here)."""
    key = settings.wechat_encoding_aes_key
    aes_key = key.get_secret_value() if key else random_aes_key()
    return WeChatServer(
        httpx.AsyncClient(), token=TOKEN, app_id=APP_ID, aes_key=aes_key, mode=settings.wechat_mode.value
    )


def text_message(content: str = "你好", openid: str = "oResident1") -> str:
    return message_xml(
        {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": int(now().timestamp()),
            "MsgType": "text",
            "Content": content,
            "MsgId": 1234567890123456,
        }
    )


def as_wechat_sends(settings: Settings, xml: str, **params: str) -> tuple[dict[str, str], bytes]:
    server = wechat(settings)
    return server.envelope(xml, {**server.signed_params(openid="oResident1"), **params})


# --- start-up checks ---


def test_plaintext_mode_needs_only_the_token() -> None:
    validate_settings(
        Settings(_env_file=None, wechat_token=SecretStr(TOKEN), wechat_mode=WeChatMode.PLAINTEXT)
    )


def test_wechat_off_needs_nothing() -> None:
    validate_settings(Settings(_env_file=None))


@pytest.mark.parametrize("mode", [WeChatMode.SAFE, WeChatMode.COMPATIBLE])
def test_encrypting_modes_refuse_to_start_without_app_id_or_a_valid_key(mode: WeChatMode) -> None:
    validate_settings(wechat_settings(mode))
    with pytest.raises(WeChatConfigError, match="BOT_WECHAT_APP_ID"):
        validate_settings(wechat_settings(mode, wechat_app_id=None))
    with pytest.raises(WeChatConfigError, match="BOT_WECHAT_ENCODING_AES_KEY is required"):
        validate_settings(wechat_settings(mode, wechat_encoding_aes_key=None))
    good = random_aes_key()
    for bad in (good[:42], good + "A", good[:42] + "-", good[:42] + "="):
        with pytest.raises(WeChatConfigError, match="43"):
            validate_settings(wechat_settings(mode, wechat_encoding_aes_key=SecretStr(bad)))


def test_a_token_wechat_would_not_accept_is_refused_at_start() -> None:
    with pytest.raises(WeChatConfigError, match="3 to 32"):
        validate_settings(wechat_settings(wechat_token=SecretStr("a b")))


# --- signatures and timestamps ---


def test_a_plaintext_request_signed_with_the_token_is_opened() -> None:
    settings = wechat_settings(WeChatMode.PLAINTEXT)
    params, body = as_wechat_sends(settings, text_message("邻居太吵"))
    opened = Envelope(settings).open(params, body, now())
    assert not opened.encrypted
    assert xmltodict.parse(opened.xml)["xml"]["Content"] == "邻居太吵"


@pytest.mark.parametrize("mode", list(WeChatMode))
def test_a_forged_signature_is_refused(mode: WeChatMode) -> None:
    settings = wechat_settings(mode)
    params, body = as_wechat_sends(settings, text_message())
    for forged in ({**params, "signature": "0" * 40}, {k: v for k, v in params.items() if k != "signature"}):
        with pytest.raises(Rejected) as refused:
            Envelope(settings).open(forged, body, now())
        assert refused.value.status == 403


@pytest.mark.parametrize("shift", [-301, 301, 10**6])
def test_timestamps_outside_the_window_are_refused(shift: int) -> None:
    settings = wechat_settings(WeChatMode.PLAINTEXT)
    at = now()  # one instant for stamping and checking, so a slow machine cannot cross the boundary
    stamp = str(int(at.timestamp()) + shift)
    params, body = as_wechat_sends(settings, text_message(), timestamp=stamp)
    params["signature"] = wechat(settings).signed_params(timestamp=stamp, nonce=params["nonce"])["signature"]
    with pytest.raises(Rejected) as refused:
        Envelope(settings).open(params, body, at)
    assert refused.value.status == 403
    assert fresh_timestamp(str(int(at.timestamp()) - 299), at, 300)
    assert not fresh_timestamp("-1", at, 300)
    assert not fresh_timestamp("１７００", at, 300)  # full-width digits are digits to Python


# --- hostile or broken XML ---


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (BOMB.encode(), 400),
        (EXTERNAL.encode(), 400),
        (b"<xml><ToUserName>gh_x</ToUserName><MsgType>text", 400),
        (b"", 400),
        (b"hello", 400),
        (b'{"text": "json"}', 400),
        ("<xml><Content>你好</Content></xml>".encode("gbk"), 400),
        (b"<notxml/>", 400),
        (b"<xml>" + b"x" * 70_000 + b"</xml>", 413),
    ],
)
def test_hostile_and_broken_bodies_are_refused_before_parsing(body: bytes, status: int) -> None:
    settings = wechat_settings(WeChatMode.PLAINTEXT)
    params, _ = as_wechat_sends(settings, text_message())
    with pytest.raises(Rejected) as refused:
        Envelope(settings).open(params, body, now())
    assert refused.value.status == status


def test_safe_mode_decrypts_what_wechat_encrypted_and_encrypts_the_reply() -> None:
    settings = wechat_settings(WeChatMode.SAFE)
    params, body = as_wechat_sends(settings, text_message("楼上漏水"))
    assert "楼上漏水" not in body.decode() and "Encrypt" in body.decode()
    envelope = Envelope(settings)
    opened = envelope.open(params, body, now())
    assert opened.encrypted
    assert xmltodict.parse(opened.xml)["xml"]["Content"] == "楼上漏水"
    reply_xml = text_reply(account=ACCOUNT, openid="oResident1", content="收到]]>了", now=now())
    sealed = envelope.seal(reply_xml, opened)
    reply = wechat(settings).read_reply(sealed, params)
    assert reply.encrypted
    assert (reply.content, reply.to_user, reply.from_user) == ("收到]]>了", "oResident1", ACCOUNT)


def test_safe_mode_refuses_bad_ciphertexts() -> None:
    settings = wechat_settings(WeChatMode.SAFE)
    envelope = Envelope(settings)
    params, body = as_wechat_sends(settings, text_message())
    # The signature over the ciphertext is checked: a tampered one, or none, is refused.
    unsigned = {k: v for k, v in params.items() if k != "msg_signature"}
    for bad in ({**params, "msg_signature": "f" * 40}, unsigned):
        with pytest.raises(Rejected) as refused:
            envelope.open(bad, body, now())
        assert refused.value.status == 403
    # A plaintext message sent to a safe-mode account is refused.
    plain, plain_body = wechat(wechat_settings(WeChatMode.PLAINTEXT)).envelope(
        text_message(), wechat(settings).signed_params()
    )
    with pytest.raises(Rejected):
        envelope.open(plain, plain_body, now())
    # Encrypted for another official account (its app id is inside the ciphertext).
    key = settings.wechat_encoding_aes_key
    assert key is not None
    other = WeChatServer(
        httpx.AsyncClient(),
        token=TOKEN,
        app_id="wx0000000000000000",
        aes_key=key.get_secret_value(),
        mode="safe",
    )
    params, body = other.envelope(text_message(), other.signed_params())
    with pytest.raises(Rejected) as refused:
        envelope.open(params, body, now())
    assert refused.value.status == 403


def test_safe_mode_refuses_a_dtd_inside_the_ciphertext() -> None:
    settings = wechat_settings(WeChatMode.SAFE)
    params, body = as_wechat_sends(settings, BOMB)
    with pytest.raises(Rejected) as refused:
        Envelope(settings).open(params, body, now())
    assert refused.value.status == 400


def test_compatible_mode_takes_plaintext_or_verified_ciphertext() -> None:
    settings = wechat_settings(WeChatMode.COMPATIBLE)
    envelope = Envelope(settings)
    params, body = as_wechat_sends(settings, text_message("加密的"))
    assert "Content" in body.decode()  # compatible mode sends both forms
    opened = envelope.open(params, body, now())
    assert opened.encrypted and xmltodict.parse(opened.xml)["xml"]["Content"] == "加密的"
    plain_params = wechat(settings).signed_params()
    plain = envelope.open(plain_params, text_message("明文的").encode(), now())
    assert not plain.encrypted and xmltodict.parse(plain.xml)["xml"]["Content"] == "明文的"
    with pytest.raises(Rejected):  # claims to be encrypted, but the ciphertext signature is wrong
        envelope.open({**params, "msg_signature": "0" * 40}, body, now())


def test_the_server_check_echoes_only_when_signed() -> None:
    settings = wechat_settings(WeChatMode.SAFE)
    envelope = Envelope(settings)
    params = wechat(settings).signed_params()
    assert envelope.echo({**params, "echostr": "5837397749071683829"}, now()) == "5837397749071683829"
    with pytest.raises(Rejected):
        envelope.echo({**params, "signature": "0" * 40, "echostr": "1"}, now())
    with pytest.raises(Rejected):
        envelope.echo({**params, "echostr": ""}, now())


# --- nonces ---


async def test_a_nonce_again_is_a_retry_with_the_same_body_and_a_replay_with_another(
    database: AsyncEngine,
) -> None:
    made = sessions(database)
    nonce = uuid.uuid4().hex[:10]
    start = now()

    async def seen(digest: str, at: datetime = start) -> NonceVerdict:
        async with made.begin() as session:
            return await check_nonce(session, nonce=nonce, digest=digest, now=at, window=300)

    assert await seen("a" * 64) is NonceVerdict.NEW
    assert await seen("a" * 64) is NonceVerdict.RETRY
    assert await seen("b" * 64) is NonceVerdict.REPLAY
    # Once the first request's timestamp is out of the window, the nonce is free again.
    assert await seen("b" * 64, start + timedelta(seconds=301)) is NonceVerdict.NEW
    assert await seen("c" * 64, start + timedelta(seconds=302)) is NonceVerdict.REPLAY


async def test_old_nonces_are_purged(database: AsyncEngine) -> None:
    made = sessions(database)
    old, recent = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]
    async with made.begin() as session:
        await check_nonce(session, nonce=old, digest="x", now=now() - timedelta(hours=1), window=300)
        await check_nonce(session, nonce=recent, digest="x", now=now(), window=300)
    assert await nonce_purge(made, window=300)() >= 1  # the scheduled job: older than twice the window
    async with made() as session:
        left = set(await session.scalars(select(SeenNonce.nonce).where(SeenNonce.nonce.in_([old, recent]))))
        assert left == {recent}
        assert (await session.scalar(select(func.count()).select_from(SeenNonce)) or 0) >= 1


# --- messages and events ---


MENU = load_menu(KNOWLEDGE)


def event(name: str, key: str | None = None, create_time: int = 1_790_000_000) -> str:
    fields: dict[str, str | int] = {
        "ToUserName": ACCOUNT,
        "FromUserName": "oResident1",
        "CreateTime": create_time,
        "MsgType": "event",
        "Event": name,
    }
    if key is not None:
        fields["EventKey"] = key
    return message_xml(fields)


def message(kind: str, **fields: str | int) -> str:
    base: dict[str, str | int] = {
        "ToUserName": ACCOUNT,
        "FromUserName": "oResident1",
        "CreateTime": 1_790_000_000,
        "MsgType": kind,
    }
    return message_xml({**base, **fields, "MsgId": 6_000_000_000_000_000_001})


def test_text_becomes_an_inbound_of_the_resident_with_wechats_message_id() -> None:
    received = convert(message("text", Content="邻居装修太吵"), MENU)
    assert isinstance(received.action, Run)
    inbound = received.action.inbound
    assert (inbound.channel, inbound.user_id, inbound.text) == ("wechat", "oResident1", "邻居装修太吵")
    assert inbound.message_id == "6000000000000000001"
    assert inbound.sent_at == datetime.fromtimestamp(1_790_000_000, UTC)
    assert received.account == ACCOUNT


def test_voice_is_read_when_wechat_transcribed_it_and_otherwise_answered_directly() -> None:
    heard = convert(message("voice", MediaId="m1", Format="amr", Recognition="我要登记纠纷。"), MENU).action
    assert isinstance(heard, Run) and heard.inbound.text == "我要登记纠纷。"
    silent = (message("voice", MediaId="m1", Format="amr"), message("voice", MediaId="m", Recognition=""))
    for voice in silent:
        assert convert(voice, MENU).action == Answer((PLEASE_TYPE,))


def test_images_and_locations_reach_the_engine_as_attachment_and_place() -> None:
    image = convert(message("image", PicUrl="http://x/y", MediaId="media-123"), MENU).action
    assert isinstance(image, Run)
    assert [(a.kind, a.ref) for a in image.inbound.attachments] == [("image", "media-123")]
    shared = message(
        "location", Location_X="30.274085", Location_Y="120.155070", Scale=15, Label="杭州市西湖区"
    )
    place = convert(shared, MENU).action
    assert isinstance(place, Run)
    assert place.inbound.location == Location(30.274085, 120.15507, "杭州市西湖区")


@pytest.mark.parametrize("kind", ["video", "shortvideo", "link", "file", "miniprogrampage", "newkind"])
def test_types_the_bot_cannot_read_get_the_polite_answer(kind: str) -> None:
    assert convert(message(kind, MediaId="m", Title="t"), MENU).action == Answer((UNSUPPORTED,))


def test_following_shows_welcome_and_menu_and_unfollowing_says_nothing() -> None:
    followed = convert(event("subscribe", ""), MENU)
    assert isinstance(followed.action, Run)
    assert (followed.action.inbound.text, followed.action.before) == ("菜单", (WELCOME,))
    by_qr = convert(event("subscribe", "qrscene_centre"), MENU).action
    assert isinstance(by_qr, Run) and by_qr.before == (WELCOME,)
    assert convert(event("unsubscribe"), MENU).action == Ignore()
    for quiet in ("VIEW", "LOCATION", "TEMPLATESENDJOBFINISH", "somethingnew"):
        assert convert(event(quiet, "x"), MENU).action == Ignore()


def test_menu_clicks_say_the_buttons_command() -> None:
    said = {}
    for key in ("REPORT_DISPUTE", "CHECK_PROGRESS", "LEGAL_FAQ", "HUMAN_SERVICE", "REMOVED_BUTTON"):
        action = convert(event("CLICK", key), MENU).action
        assert isinstance(action, Run)
        said[key] = action.inbound.text
    assert said == {
        "REPORT_DISPUTE": "举报纠纷",
        "CHECK_PROGRESS": "查询进度",
        "LEGAL_FAQ": "法律知识",
        "HUMAN_SERVICE": "人工服务",
        "REMOVED_BUTTON": "菜单",  # a button from an older menu: show the menu
    }


def test_event_ids_repeat_for_wechats_retries_and_differ_otherwise() -> None:
    first = convert(event("CLICK", "REPORT_DISPUTE"), MENU).message_id
    assert convert(event("CLICK", "REPORT_DISPUTE"), MENU).message_id == first
    others = {
        convert(event("CLICK", "CHECK_PROGRESS"), MENU).message_id,
        convert(event("CLICK", "REPORT_DISPUTE", create_time=1_790_000_001), MENU).message_id,
        convert(event("subscribe"), MENU).message_id,
    }
    assert first not in others and len(others) == 3
    assert len(convert(event("CLICK", "K" * 500), MENU).message_id) <= 128


@pytest.mark.parametrize(
    "xml",
    [
        "<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime></xml>",
        message("text", Content="x").replace("1790000000", "soon"),
        message("text", Content="x").replace("<![CDATA[oResident1]]>", ""),
        message("location", Location_X="north", Location_Y="1"),
        message("location", Location_X="95", Location_Y="1"),
        "<xml><MsgType><a>text</a></MsgType></xml>",
    ],
)
def test_malformed_messages_are_refused(xml: str) -> None:
    with pytest.raises(Rejected) as refused:
        convert(xml, MENU)
    assert refused.value.status == 400


# --- the menu file ---


def test_the_menu_file_maps_every_button_to_a_command(tmp_path: Path) -> None:
    assert [b.name for b in MENU.buttons] == ["举报纠纷", "查询进度", "更多服务"]
    assert MENU.says_for("LEGAL_FAQ") == "法律知识" and MENU.says_for("nope") is None
    broken: dict[str, Any]
    for broken in (
        {"buttons": []},
        {"buttons": [{"name": "a", "key": "K"}]},  # no text to say
        {"buttons": [{"name": "a", "key": "K", "says": "x"}, {"name": "b", "key": "K", "says": "y"}]},
        {"buttons": [{"name": str(i), "key": f"K{i}", "says": "x"} for i in range(4)]},
    ):
        with pytest.raises(MenuFileError):
            parse_menu(broken)


# --- rendering ---


@pytest.fixture(scope="module")
def replies() -> Replies:
    return Replies.load(KNOWLEDGE)


def test_options_become_a_line_saying_what_to_type(replies: Replies) -> None:
    text = render.render([Outbound("先说明", key="a"), Outbound("对吗？", options=("是", "不是"))], replies)
    assert text == "先说明\n\n对吗？\n可直接回复：是｜不是"
    # Options the text already spells out, in quotes or as a numbered menu, are not repeated.
    assert "可直接回复" not in render.render([replies.say("resume_offer")], replies)
    assert "可直接回复" not in render.render([replies.say("menu")], replies)
    linked = render.render([Outbound("详见：", links=(Link("调解法", "https://example.cn/law"),))], replies)
    assert linked == "详见：\n调解法：https://example.cn/law"


def test_long_answers_are_split_at_sentence_ends_into_parts_wechat_accepts() -> None:
    sentences = [f"第{i}句话，说明一些调解的注意事项。" for i in range(150)]
    text = "\n\n".join(["".join(sentences[:70]), "".join(sentences[70:])])
    parts = render.split(text)
    assert len(parts) >= 3
    assert all(len(p.encode()) <= render.PASSIVE_LIMIT for p in parts)
    assert all(p.endswith("。") for p in parts)
    assert "".join(p.replace("\n", "") for p in parts) == text.replace("\n", "")
    # No break anywhere: cut anyway, never over the limit, nothing lost.
    solid = "调" * 2000
    cut = render.split(solid)
    assert "".join(cut) == solid and all(len(p.encode()) <= render.PASSIVE_LIMIT for p in cut)
    assert render.split("短") == ["短"] and render.split("  ") == []
