"""Notifications to WeChat residents, by the best path the account has.

- A subscription account can only answer: every notification is held for the resident's next
  message.
- A service account sends a customer-service message while the resident wrote within the last
  48 hours and fewer than five pushes went out since (WeChat's rule). The count lives in
  ``resident_contacts`` and is raised by a conditional UPDATE, so all processes agree on it.
- Outside that window (or when WeChat says so: 45015/45047) it sends the configured template
  message, cut to WeChat's template rules; with no template, the notification is held.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs.notify import Delivery, NotifyFailed, NotifyRetryable
from bot.settings import Settings, WeChatAccount
from bot.storage.models import ResidentContact
from bot.wechat.api import OutOfWindow, RecipientGone, WeChatApi, WeChatError, WeChatRejected, WeChatRetryable
from bot.wechat.shaping import ROLES, split_parts, template_fields

log = structlog.get_logger(__name__)

CHANNEL = "wechat"
WINDOW = timedelta(hours=48)
QUOTA = 5  # customer-service messages per window, since the resident's last message


def short_id(openid: str) -> str:
    """A resident's openid in logs: a short hash, never the id itself."""
    return hashlib.sha256(openid.encode()).hexdigest()[:10]


@dataclass(frozen=True, slots=True)
class Template:
    template_id: str
    fields: Mapping[str, str]  # template field name -> title | detail | time | reference

    def __post_init__(self) -> None:
        unknown = sorted(set(self.fields.values()) - ROLES)
        if unknown or not self.fields:
            raise ValueError(
                f"BOT_WECHAT_TEMPLATE_FIELDS maps template fields to {sorted(ROLES)}; got {dict(self.fields)}"
            )


class WeChatNotifier:
    def __init__(
        self,
        api: WeChatApi,
        sessions: async_sessionmaker[AsyncSession],
        *,
        account: WeChatAccount,
        template: Template | None,
        timezone: ZoneInfo,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = api
        self._sessions = sessions
        self._account = account
        self._template = template
        self._timezone = timezone
        self._clock = clock

    @classmethod
    def from_settings(
        cls, settings: Settings, api: WeChatApi, sessions: async_sessionmaker[AsyncSession]
    ) -> WeChatNotifier:
        template = (
            Template(settings.wechat_template_id, dict(settings.wechat_template_fields))
            if settings.wechat_template_id
            else None
        )
        return cls(
            api,
            sessions,
            account=settings.wechat_account,
            template=template,
            timezone=ZoneInfo(settings.timezone),
        )

    async def send(self, user_id: str, text: str) -> Delivery:
        if self._account is WeChatAccount.SUBSCRIPTION:
            return Delivery.HELD
        parts = split_parts(text)
        window = await self._reserve(user_id, len(parts))
        if window is not None:
            sent = 0
            try:
                for part in parts:
                    await self._api.send_text(user_id, part)
                    sent += 1
            except OutOfWindow as exc:
                await self._close_window(user_id, window)
                log.info("wechat.window_closed", user=short_id(user_id), errcode=exc.errcode)
            except WeChatError as exc:
                # Give back the pushes that surely did not go out, so failures spend no quota.
                await self._give_back(user_id, window, len(parts) - sent - (1 if exc.uncertain else 0))
                if not isinstance(exc, WeChatRejected):
                    raise _notify_error(exc) from None
                # e.g. no customer-service permission: the template may still do
                log.warning("wechat.custom_refused", user=short_id(user_id), errcode=exc.errcode)
            else:
                return Delivery.SENT
        return await self._by_template(user_id, text)

    async def _by_template(self, user_id: str, text: str) -> Delivery:
        if self._template is None:
            return Delivery.HELD
        shaped = template_fields(text, self._template.fields, self._clock().astimezone(self._timezone))
        try:
            await self._api.send_template(user_id, self._template.template_id, shaped.data)
        except (WeChatRejected, OutOfWindow) as exc:
            # The template or its fields do not suit WeChat (a setting to fix): the resident
            # still gets the text with the next reply.
            log.error("wechat.template_refused", user=short_id(user_id), errcode=exc.errcode, error=str(exc))
            return Delivery.HELD
        except WeChatError as exc:
            raise _notify_error(exc) from None
        # A text cut to fit the template also waits, whole, for the resident's next message.
        return Delivery.SENT if shaped.complete else Delivery.HELD

    async def _reserve(self, user_id: str, count: int) -> datetime | None:
        """Count ``count`` pushes against the resident's window; returns the window's start
        (the last inbound time) when they fit, None when outside the window or over quota."""
        now = self._clock()
        async with self._sessions.begin() as session:
            row = (
                await session.execute(
                    update(ResidentContact)
                    .where(
                        ResidentContact.channel == CHANNEL,
                        ResidentContact.user_id == user_id,
                        ResidentContact.last_inbound_at > now - WINDOW,
                        ResidentContact.pushed_since + count <= QUOTA,
                    )
                    .values(pushed_since=ResidentContact.pushed_since + count)
                    .returning(ResidentContact.last_inbound_at)
                    .execution_options(synchronize_session=False)
                )
            ).first()
        return row[0] if row is not None else None

    async def _give_back(self, user_id: str, window: datetime, count: int) -> None:
        if count <= 0:
            return
        async with self._sessions.begin() as session:
            await session.execute(
                update(ResidentContact)
                .where(
                    ResidentContact.channel == CHANNEL,
                    ResidentContact.user_id == user_id,
                    ResidentContact.last_inbound_at == window,  # not when the resident wrote since
                    ResidentContact.pushed_since >= count,
                )
                .values(pushed_since=ResidentContact.pushed_since - count)
                .execution_options(synchronize_session=False)
            )

    async def _close_window(self, user_id: str, window: datetime) -> None:
        """WeChat says no more pushes: skip straight to the template until the resident writes
        again (the webhook then sets a new last inbound time and resets the count)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(ResidentContact)
                .where(
                    ResidentContact.channel == CHANNEL,
                    ResidentContact.user_id == user_id,
                    ResidentContact.last_inbound_at == window,
                )
                .values(pushed_since=QUOTA)
                .execution_options(synchronize_session=False)
            )


def _notify_error(exc: WeChatError) -> NotifyFailed | NotifyRetryable:
    if isinstance(exc, RecipientGone):
        return NotifyFailed(str(exc))
    if isinstance(exc, WeChatRetryable):
        return NotifyRetryable(str(exc))
    return NotifyFailed(str(exc))
