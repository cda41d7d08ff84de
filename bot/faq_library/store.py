"""The SQL the FAQ library shares: rows to drafts and FAQs, the published set, its generation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.faq.drafts import Draft
from bot.faq.model import Faq, LegalBasis
from bot.storage.models import FaqEntry, FaqLibrary, FaqVersion

#: The one row of ``faq_library``.
LIBRARY_ROW = 1


@asynccontextmanager
async def reading(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A read-only session: on SQLite it does not take the write lock."""
    async with sessions() as session:
        await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        yield session


def to_draft(version: FaqVersion) -> Draft:
    return Draft(
        question=version.question,
        paraphrases=tuple(str(p) for p in version.paraphrases),
        answer=version.answer,
        legal_basis=tuple(LegalBasis(str(b["statute"]), str(b["article"])) for b in version.legal_basis),
        dispute_type=version.dispute_type,
    )


def version_columns(draft: Draft) -> dict[str, Any]:
    return {
        "question": draft.question,
        "paraphrases": list(draft.paraphrases),
        "answer": draft.answer,
        "legal_basis": [{"statute": b.statute, "article": b.article} for b in draft.legal_basis],
        "dispute_type": draft.dispute_type,
    }


def to_faq(entry: FaqEntry, version: FaqVersion) -> Faq:
    draft = to_draft(version)
    return Faq(
        id=entry.slug,
        question=draft.question,
        paraphrases=draft.paraphrases,
        answer=draft.answer,
        legal_basis=draft.legal_basis,
        dispute_type=draft.dispute_type,
        reviewed=entry.reviewed_at.date() if entry.reviewed_at else None,
    )


async def published_pairs(session: AsyncSession) -> list[tuple[FaqEntry, FaqVersion]]:
    """What residents are answered from: each live entry with its published version."""
    rows = await session.execute(
        select(FaqEntry, FaqVersion)
        .join(
            FaqVersion,
            and_(FaqVersion.entry_id == FaqEntry.id, FaqVersion.number == FaqEntry.published_number),
        )
        .where(FaqEntry.status != "retired")
        .order_by(FaqEntry.id)
    )
    return [(entry, version) for entry, version in rows]


async def latest_pairs(
    session: AsyncSession, *, include_retired: bool = True
) -> list[tuple[FaqEntry, FaqVersion]]:
    query = (
        select(FaqEntry, FaqVersion)
        .join(
            FaqVersion, and_(FaqVersion.entry_id == FaqEntry.id, FaqVersion.number == FaqEntry.latest_number)
        )
        .order_by(FaqEntry.id)
    )
    if not include_retired:
        query = query.where(FaqEntry.status != "retired")
    rows = await session.execute(query)
    return [(entry, version) for entry, version in rows]


async def generation(session: AsyncSession) -> int:
    value = await session.scalar(select(FaqLibrary.generation).where(FaqLibrary.id == LIBRARY_ROW))
    return int(value or 0)


async def bump_generation(session: AsyncSession, now: datetime) -> int:
    """Raise the published set's generation (in the caller's transaction): every process reloads."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(FaqLibrary)
        .values(id=LIBRARY_ROW, generation=1, changed_at=now)
        .on_conflict_do_update(
            index_elements=["id"], set_={"generation": FaqLibrary.generation + 1, "changed_at": now}
        )
        .returning(FaqLibrary.generation)
    )
    return int((await session.execute(statement)).scalar_one())


IMPORTED_NOTE = "从 YAML 文件导入"


def imported_version(entry_id: int, number: int, draft: Draft, author: str, now: datetime) -> FaqVersion:
    """A version read from the YAML files (seeding, ``bot faq import``)."""
    return FaqVersion(
        entry_id=entry_id,
        number=number,
        author=author[:64],
        note=IMPORTED_NOTE,
        created_at=now,
        **version_columns(draft),
    )


async def add_published(
    session: AsyncSession, slug: str, draft: Draft, *, author: str, reviewed_at: datetime, now: datetime
) -> None:
    """A new FAQ, published as version 1 (from the YAML files)."""
    entry = FaqEntry(
        slug=slug,
        status="published",
        latest_number=1,
        published_number=1,
        reviewed_at=reviewed_at,
        created_at=now,
        updated_at=now,
    )
    session.add(entry)
    await session.flush()
    session.add(imported_version(entry.id, 1, draft, author, now))
