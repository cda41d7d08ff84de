"""What the webhook writes besides the turn: the resident's last contact (WeChat's 48-hour
window for customer-service messages), replies that go out later as notifications, and the
mark that a message's reply took the late path.

A reply too slow for WeChat's five seconds is answered ``success`` and queued as notifications
when the turn ends. WeChat retries the message a moment later; the retry must then answer
``success`` too, or the resident would read the reply twice. The mark is written before the
first ``success`` leaves, so a retry reaching any process sees it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.jobs.notices import queue_notification
from bot.storage.models import Notification, ResidentContact, SeenNonce

CHANNEL = "wechat"
#: A row in ``seen_nonces`` under this channel marks a message whose reply went late: the table
#: is a set of one-time tokens kept for the timestamp window, which outlasts WeChat's retries.
LATE_MARKS = "wechat-late"
LATE = "wechat-late"  # notification keys of late replies
MORE = "wechat-more"  # notification keys of the parts of a reply beyond the passive limit


def message_ref(openid: str, message_id: str) -> str:
    """A short, fixed-length name for one message of one resident (event ids repeat across residents)."""
    return hashlib.sha256(f"{openid}\n{message_id}".encode()).hexdigest()[:40]


async def record_contact(session: AsyncSession, openid: str, now: datetime) -> None:
    """The resident wrote: the customer-service window restarts, with no pushes used."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(ResidentContact).values(
        channel=CHANNEL, user_id=openid, last_inbound_at=now, pushed_since=0
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["channel", "user_id"], set_={"last_inbound_at": now, "pushed_since": 0}
        )
    )


async def mark_late(session: AsyncSession, openid: str, message_id: str, now: datetime) -> None:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        insert(SeenNonce)
        .values(channel=LATE_MARKS, nonce=message_ref(openid, message_id), body_digest="late", seen_at=now)
        .on_conflict_do_nothing(index_elements=["channel", "nonce"])
    )


async def went_late(session: AsyncSession, openid: str, message_id: str) -> bool:
    """Whether this message's reply is (or will be) delivered by notification."""
    ref = message_ref(openid, message_id)
    marked = await session.scalar(
        select(SeenNonce.nonce).where(SeenNonce.channel == LATE_MARKS, SeenNonce.nonce == ref)
    )
    if marked is not None:
        return True
    # The first part's exact key, not a prefix: LIKE 'prefix%' is a scan of every notification
    # ever kept (on SQLite and on PostgreSQL without a pattern index), on every message.
    first = _key(LATE, ref, 0)
    queued = await session.scalar(select(Notification.id).where(Notification.dedupe_key == first))
    return queued is not None


def _key(kind: str, ref: str, number: int) -> str:
    return f"{kind}:{ref}:{number}"


async def queue_texts(
    session: AsyncSession, openid: str, message_id: str, texts: Sequence[str], *, kind: str
) -> int:
    """Queue ``texts`` for the resident, in order, once per message (``kind`` is LATE or MORE)."""
    ref = message_ref(openid, message_id)
    added = 0
    for number, text in enumerate(texts):
        key = _key(kind, ref, number)
        added += await queue_notification(session, channel=CHANNEL, user_id=openid, text=text, key=key)
    return added
