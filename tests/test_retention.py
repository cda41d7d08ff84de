"""Retention (knowledge/centre.yml keep_days): what residents wrote, idle conversations, closed
cases, unanswered questions and sent notifications are deleted once their period is over; what
is still within it stays. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.jobs.retention import Retention, RetentionPolicy
from bot.settings import Settings
from bot.storage import models
from bot.storage.db import sessions

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=4000)


async def _seed(database: AsyncEngine, user: str, at: datetime, *, step: str) -> None:
    async with sessions(database).begin() as session:
        conversation = models.Conversation(
            channel="web", user_id=user, state={"known_phones": ["13900001111"]}, updated_at=at
        )
        session.add(conversation)
        await session.flush()
        session.add(
            models.ProcessedMessage(
                channel="web", user_id=user, message_id=uuid.uuid4().hex, conversation_id=conversation.id,
                text="我电话13900001111", replies=[{"text": "好的"}], created_at=at,
            )
        )  # fmt: skip
        session.add(
            models.Case(
                reference=f"TJ-{uuid.uuid4().hex[:10]}", channel="web", user_id=user, dispute_type="neighbor",
                description="楼上漏水", place="阳光花园", occurred="上周", other_party=None, name="王",
                phone="13900001111", consent_at=at, step=step, created_at=at, updated_at=at,
            )
        )  # fmt: skip
        session.add(models.FaqMiss(text=f"{user} 的问题", dispute_type=None, candidates=[], created_at=at))


async def test_personal_data_past_its_period_is_deleted_and_the_rest_kept(
    db_settings: Settings, database: AsyncEngine
) -> None:
    old, recent, open_case = (f"ret-{uuid.uuid4().hex[:8]}" for _ in range(3))
    await _seed(database, old, OLD, step="closed")
    await _seed(database, recent, NOW, step="closed")
    await _seed(database, open_case, OLD, step="mediation")  # still being handled: kept
    retention = Retention(sessions(database), RetentionPolicy.load(db_settings.knowledge_dir))
    purged = await retention.purge_once()
    assert purged.cases >= 1 and purged.message_texts >= 1
    async with sessions(database)() as session:
        cases = {c.user_id for c in await session.scalars(select(models.Case))}
        texts = {m.user_id: m.text for m in await session.scalars(select(models.ProcessedMessage))}
        states = {c.user_id: c.state for c in await session.scalars(select(models.Conversation))}
        misses = {m.text for m in await session.scalars(select(models.FaqMiss))}
    assert old not in cases and recent in cases and open_case in cases
    assert texts.get(old) is None and texts[recent] == "我电话13900001111"
    assert states[old] == {} and states[recent] == {"known_phones": ["13900001111"]}
    assert f"{old} 的问题" not in misses and f"{recent} 的问题" in misses


def test_the_policy_is_read_from_the_centres_file(settings: Settings) -> None:
    policy = RetentionPolicy.load(settings.knowledge_dir)
    assert policy.closed_cases == timedelta(days=1095)  # the 3 years residents are promised
