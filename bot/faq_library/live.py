"""The FAQs residents are answered from: the published versions in the database.

The legal flow asks ``index()`` on every question (synchronously): it gets the index built at
the last refresh. A refresh costs one tiny SELECT when nothing changed (the published set's
generation); after a publish anywhere it reloads and swaps the index in one assignment, so a
question is answered wholly from the old set or wholly from the new one. Publishing in this
process refreshes at once; other processes refresh every few seconds (``refresh_job``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.faq.drafts import Draft, tidy
from bot.faq.files import load_directory
from bot.faq.index import FaqIndex
from bot.faq.model import Faq
from bot.faq_library.store import (
    add_published,
    bump_generation,
    generation,
    published_pairs,
    reading,
    to_faq,
)
from bot.nlu.segment import Tokenizer
from bot.storage.audit import record
from bot.storage.models import FaqEntry

log = logging.getLogger(__name__)


class LiveFaqs:
    """Implements ``bot.dialogs.turn.FaqSource`` from the database."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], tokenizer: Tokenizer, *, threshold: float
    ) -> None:
        self._sessions = sessions
        self._tokenizer = tokenizer
        self._threshold = threshold
        self._index = FaqIndex([], tokenizer, threshold=threshold)
        self._generation: int | None = None
        # One reload at a time: a slow older reload must not overwrite a newer one.
        self._lock = asyncio.Lock()

    def index(self) -> FaqIndex:
        return self._index

    @property
    def generation(self) -> int | None:
        """The generation of the published set the index was built from (None: never loaded)."""
        return self._generation

    async def refresh(self, *, force: bool = False) -> bool:
        """Reload if the published set changed (or ``force``); True when it reloaded."""
        async with self._lock:
            async with reading(self._sessions) as session:
                current = await generation(session)
                if current == self._generation and not force:
                    return False
                # Read after the generation: a publish in between only makes the next refresh
                # load again, never leaves the index older than its generation says.
                faqs = [to_faq(entry, version) for entry, version in await published_pairs(session)]
            self._index = FaqIndex(faqs, self._tokenizer, threshold=self._threshold)
            self._generation = current
            log.info("FAQ index loaded: %d published FAQs, generation %d", len(faqs), current)
            return True

    async def refresh_job(self) -> None:
        """For the scheduler (every ~2 s): picks up what other processes published."""
        try:
            await self.refresh()
        except SQLAlchemyError as exc:  # the database is away for a moment: keep answering
            log.warning("FAQ refresh failed (%s); answering from the loaded FAQs", type(exc).__name__)

    async def seed_if_empty(self, faq_dir: Path, *, actor_name: str = "import") -> int:
        """On a deployment's first start, the YAML FAQs become published version 1 (reviewed on
        their ``reviewed`` date). Returns how many were imported; then loads the index."""
        imported = 0
        async with reading(self._sessions) as session:
            empty = not await session.scalar(select(func.count()).select_from(FaqEntry))
        if empty:
            faqs = load_directory(faq_dir)
            try:
                async with self._sessions.begin() as session:
                    await _insert_published(session, faqs, actor_name)
                    record(
                        session, "import", actor=actor_name, target=str(faq_dir), detail=f"{len(faqs)} FAQs"
                    )
                imported = len(faqs)
                log.info("seeded the FAQ library with %d FAQs from %s", imported, faq_dir)
            except IntegrityError:  # another process seeded it at the same moment
                log.info("the FAQ library was seeded by another process")
        await self.refresh(force=True)
        return imported


async def _insert_published(session: AsyncSession, faqs: list[Faq], actor_name: str) -> None:
    now = datetime.now(UTC)
    for faq in faqs:
        draft = tidy(Draft(faq.question, faq.paraphrases, faq.answer, faq.legal_basis, faq.dispute_type))
        reviewed_at = datetime.combine(faq.reviewed, time(), tzinfo=UTC) if faq.reviewed else now
        await add_published(session, faq.id, draft, author=actor_name, reviewed_at=reviewed_at, now=now)
    await bump_generation(session, now)
