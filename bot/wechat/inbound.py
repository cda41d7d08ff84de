"""A WeChat message or event (plaintext XML) → what the bot does with it.

Most become a channel-neutral ``Inbound`` for the engine; a few are answered without it (a
voice message WeChat could not transcribe, message types the bot cannot read) or not at all
(the resident unfollowed, events nobody typed). Messages are deduplicated by ``MsgId``; events
carry none, so their id is built from the resident, the time and the event — WeChat's retries of
an event repeat all three.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wechatpy.parser import parse_message  # type: ignore[import-untyped,unused-ignore]

from bot.dialogs.messages import Attachment, Inbound, Location
from bot.wechat.envelope import Rejected
from bot.wechat.menu_file import Menu

CHANNEL = "wechat"
#: The command text the bot always understands as "show the menu" (bot/dialogs/parsing.py).
MENU_COMMAND = "菜单"
WELCOME = "wechat.welcome"
PLEASE_TYPE = "wechat.please_type"
UNSUPPORTED = "wechat.unsupported"
_MAX_ID = 128  # processed_messages.message_id, resident_contacts.user_id


@dataclass(frozen=True, slots=True)
class Run:
    """Run the engine with ``inbound``; ``before`` are reply keys shown ahead of its replies."""

    inbound: Inbound
    before: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer with these reply keys, without the engine."""

    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ignore:
    """Nothing to say (answer ``success``)."""


Action = Run | Answer | Ignore


@dataclass(frozen=True, slots=True)
class Received:
    openid: str  # FromUserName: the resident
    account: str  # ToUserName: the official account (the reply's sender)
    message_id: str
    action: Action

    @property
    def opens_window(self) -> bool:
        """Whether the resident reached out (WeChat's 48-hour customer-service window starts)."""
        return not isinstance(self.action, Ignore)


def parse(xml: str) -> Any:
    """wechatpy's ``parse_message``: a message or event object (``UnknownMessage`` for others)."""
    try:
        message = parse_message(xml)
    except Exception as exc:  # xmltodict and wechatpy raise whatever the malformed input causes
        raise Rejected(400, f"unparsable message: {type(exc).__name__}") from exc
    if message is None:
        raise Rejected(400, "empty message")
    return message


def _text(message: Any, attribute: str) -> str:
    try:
        value = getattr(message, attribute)
    except (TypeError, ValueError) as exc:
        raise Rejected(400, f"bad {attribute}") from exc
    if value is None:
        return ""
    if not isinstance(value, str):  # nested elements where text belongs
        raise Rejected(400, f"bad {attribute}")
    return value


def _required(message: Any, attribute: str) -> str:
    value = _text(message, attribute).strip()
    if not value or len(value) > _MAX_ID:
        raise Rejected(400, f"missing {attribute}")
    return value


def _raw(message: Any, name: str) -> object:
    """An XML field as parsed, before wechatpy's converters (which raise on garbage)."""
    data = getattr(message, "_data", None)
    return data.get(name) if isinstance(data, dict) else None


def _create_time(message: Any) -> int:
    raw = _raw(message, "CreateTime")
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise Rejected(400, "bad CreateTime")
    return int(raw)


def _event_id(create_time: int, event: str, key: str) -> str:
    message_id = f"evt:{create_time}:{event}:{key}"
    if len(message_id) <= _MAX_ID:
        return message_id
    return f"evt:{create_time}:{event}:#{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def _message_id(message: Any, create_time: int) -> str:
    raw = _raw(message, "MsgId")
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and 0 < len(raw) <= 32:
        return raw
    return _event_id(create_time, f"msg-{message.type}", "")  # a message without MsgId: dedupe like events


def _location(message: Any) -> Location:
    try:
        latitude = float(_text(message, "location_x"))
        longitude = float(_text(message, "location_y"))
    except ValueError as exc:
        raise Rejected(400, "bad location") from exc
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise Rejected(400, "bad location")
    label = _text(message, "label").strip()
    return Location(latitude, longitude, label or None)


def convert(xml: str, menu: Menu) -> Received:
    """Plaintext XML of one message or event → what to do (raises ``Rejected`` for malformed input)."""
    message = parse(xml)
    openid = _required(message, "source")
    account = _required(message, "target")
    create_time = _create_time(message)
    sent_at = datetime.fromtimestamp(create_time, UTC)

    def run(message_id: str, text: str = "", **extra: Any) -> Inbound:
        return Inbound(CHANNEL, openid, message_id, text, sent_at, **extra)

    kind = str(message.type)
    raw_kind, raw_event = _raw(message, "MsgType"), _raw(message, "Event")
    if isinstance(raw_kind, str) and raw_kind.lower() == "event":  # wechatpy types unknown events "unknown"
        event = raw_event.lower() if isinstance(raw_event, str) else ""
        key = _text(message, "key") if event in ("click", "subscribe") else ""
        message_id = _event_id(create_time, event, key)
        action: Action
        match event:
            case "subscribe" | "subscribe_scan":
                action = Run(run(message_id, MENU_COMMAND), before=(WELCOME,))
            case "scan":  # a follower scanned the centre's QR code again
                action = Run(run(message_id, MENU_COMMAND))
            case "click":
                action = Run(run(message_id, menu.says_for(key) or MENU_COMMAND))
            case _:  # unsubscribe, menu links opened, location reports, delivery receipts: nobody typed
                action = Ignore()
        return Received(openid, account, message_id, action)

    message_id = _message_id(message, create_time)
    match kind:
        case "text":
            action = Run(run(message_id, _text(message, "content")))
        case "voice":
            heard = _text(message, "recognition").strip()
            action = Run(run(message_id, heard)) if heard else Answer((PLEASE_TYPE,))
        case "image":
            media_id = _required(message, "media_id")
            action = Run(run(message_id, attachments=(Attachment(kind="image", ref=media_id),)))
        case "location":
            action = Run(run(message_id, location=_location(message)))
        case _:  # video, shortvideo, link, file, mini-program cards, types yet to come
            action = Answer((UNSUPPORTED,))
    return Received(openid, account, message_id, action)
