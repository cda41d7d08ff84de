"""The FAQ library the volunteers' console works on: entries with every version kept, a draft →
review → published life, publishing live at once, history, diff and restore, and "试问" (which
FAQ the bot would answer with, under the published set and under the drafts).

Each state change is one transaction with its audit event. Publishing, unpublishing and retiring
raise the published set's generation; this process's ``LiveFaqs`` reloads at once, the others at
their next refresh (every few seconds).
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.faq.actors import Actor, NotAllowed
from bot.faq.diff import DiffLine, diff_drafts
from bot.faq.drafts import Draft, DraftRefused, check_draft, check_slug, tidy
from bot.faq.index import FaqIndex, SearchResult
from bot.faq.statutes import StatuteIndex
from bot.faq_library.live import LiveFaqs
from bot.faq_library.store import (
    bump_generation,
    latest_pairs,
    published_pairs,
    reading,
    to_draft,
    to_faq,
    version_columns,
)
from bot.nlu.labels import DisputeCatalog
from bot.nlu.segment import Tokenizer
from bot.storage.audit import record
from bot.storage.models import FaqEntry, FaqMiss, FaqVersion

__all__ = [
    "Conflict",
    "DiffLine",
    "Draft",
    "DraftRefused",
    "FaqDetail",
    "FaqSummary",
    "Library",
    "NotFound",
    "TryResult",
    "VersionView",
    "WrongState",
]

STATUSES = ("draft", "review", "published", "retired")
#: Published answers not reviewed for this long are flagged: laws and practice change.
STALE_AFTER = timedelta(days=365)


class NotFound(KeyError):
    """No FAQ with this slug, or no such version of it."""


class Conflict(Exception):
    """Someone saved a newer version since the editor was opened."""

    def __init__(self, latest_number: int) -> None:
        super().__init__(f"这条问答已被别人改过（现在是第{latest_number}版），请刷新后再修改")
        self.latest_number = latest_number


class WrongState(DraftRefused):
    """The step does not fit the FAQ's state (submitting a retired FAQ, say)."""


@dataclass(frozen=True, slots=True)
class VersionView:
    number: int
    draft: Draft
    author: str
    note: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FaqSummary:
    slug: str
    status: str  # draft, review, published, retired
    question: str  # of the latest version
    dispute_type: str | None
    latest_number: int
    published_number: int | None
    updated_at: datetime
    reviewed_at: datetime | None
    stale: bool

    @property
    def live(self) -> bool:
        """Residents are answered with it (its published version)."""
        return self.published_number is not None

    @property
    def pending(self) -> bool:
        """Live, with newer versions not yet published."""
        return self.published_number is not None and self.published_number != self.latest_number


@dataclass(frozen=True, slots=True)
class FaqDetail:
    summary: FaqSummary
    latest: VersionView
    published: VersionView | None


@dataclass(frozen=True, slots=True)
class TryResult:
    published: SearchResult  # what residents get now
    draft: SearchResult  # with every FAQ's latest version (drafts and those in review too)
    #: The dispute type the search was boosted with (the NLU's, as for a resident, or the one chosen).
    dispute_type: str | None = None
    #: The published answer without that type: shown when the type changed the answer.
    untyped: SearchResult | None = None

    @property
    def type_changed_answer(self) -> bool:
        if self.untyped is None or self.dispute_type is None:
            return False
        before = self.untyped.best.id if self.untyped.best else None
        after = self.published.best.id if self.published.best else None
        return before != after


def _view(version: FaqVersion) -> VersionView:
    return VersionView(version.number, to_draft(version), version.author, version.note, version.created_at)


def _require_reviewer(actor: Actor) -> None:
    if not actor.may_publish:
        raise NotAllowed(f"{actor.name} is a {actor.role.value}, not a reviewer")


class Library:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        statutes: StatuteIndex,
        catalog: DisputeCatalog,
        tokenizer: Tokenizer,
        *,
        threshold: float,
        live: LiveFaqs | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._statutes = statutes
        self._catalog = catalog
        self._tokenizer = tokenizer
        self._threshold = threshold
        self._live = live
        self._clock = clock
        # Built indexes by name, with the entry states they were built from.
        self._indexes: dict[str, tuple[object, FaqIndex]] = {}

    @property
    def tokenizer(self) -> Tokenizer:
        """The bot's word splitting (jieba with the domain dictionary), for the console's grouping."""
        return self._tokenizer

    # --- reading ---

    async def awaiting_review(self) -> int:
        """How many FAQs a volunteer has submitted and no reviewer has decided on yet."""
        async with reading(self._sessions) as session:
            count = await session.scalar(
                select(func.count()).select_from(FaqEntry).where(FaqEntry.status == "review")
            )
        return int(count or 0)

    async def list(
        self,
        *,
        query: str | None = None,
        dispute_type: str | None = None,
        status: str | None = None,
        stale_only: bool = False,
    ) -> builtins.list[FaqSummary]:
        """The FAQs, newest change first; with ``query``, those matching it, best first (the bot's
        own word splitting over question and paraphrases, then plain text in answer, citations
        and id). ``status="published"`` means live: also those with unpublished edits."""
        async with reading(self._sessions) as session:
            pairs = await latest_pairs(session)
        now = self._clock()
        summaries = {entry.slug: self._summary(entry, version, now) for entry, version in pairs}
        drafts = {entry.slug: to_draft(version) for entry, version in pairs}

        def keep(s: FaqSummary) -> bool:
            if dispute_type is not None and s.dispute_type != dispute_type:
                return False
            if status == "published" and not s.live:
                return False
            if status not in (None, "published") and s.status != status:
                return False
            return not stale_only or s.stale

        chosen = sorted(
            (s for s in summaries.values() if keep(s)), key=lambda s: (s.updated_at, s.slug), reverse=True
        )
        text = (query or "").strip()
        if not text:
            return chosen
        index = self._cached("all", tuple((e.id, e.latest_number) for e, _ in pairs), pairs)
        # Single characters are terms too, so nearly everything scores a little: a match shares a word.
        scores = {
            c.faq.id: c.score
            for c in index.search(text, limit=len(index.faqs)).candidates
            if c.shared_words >= 1
        }
        ranked = sorted((s for s in chosen if scores.get(s.slug, 0) > 0), key=lambda s: -scores[s.slug])
        plain = [s for s in chosen if scores.get(s.slug, 0) <= 0 and _mentions(text, s.slug, drafts[s.slug])]
        return ranked + plain

    async def get(self, slug: str) -> FaqDetail:
        async with reading(self._sessions) as session:
            entry = await self._entry(session, slug)
            latest = await self._version(session, entry, entry.latest_number)
            published = (
                await self._version(session, entry, entry.published_number)
                if entry.published_number is not None
                else None
            )
        return FaqDetail(
            self._summary(entry, latest, self._clock()),
            _view(latest),
            _view(published) if published is not None else None,
        )

    async def history(self, slug: str) -> builtins.list[VersionView]:
        """Every version, newest first."""
        async with reading(self._sessions) as session:
            entry = await self._entry(session, slug)
            versions = await session.scalars(
                select(FaqVersion).where(FaqVersion.entry_id == entry.id).order_by(FaqVersion.number.desc())
            )
            return [_view(v) for v in versions]

    def diff(self, older: VersionView, newer: VersionView) -> builtins.list[DiffLine]:
        return diff_drafts(older.draft, newer.draft, self._catalog)

    def check(self, draft: Draft) -> builtins.list[str]:
        """Why the draft cannot be saved (Chinese, for volunteers); empty when it can."""
        return check_draft(tidy(draft, self._statutes), self._statutes, self._catalog)

    async def try_question(self, text: str, dispute_type: str | None = None) -> TryResult:
        """Which FAQ the bot would answer ``text`` with now, and after publishing every draft."""
        async with reading(self._sessions) as session:
            latest = await latest_pairs(session, include_retired=False)
            published = [] if self._live is not None else await published_pairs(session)
        if self._live is not None:
            await self._live.refresh()
            live_index = self._live.index()
        else:
            live_index = self._cached("published", tuple((e.id, v.number) for e, v in published), published)
        draft_index = self._cached("draft", tuple((e.id, v.number) for e, v in latest), latest)
        return TryResult(
            live_index.search(text, dispute_type=dispute_type),
            draft_index.search(text, dispute_type=dispute_type),
            dispute_type,
            live_index.search(text) if dispute_type else None,
        )

    # --- writing ---

    async def create(
        self,
        draft: Draft,
        *,
        actor: Actor,
        slug: str | None = None,
        from_miss: builtins.list[int] | None = None,
    ) -> str:
        """A new FAQ as a draft (version 1); ``from_miss``: the unanswered questions it answers."""
        draft = self._accept(draft)
        slug = slug.strip() if slug else f"{draft.dispute_type or 'general'}-{secrets.token_hex(3)}"
        if reasons := check_slug(slug):
            raise DraftRefused(reasons)
        now = self._clock()
        try:
            async with self._sessions.begin() as session:
                if await session.scalar(select(FaqEntry.id).where(FaqEntry.slug == slug)) is not None:
                    raise DraftRefused([f"编号“{slug}”已被使用，请换一个"])
                entry = FaqEntry(slug=slug, status="draft", latest_number=1, created_at=now, updated_at=now)
                session.add(entry)
                await session.flush()
                note = "根据居民未获解答的问题撰写" if from_miss else None
                session.add(_version(entry, 1, draft, actor, note, now))
                if from_miss:
                    await session.execute(
                        update(FaqMiss)
                        .where(FaqMiss.id.in_(from_miss), FaqMiss.answered_by.is_(None))
                        .values(answered_by=slug)
                    )
                record(session, "create", actor=actor.name, target=slug)
        except IntegrityError as exc:  # the same slug created at the same moment elsewhere
            raise DraftRefused([f"编号“{slug}”已被使用，请换一个"]) from exc
        self._indexes.clear()
        return slug

    async def save(
        self, slug: str, draft: Draft, *, actor: Actor, expected_number: int, note: str | None = None
    ) -> int:
        """A new version (the number returned) if ``expected_number`` is still the latest; the
        FAQ becomes a draft again, while its published version stays live until the next publish.
        Saving what is already the latest version changes nothing."""
        draft = self._accept(draft)
        now = self._clock()
        try:
            async with self._sessions.begin() as session:
                entry = await self._entry(session, slug, lock=True)
                if entry.latest_number != expected_number:
                    raise Conflict(entry.latest_number)
                latest = await self._version(session, entry, entry.latest_number)
                if to_draft(latest) == draft:
                    return entry.latest_number
                number = entry.latest_number + 1
                session.add(_version(entry, number, draft, actor, (note or "").strip() or None, now))
                entry.latest_number, entry.status, entry.updated_at = number, "draft", now
        except IntegrityError as exc:  # a concurrent save took this number first
            raise Conflict(expected_number + 1) from exc
        self._indexes.clear()
        return number

    async def submit(self, slug: str, *, actor: Actor) -> None:
        """Ask a reviewer to publish the latest version (draft → review)."""
        async with self._sessions.begin() as session:
            entry = await self._entry(session, slug, lock=True)
            if entry.status == "review":
                return
            if entry.status == "retired":
                raise WrongState(["这条问答已停用：请先修改或恢复一个版本，再提交审核"])
            if entry.status == "published":
                raise WrongState(["这条问答已发布，没有待审核的修改"])
            entry.status, entry.updated_at = "review", self._clock()
            record(session, "submit", actor=actor.name, target=slug, detail=f"第{entry.latest_number}版")

    async def publish(self, slug: str, *, actor: Actor) -> int:
        """Reviewers only: the latest version goes live at once; returns its number."""
        _require_reviewer(actor)
        now = self._clock()
        async with self._sessions.begin() as session:
            entry = await self._entry(session, slug, lock=True)
            latest = await self._version(session, entry, entry.latest_number)
            # The statute index may have changed since the draft was saved.
            if reasons := check_draft(to_draft(latest), self._statutes, self._catalog):
                raise DraftRefused(reasons)
            entry.status, entry.published_number = "published", entry.latest_number
            entry.reviewed_at = entry.updated_at = now
            await bump_generation(session, now)
            record(session, "publish", actor=actor.name, target=slug, detail=f"第{entry.latest_number}版")
            number = entry.latest_number
        await self._changed_live()
        return number

    async def unpublish(self, slug: str, *, actor: Actor) -> None:
        """Reviewers only: residents are no longer answered with it; it stays as a draft."""
        _require_reviewer(actor)
        now = self._clock()
        async with self._sessions.begin() as session:
            entry = await self._entry(session, slug, lock=True)
            if entry.published_number is None:
                return
            entry.status, entry.published_number, entry.updated_at = "draft", None, now
            await bump_generation(session, now)
            record(session, "unpublish", actor=actor.name, target=slug)
        await self._changed_live()

    async def retire(self, slug: str, *, actor: Actor) -> None:
        """Reviewers only: no longer answered, set aside (history kept; saving revives it as a draft)."""
        _require_reviewer(actor)
        now = self._clock()
        async with self._sessions.begin() as session:
            entry = await self._entry(session, slug, lock=True)
            if entry.status == "retired":
                return
            was_live = entry.published_number is not None
            entry.status, entry.published_number, entry.updated_at = "retired", None, now
            if was_live:
                await bump_generation(session, now)
            record(session, "retire", actor=actor.name, target=slug)
        if was_live:
            await self._changed_live()
        self._indexes.clear()

    async def confirm_reviewed(self, slug: str, *, actor: Actor) -> None:
        """Reviewers only: the published answer was checked and is still right."""
        _require_reviewer(actor)
        now = self._clock()
        async with self._sessions.begin() as session:
            entry = await self._entry(session, slug, lock=True)
            if entry.published_number is None:
                raise WrongState(["这条问答还没有发布，不需要确认"])
            entry.reviewed_at = now
            record(session, "confirm_reviewed", actor=actor.name, target=slug)

    async def restore(self, slug: str, number: int, *, actor: Actor) -> int:
        """Copy version ``number`` as a new latest version (a draft); returns the new number."""
        now = self._clock()
        async with self._sessions.begin() as session:
            entry = await self._entry(session, slug, lock=True)
            old = await self._version(session, entry, number)
            new_number = entry.latest_number + 1
            session.add(_version(entry, new_number, to_draft(old), actor, f"恢复自第{number}版", now))
            entry.latest_number, entry.status, entry.updated_at = new_number, "draft", now
            record(
                session, "restore", actor=actor.name, target=slug, detail=f"第{number}版 → 第{new_number}版"
            )
        self._indexes.clear()
        return new_number

    # --- helpers ---

    def _accept(self, draft: Draft) -> Draft:
        draft = tidy(draft, self._statutes)
        if reasons := check_draft(draft, self._statutes, self._catalog):
            raise DraftRefused(reasons)
        return draft

    async def _changed_live(self) -> None:
        self._indexes.clear()
        if self._live is not None:
            await self._live.refresh(force=True)

    async def _entry(self, session: AsyncSession, slug: str, *, lock: bool = False) -> FaqEntry:
        query = select(FaqEntry).where(FaqEntry.slug == slug)
        entry = await session.scalar(query.with_for_update() if lock else query)
        if entry is None:
            raise NotFound(slug)
        return entry

    async def _version(self, session: AsyncSession, entry: FaqEntry, number: int) -> FaqVersion:
        version = await session.scalar(
            select(FaqVersion).where(FaqVersion.entry_id == entry.id, FaqVersion.number == number)
        )
        if version is None:
            raise NotFound(f"{entry.slug} v{number}")
        return version

    def _summary(self, entry: FaqEntry, latest: FaqVersion, now: datetime) -> FaqSummary:
        reviewed = entry.reviewed_at if entry.reviewed_at else None
        live = entry.published_number is not None
        return FaqSummary(
            slug=entry.slug,
            status=entry.status,
            question=latest.question,
            dispute_type=latest.dispute_type,
            latest_number=entry.latest_number,
            published_number=entry.published_number,
            updated_at=entry.updated_at,
            reviewed_at=reviewed,
            stale=live and (reviewed is None or now - reviewed > STALE_AFTER),
        )

    def _cached(
        self, name: str, marks: object, pairs: builtins.list[tuple[FaqEntry, FaqVersion]]
    ) -> FaqIndex:
        """The index of these versions, rebuilt only when they changed (a build takes ~30 ms)."""
        cached = self._indexes.get(name)
        if cached is not None and cached[0] == marks:
            return cached[1]
        index = FaqIndex([to_faq(e, v) for e, v in pairs], self._tokenizer, threshold=self._threshold)
        self._indexes[name] = (marks, index)
        return index


def _version(
    entry: FaqEntry, number: int, draft: Draft, actor: Actor, note: str | None, now: datetime
) -> FaqVersion:
    return FaqVersion(
        entry_id=entry.id,
        number=number,
        author=actor.name[:64],
        note=note,
        created_at=now,
        **version_columns(draft),
    )


def _mentions(text: str, slug: str, draft: Draft) -> bool:
    """A plain substring match, for what the word index leaves out (answers, citations, ids)."""
    haystack = "\n".join((slug, draft.answer, *(b.cite() for b in draft.legal_basis)))
    return text.lower() in haystack.lower()
