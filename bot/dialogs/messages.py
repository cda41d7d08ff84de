"""The channel-neutral contract: one inbound message in, outbound messages out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: str  # "image"
    ref: str  # the channel's media id or URL


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    label: str | None = None

    def describe(self) -> str:
        # Without a place name (a browser's position), the coordinates say where: staff map them.
        return self.label or f"发送的位置（{self.latitude:.5f},{self.longitude:.5f}）"


@dataclass(frozen=True, slots=True)
class Inbound:
    channel: str  # "wechat", "telegram", "web", "console"
    user_id: str  # the channel's id for the resident (openid, chat id, cookie id)
    message_id: str  # unique per channel: a redelivery carries the same id
    text: str
    sent_at: datetime
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class Outbound:
    text: str
    #: Quick replies the resident can tap; adapters without buttons render them as a list.
    options: tuple[str, ...] = ()
    links: tuple[Link, ...] = field(default_factory=tuple)
    #: The key of the text in knowledge/replies.yml (tests assert keys, not wording).
    key: str = ""
