"""Retention: personal data is kept only as long as knowledge/centre.yml says (``keep_days``), then
deleted by this job (hourly). What each table holds and for how long: docs/privacy.md.

- what residents wrote, and the replies, in the record of handled messages: the text and replies
  are erased (the row, an id and a time, stays a while for exactly-once and rate limits, then goes);
- an idle conversation's state (an unfinished report's answers): reset;
- a case the centre closed (办结, 不予受理, 撤回), with its reporter's data: deleted with its outbox rows;
- the volunteers' queue of unanswered questions: deleted;
- notifications once sent: deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
import yaml
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage import models

log = structlog.get_logger(__name__)

#: The case system's steps after which a case is over (backend_client.models.FINAL_STEPS).
FINAL_STEPS = ("closed", "rejected", "withdrawn")
#: Rows of handled messages (already without text) are kept this much longer than their text, so
#: a late redelivery is still recognised.
ROW_GRACE = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    message_texts: timedelta
    conversation_state: timedelta
    closed_cases: timedelta
    unanswered_questions: timedelta
    notifications: timedelta

    @classmethod
    def load(cls, knowledge_dir: Path) -> RetentionPolicy:
        raw = yaml.safe_load((knowledge_dir / "centre.yml").read_text(encoding="utf-8"))
        days = raw.get("keep_days") or {}
        missing = [f.name for f in fields(cls) if f.name not in days]
        if missing:
            raise ValueError(f"knowledge/centre.yml keep_days lacks {missing}")
        return cls(**{f.name: timedelta(days=int(days[f.name])) for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class Purged:
    message_texts: int
    message_rows: int
    conversations: int
    cases: int
    unanswered_questions: int
    notifications: int


class Retention:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policy: RetentionPolicy,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._clock = clock

    async def purge_once(self) -> Purged:
        now, p = self._clock(), self._policy
        messages = models.ProcessedMessage
        async with self._sessions.begin() as session:
            texts = await session.execute(
                update(messages)
                .where(messages.created_at < now - p.message_texts, messages.text.is_not(None))
                .values(text=None, replies=[])
            )
            rows = await session.execute(
                delete(messages).where(messages.created_at < now - p.message_texts - ROW_GRACE)
            )
            conversations = await session.execute(
                update(models.Conversation)
                .where(models.Conversation.updated_at < now - p.conversation_state)
                .values(state={})
            )
            cases = await session.execute(
                delete(models.Case).where(
                    models.Case.step.in_(FINAL_STEPS), models.Case.updated_at < now - p.closed_cases
                )
            )
            misses = await session.execute(
                delete(models.FaqMiss).where(models.FaqMiss.created_at < now - p.unanswered_questions)
            )
            notifications = await session.execute(
                delete(models.Notification).where(
                    models.Notification.status == "sent",
                    models.Notification.created_at < now - p.notifications,
                )
            )
        purged = Purged(
            *(
                int(result.rowcount or 0)  # type: ignore[attr-defined]
                for result in (texts, rows, conversations, cases, misses, notifications)
            )
        )
        if any(_counts(purged)):
            log.info("retention.purged", **{f.name: getattr(purged, f.name) for f in fields(purged)})
        return purged


def _counts(purged: Purged) -> list[int]:
    return [getattr(purged, f.name) for f in fields(purged)]
