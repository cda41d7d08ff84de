"""What a messaging channel (WeChat, Telegram) plugs into the bot's runtime: how to push a
notification, how to fetch a resident's photo, and the periodic jobs it needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.jobs.media import MediaSource
from bot.jobs.notify import Notifier


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str
    run: Callable[[], Awaitable[object]]
    every: float  # seconds
    #: Run once as soon as the scheduler starts (a credential the channel cannot work without).
    at_start: bool = False


@dataclass(slots=True)
class ChannelParts:
    name: str  # the Inbound.channel value: "wechat", "telegram"
    notifier: Notifier
    media: MediaSource | None = None
    jobs: tuple[PeriodicJob, ...] = field(default_factory=tuple)
