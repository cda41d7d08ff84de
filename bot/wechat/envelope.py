"""From the raw POST of WeChat's servers to plaintext XML, and the passive reply back.

Hostile XML is refused before any parser sees it: the body is capped, must be UTF-8, and may
carry no DTD or entity declaration (checked again after decryption); what we parse ourselves we
parse with defusedxml. The few wechatpy pieces used (``WeChatCrypto``, ``TextReply``) are
wrapped here, so that an upgrade of wechatpy touches one module.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml  # type: ignore[import-untyped,unused-ignore]
import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped,unused-ignore]
from wechatpy.crypto import WeChatCrypto  # type: ignore[import-untyped,unused-ignore]
from wechatpy.exceptions import InvalidAppIdException  # type: ignore[import-untyped,unused-ignore]
from wechatpy.replies import TextReply  # type: ignore[import-untyped,unused-ignore]

from bot.settings import Settings, WeChatMode
from bot.wechat import security

#: WeChat's messages are a few hundred bytes; nothing legitimate comes near this.
MAX_BODY = 64 * 1024
_HOSTILE = re.compile(r"<!\s*(?:doctype|entity)", re.IGNORECASE)
# Characters XML 1.0 cannot carry: a reply containing one would be malformed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ECHOSTR = re.compile(r"^[\x21-\x7e]{1,256}$")


class Rejected(Exception):
    """The request is refused with ``status``; ``reason`` is for the log, never for the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Opened:
    xml: str  # the message in plaintext XML
    encrypted: bool  # it came encrypted: the reply goes back encrypted
    timestamp: str
    nonce: str


def body_limit(settings: Settings) -> int:
    return min(settings.max_request_bytes, MAX_BODY)


def screen(xml: str) -> None:
    """Refuse document type and entity declarations (entity expansion, external entities)."""
    if _HOSTILE.search(xml):
        raise Rejected(400, "dtd or entity declaration")


def decode(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(400, "body is not utf-8") from exc
    return text.removeprefix("\ufeff")


def fields(xml: str) -> dict[str, str]:
    """The children of ``<xml>`` as tag → text, parsed with defusedxml."""
    screen(xml)
    try:
        root: Any = SafeET.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, defusedxml.DefusedXmlException, ValueError) as exc:
        raise Rejected(400, "not well-formed xml") from exc
    if root.tag != "xml":
        raise Rejected(400, "root element is not <xml>")
    return {str(child.tag): child.text or "" for child in root}


def xml_safe(text: str) -> str:
    """Text that fits inside a CDATA section of a well-formed reply."""
    return _NOT_XML.sub("", text).replace("]]>", "]]]]><![CDATA[>")


class Envelope:
    """The account's signing and encryption, per ``settings.wechat_mode``."""

    def __init__(self, settings: Settings) -> None:
        if settings.wechat_token is None:
            raise ValueError("WeChat is off: BOT_WECHAT_TOKEN is not set")
        security.validate_settings(settings)
        self._token = settings.wechat_token.get_secret_value()
        self._mode = settings.wechat_mode
        self._window = settings.wechat_timestamp_window
        self._limit = body_limit(settings)
        self._crypto: Any = None
        if self._mode is not WeChatMode.PLAINTEXT and settings.wechat_encoding_aes_key is not None:
            aes_key = settings.wechat_encoding_aes_key.get_secret_value()  # validate_settings checked it
            self._crypto = WeChatCrypto(self._token, aes_key, settings.wechat_app_id)

    @property
    def limit(self) -> int:
        return self._limit

    def _authenticate(self, query: Mapping[str, str], now: datetime) -> tuple[str, str]:
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not security.well_formed_nonce(nonce) or not security.valid_signature(
            self._token, timestamp, nonce, query.get("signature")
        ):
            raise Rejected(403, "bad signature")
        if not security.fresh_timestamp(timestamp, now, self._window):
            raise Rejected(403, "timestamp outside the window")
        return timestamp, nonce

    def echo(self, query: Mapping[str, str], now: datetime) -> str:
        """The server check (GET): the ``echostr`` to send back, once the signature holds."""
        self._authenticate(query, now)
        echostr = query.get("echostr", "")
        if not _ECHOSTR.fullmatch(echostr):
            raise Rejected(400, "bad echostr")
        return echostr

    def open(self, query: Mapping[str, str], body: bytes, now: datetime) -> Opened:
        """Authenticate a POST and return its message as plaintext XML (raises ``Rejected``)."""
        if len(body) > self._limit:
            raise Rejected(413, "body too large")
        timestamp, nonce = self._authenticate(query, now)
        outer = decode(body)
        outer_fields = fields(outer)
        encrypted = self._mode is WeChatMode.SAFE or (
            self._mode is WeChatMode.COMPATIBLE
            and (query.get("encrypt_type") == "aes" or "msg_signature" in query)
        )
        if not encrypted:
            return Opened(outer, False, timestamp, nonce)
        encrypt = outer_fields.get("Encrypt", "")
        given = query.get("msg_signature")
        if not encrypt or not security.valid_msg_signature(self._token, timestamp, nonce, encrypt, given):
            raise Rejected(403, "bad msg_signature")
        inner = self._decrypt(encrypt, given or "", timestamp, nonce)
        if len(inner.encode("utf-8")) > self._limit:
            raise Rejected(413, "decrypted message too large")
        fields(inner)  # well-formed, no DTD: before wechatpy's own parser reads it
        return Opened(inner, True, timestamp, nonce)

    def _decrypt(self, encrypt: str, given: str, timestamp: str, nonce: str) -> str:
        try:
            # A dict, not the body: wechatpy would parse the body again with xmltodict.
            return str(self._crypto.decrypt_message({"Encrypt": encrypt}, given, timestamp, nonce))
        except InvalidAppIdException as exc:
            raise Rejected(403, "ciphertext for another app id") from exc
        except Exception as exc:  # garbage ciphertext: padding, base64, length, encoding errors
            raise Rejected(400, f"cannot decrypt: {type(exc).__name__}") from exc

    def seal(self, reply_xml: str, opened: Opened) -> str:
        """The reply as WeChat expects it: encrypted when the message came encrypted."""
        if not opened.encrypted:
            return reply_xml
        return str(self._crypto.encrypt_message(reply_xml, opened.nonce, str(int(time.time()))))


def text_reply(*, account: str, openid: str, content: str, now: datetime) -> str:
    """A passive text reply (``<xml><MsgType>text</MsgType>…``) from the account to the resident."""
    reply = TextReply(
        source=xml_safe(account),
        target=xml_safe(openid),
        content=xml_safe(content),
        time=int(now.timestamp()),
    )
    return str(reply.render())
