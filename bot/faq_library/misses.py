"""The unanswered questions queue: what residents asked that no FAQ answered (``faq_misses``),
grouped by similarity so volunteers see which questions come up most.

Grouping is deliberately simple and explainable: two questions are alike when they share
enough words and characters, rare ones counting more than common ones (cosine of rarity-weighted
terms), and each question joins the group of the question it is most alike to (newest first),
or starts a new one. Residents' words: never logged.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.faq.actors import Actor
from bot.faq.drafts import PARAPHRASE_MAX, PARAPHRASES_MAX, QUESTION_MAX, Draft, DraftRefused
from bot.faq.index import FaqIndex
from bot.faq_library.store import latest_pairs, reading
from bot.nlu.normalize import normalize_text
from bot.nlu.segment import Tokenizer
from bot.storage.audit import record
from bot.storage.models import FaqMiss

#: How alike two questions must be to share a group (cosine of rarity-weighted terms; measured
#: on hand-made questions against the seed FAQs: rephrasings of one question mostly score
#: 0.2-0.5, different questions under 0.17).
SIMILAR = 0.2
#: The newest misses grouped at most (older ones wait until these are handled); grouping
#: 1,000 distinct questions takes about a second.
WINDOW = 1000
REASON_MAX = 500

Terms = frozenset[str]
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True, slots=True)
class MissGroup:
    ids: list[int]
    texts: list[str]  # distinct, most recent first
    count: int
    dispute_type: str | None  # the most common the NLU saw
    first_at: datetime
    last_at: datetime
    candidates: list[str]  # ids of the FAQs the bot nearly answered with, most frequent first
    #: FAQs the bot answered with and the resident said "没用" to (wrong answers), most frequent first
    answered_with: list[str] = field(default_factory=list)


class Likeness:
    """Cosine similarity of questions as sets of terms (the bot's words and character pairs, and
    single characters so that 狗叫 meets 狗一直叫), each weighted by its rarity in ``corpus``:
    sharing 蜂箱 says more than sharing 怎么办."""

    def __init__(self, tokenizer: Tokenizer | None, corpus: Sequence[str]) -> None:
        self._tokenizer = tokenizer
        sets = [self.terms(text) for text in corpus]
        frequency = Counter(term for terms in sets for term in terms)
        size = len(sets)
        self._rarity = {t: math.log((size + 1) / (n + 0.5)) ** 2 for t, n in frequency.items()}
        self._unseen = math.log((size + 1) / 0.5) ** 2

    def terms(self, text: str) -> Terms:
        return _terms(self._tokenizer, text)

    def weight(self, term: str) -> float:
        """The squared rarity: what a shared term adds to the dot product."""
        return self._rarity.get(term, self._unseen)

    def norm(self, terms: Terms) -> float:
        return math.sqrt(sum(self.weight(t) for t in terms))

    def similarity(self, a: Terms, b: Terms) -> float:
        denominator = self.norm(a) * self.norm(b)
        return sum(self.weight(t) for t in a & b) / denominator if denominator else 0.0


#: Terms by (tokenizer, text): the same FAQ phrasings and questions come back on every view of
#: the queue, and word splitting is most of its cost. The tokenizers live as long as the process.
_TERMS: dict[tuple[int, str], Terms] = {}
_TERMS_MAX = 50_000


def _terms(tokenizer: Tokenizer | None, text: str) -> Terms:
    key = (id(tokenizer), text)
    if (cached := _TERMS.get(key)) is not None:
        return cached
    clean = normalize_text(text).lower()
    han = _HAN.findall(clean)
    pairs = [f"#{a}{b}" for a, b in itertools.pairwise(han)]
    words = FaqIndex([], tokenizer, threshold=0.0).terms(clean) if tokenizer is not None else pairs
    terms = frozenset((*words, *pairs, *(f"@{ch}" for ch in han)))
    if len(_TERMS) >= _TERMS_MAX:
        _TERMS.clear()
    _TERMS[key] = terms
    return terms


async def groups(
    sessions: async_sessionmaker[AsyncSession],
    tokenizer: Tokenizer,
    *,
    include_dismissed: bool = False,
    limit: int = 50,
) -> list[MissGroup]:
    """The open misses (with ``include_dismissed``, also those set aside or answered), grouped,
    largest groups first."""
    query = select(FaqMiss).order_by(FaqMiss.created_at.desc(), FaqMiss.id.desc()).limit(WINDOW)
    if not include_dismissed:
        query = query.where(FaqMiss.dismissed_at.is_(None), FaqMiss.answered_by.is_(None))
    async with reading(sessions) as session:
        misses = list(await session.scalars(query))
        # The FAQs' phrasings tell which words residents use everywhere (怎么办, 邻居, 公司).
        phrasings = [p for _, v in await latest_pairs(session) for p in (v.question, *v.paraphrases)]
    likeness = Likeness(tokenizer, [*phrasings, *(m.text for m in misses)])
    built = [_group(members) for members in _cluster(misses, likeness)]
    built.sort(key=lambda g: (g.count, g.last_at), reverse=True)
    return built[:limit]


def _cluster(misses: list[FaqMiss], likeness: Likeness) -> list[list[FaqMiss]]:
    """Newest first, each distinct question joins the group of the question it is most alike
    to (if alike enough) or starts its own; the same text always goes to the same group."""
    clusters: list[list[FaqMiss]] = []
    placed: dict[str, int] = {}  # distinct text -> its cluster
    postings: dict[str, list[int]] = defaultdict(list)  # term -> distinct texts having it
    owner: list[int] = []  # distinct text -> its cluster
    norms: list[float] = []
    for miss in misses:
        text = miss.text.strip()
        if text not in placed:
            terms = likeness.terms(text)
            norm = likeness.norm(terms)
            dots: dict[int, float] = defaultdict(float)
            for term in terms:
                weight = likeness.weight(term)
                for other in postings.get(term, ()):
                    dots[other] += weight
            scores = {o: dot / (norm * norms[o]) for o, dot in dots.items() if norm and norms[o]}
            best = max(scores, key=lambda o: scores[o], default=None)
            if best is not None and scores[best] >= SIMILAR:
                placed[text] = owner[best]
            else:
                placed[text] = len(clusters)
                clusters.append([])
            for term in terms:
                postings[term].append(len(owner))
            owner.append(placed[text])
            norms.append(norm)
        clusters[placed[text]].append(miss)
    return clusters


def _most_common(values: Sequence[str | None]) -> str | None:
    counted = Counter(v for v in values if v)
    return counted.most_common(1)[0][0] if counted else None


def _group(members: list[FaqMiss]) -> MissGroup:
    members.sort(key=lambda m: (m.created_at, m.id), reverse=True)
    candidates = Counter(str(c) for m in members for c in m.candidates or ())
    return MissGroup(
        ids=[m.id for m in members],
        texts=list(dict.fromkeys(m.text.strip() for m in members)),
        count=len(members),
        dispute_type=_most_common([m.dispute_type for m in members]),
        first_at=members[-1].created_at,
        last_at=members[0].created_at,
        candidates=[slug for slug, _ in candidates.most_common(3)],
        answered_with=[
            slug for slug, _ in Counter(m.answered_with for m in members if m.answered_with).most_common(3)
        ],
    )


async def dismiss(
    sessions: async_sessionmaker[AsyncSession], ids: list[int], *, actor: Actor, reason: str
) -> int:
    """Set questions aside with the reason (required); returns how many were still open."""
    reason = reason.strip()
    if not reason:
        raise DraftRefused(["请写明不处理的原因"])
    if len(reason) > REASON_MAX:
        raise DraftRefused([f"原因请控制在{REASON_MAX}字以内"])
    async with sessions.begin() as session:
        result = await session.execute(
            update(FaqMiss)
            .where(FaqMiss.id.in_(ids), FaqMiss.dismissed_at.is_(None), FaqMiss.answered_by.is_(None))
            .values(dismissed_at=datetime.now(UTC), dismissed_by=actor.name[:64], dismiss_reason=reason)
        )
        count = int(getattr(result, "rowcount", 0) or 0)
        record(session, "dismiss_misses", actor=actor.name, target=f"{count}条", detail=reason)
    return count


async def prefill(
    sessions: async_sessionmaker[AsyncSession], ids: list[int], tokenizer: Tokenizer | None = None
) -> Draft:
    """A draft from a group of questions: the most typical one as the question (the one most
    alike to the others), the other distinct ones as paraphrases, the most common type."""
    async with reading(sessions) as session:
        misses = list(
            await session.scalars(
                select(FaqMiss)
                .where(FaqMiss.id.in_(ids))
                .order_by(FaqMiss.created_at.desc(), FaqMiss.id.desc())
            )
        )
    texts = [t for t in dict.fromkeys(m.text.strip() for m in misses) if t]
    if not texts:
        raise KeyError("no such unanswered questions")
    likeness = Likeness(tokenizer, texts)
    sets = [likeness.terms(t) for t in texts]
    # The most typical: most alike to the others (the newest on a tie).
    typical = max(range(len(texts)), key=lambda i: (sum(likeness.similarity(sets[i], s) for s in sets), -i))
    others = [t for i, t in enumerate(texts) if i != typical and len(t) <= PARAPHRASE_MAX]
    return Draft(
        question=texts[typical][:QUESTION_MAX],
        paraphrases=tuple(others[:PARAPHRASES_MAX]),
        answer="",
        legal_basis=(),
        dispute_type=_most_common([m.dispute_type for m in misses]),
    )
