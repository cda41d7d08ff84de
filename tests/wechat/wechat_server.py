"""WeChat's servers, as the webhook meets them: requests built exactly as WeChat builds them
(query ``signature``/``timestamp``/``nonce``/``openid``, and ``encrypt_type=aes`` with
``msg_signature`` when the account encrypts), XML bodies for every message and event type,
encrypted with wechatpy's own ``WeChatCrypto``; and the passive reply read back as a resident's
phone would show it."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import xmltodict  # type: ignore[import-untyped,unused-ignore]
from wechatpy.crypto import WeChatCrypto  # type: ignore[import-untyped,unused-ignore]

ACCOUNT = "gh_5c3d1f0a9b2e"  # the official account's original id (ToUserName)


def random_aes_key() -> str:
    """An EncodingAESKey as the account's configuration page makes them: 43 base64 characters."""
    return base64.b64encode(secrets.token_bytes(32)).decode()[:-1]


def new_openid() -> str:
    return "o" + base64.urlsafe_b64encode(secrets.token_bytes(20)).decode()[:27]


def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode(), usedforsecurity=False).hexdigest()


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside CDATA: close the section and open another around it.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(fields: dict[str, str | int]) -> str:
    """WeChat's message XML: strings in CDATA, numbers bare."""
    inner = "".join(
        f"<{name}>{value if isinstance(value, int) else _cdata(value)}</{name}>"
        for name, value in fields.items()
    )
    return f"<xml>{inner}</xml>"


@dataclass
class Reply:
    """A passive reply as WeChat reads it."""

    msg_type: str
    content: str
    to_user: str
    from_user: str
    encrypted: bool


@dataclass
class Sent:
    """One request as sent, and what the webhook answered."""

    response: httpx.Response
    params: dict[str, str]
    body: bytes
    reply: Reply | None = None

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def text(self) -> str:
        assert self.reply is not None, f"no passive reply: {self.response.status_code} {self.response.text!r}"
        return self.reply.content


@dataclass
class Resident:
    """One WeChat user, with the ids WeChat would give their messages."""

    server: WeChatServer
    openid: str = field(default_factory=new_openid)

    def _base(self, msg_type: str, create_time: int | None = None) -> dict[str, str | int]:
        return {
            "ToUserName": ACCOUNT,
            "FromUserName": self.openid,
            "CreateTime": create_time or int(time.time()),
            "MsgType": msg_type,
        }

    @staticmethod
    def msg_id() -> int:
        return uuid.uuid4().int % 10**19

    def text_xml(self, content: str, msg_id: int | None = None) -> str:
        return message_xml({**self._base("text"), "Content": content, "MsgId": msg_id or self.msg_id()})

    def voice_xml(self, recognition: str | None, msg_id: int | None = None) -> str:
        fields: dict[str, str | int] = {**self._base("voice"), "MediaId": "voice-media-" + uuid.uuid4().hex}
        fields["Format"] = "amr"
        if recognition is not None:
            fields["Recognition"] = recognition
        return message_xml({**fields, "MsgId": msg_id or self.msg_id()})

    def image_xml(self, media_id: str, msg_id: int | None = None) -> str:
        return message_xml(
            {
                **self._base("image"),
                "PicUrl": f"http://mmbiz.qpic.cn/{media_id}",
                "MediaId": media_id,
                "MsgId": msg_id or self.msg_id(),
            }
        )

    def location_xml(self, lat: float, lon: float, label: str, msg_id: int | None = None) -> str:
        return message_xml(
            {
                **self._base("location"),
                "Location_X": f"{lat:.6f}",
                "Location_Y": f"{lon:.6f}",
                "Scale": 15,
                "Label": label,
                "MsgId": msg_id or self.msg_id(),
            }
        )

    def video_xml(self, kind: str = "video") -> str:
        fields = {**self._base(kind), "MediaId": "video-" + uuid.uuid4().hex, "ThumbMediaId": "thumb"}
        return message_xml({**fields, "MsgId": self.msg_id()})

    def link_xml(self) -> str:
        return message_xml(
            {
                **self._base("link"),
                "Title": "一篇文章",
                "Description": "文章摘要",
                "Url": "https://mp.weixin.qq.com/s/abc",
                "MsgId": self.msg_id(),
            }
        )

    def event_xml(self, event: str, key: str | None = None, create_time: int | None = None) -> str:
        fields: dict[str, str | int] = {**self._base("event", create_time), "Event": event}
        if key is not None:
            fields["EventKey"] = key
        return message_xml(fields)

    async def send(self, xml: str, **options: Any) -> Sent:
        return await self.server.post(xml, openid=self.openid, **options)

    async def say(self, content: str) -> Sent:
        return await self.send(self.text_xml(content))


class WeChatServer:
    """Signs, encrypts and posts like WeChat's servers do, for one account configuration."""

    def __init__(
        self, client: httpx.AsyncClient, *, token: str, app_id: str, aes_key: str, mode: str
    ) -> None:
        self.client = client
        self.token = token
        self.app_id = app_id
        self.mode = mode
        self.aes_key = aes_key
        self.crypto = WeChatCrypto(token, aes_key, app_id)

    def resident(self) -> Resident:
        return Resident(self)

    def signed_params(
        self, *, timestamp: str | None = None, nonce: str | None = None, openid: str | None = None
    ) -> dict[str, str]:
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        signature = sha1_sorted(self.token, timestamp, nonce)
        params = {"signature": signature, "timestamp": timestamp, "nonce": nonce}
        if openid is not None:
            params["openid"] = openid
        return params

    def envelope(self, xml: str, params: dict[str, str]) -> tuple[dict[str, str], bytes]:
        """The body WeChat posts for ``xml`` in this mode, and the query with it."""
        if self.mode == "plaintext":
            return params, xml.encode()
        ciphertext = self.crypto.encrypt_message(xml, params["nonce"], params["timestamp"])
        sealed = xmltodict.parse(ciphertext)["xml"]
        encrypt = sealed["Encrypt"]
        params = {**params, "encrypt_type": "aes", "msg_signature": sealed["MsgSignature"]}
        if self.mode == "safe":
            body = message_xml({"ToUserName": ACCOUNT, "Encrypt": encrypt})
        else:  # compatible: the plaintext fields and the ciphertext side by side
            body = xml.replace("</xml>", f"<Encrypt>{_cdata(encrypt)}</Encrypt></xml>")
        return params, body.encode()

    async def post(
        self,
        xml: str,
        *,
        openid: str | None = None,
        params: dict[str, str] | None = None,
        body: bytes | None = None,
        timestamp: str | None = None,
        nonce: str | None = None,
    ) -> Sent:
        """Post ``xml`` as WeChat would; ``params``/``body`` replace what WeChat would send."""
        signed = self.signed_params(timestamp=timestamp, nonce=nonce, openid=openid)
        real_params, real_body = self.envelope(xml, signed)
        params = real_params if params is None else params
        body = real_body if body is None else body
        response = await self.client.post("/wechat", params=params, content=body)
        sent = Sent(response, params, body)
        if response.status_code == 200 and response.text != "success" and response.content:
            sent.reply = self.read_reply(response.text, params)
        return sent

    def read_reply(self, text: str, params: dict[str, str]) -> Reply:
        encrypted = "<Encrypt>" in text
        if encrypted:
            outer = xmltodict.parse(text)["xml"]
            signed = (outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
            text = self.crypto.decrypt_message(text, *signed)
        data = xmltodict.parse(text)["xml"]
        return Reply(
            msg_type=data["MsgType"],
            content=data.get("Content") or "",
            to_user=data["ToUserName"],
            from_user=data["FromUserName"],
            encrypted=encrypted,
        )

    async def check(self, echostr: str, *, timestamp: str | None = None, **overrides: str) -> httpx.Response:
        """The server check WeChat makes when the URL is configured (GET)."""
        params = {**self.signed_params(timestamp=timestamp), "echostr": echostr, **overrides}
        return await self.client.get("/wechat", params=params)
