"""FAQ retrieval: which FAQ answers a resident's question, and whether the bot is sure enough.

How a question is scored against an FAQ (the constants were chosen on tests/data/faq_dev.jsonl
with a two-fold split, tuned on one half and confirmed on the other; `bot faq eval` measures any
change):

1. Both sides are normalised (half-width, simplified), and residents' words are rewritten to the
   FAQs' words with knowledge/faq_synonyms.yml (调委会 → 调解委员会, 扶养费 → 抚养费, 咋办 → 怎么办).
2. Terms: jieba words (without function words), character pairs and single characters. Pairs and
   characters catch what word splitting misses — typos (仲才), words split differently (家猫 / 猫),
   colloquial forms; words weigh half as much as pairs, characters a little less than pairs.
3. BM25 over one document per FAQ: its question (counted twice) and all its paraphrases.
   Divided by the square root of the question's length, so one threshold fits short and long
   messages.
4. Plus how much of the FAQ's best-matching single phrasing the question covers (rarity-weighted):
   a question that contains most of one paraphrase is a strong match even when the rest of the
   message tells a long story.
5. Times TYPE_BOOST when the FAQ's dispute type is the one the NLU found.

The bot answers with the best FAQ when its score reaches the threshold and it shares at least
one real word with the question; otherwise it says it is not sure. Everything is in memory and
rebuilt from a list of FAQs in milliseconds, so publishing an edit is immediate.

Measured and left out (no better on the held-back half): more stop words, character pairs only
within content words, character triples, the answer text in the document, a boost for general
FAQs; and scores not divided by the message's length, which looked as good only because the dev
set's answerable questions are longer than its unanswerable ones.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.faq.model import Faq
from bot.faq.rerank import WEIGHTS_FILE, Reranker
from bot.nlu.normalize import normalize_text
from bot.nlu.segment import Tokenizer
from bot.settings import PROJECT_ROOT

# Function words that say nothing about which FAQ is meant.
_STOPWORDS = frozenset(
    (
        "的 了 吗 呢 吧 啊 呀 么 嘛 哦 哈 嗯 我 我们 你 你们 他 她 它 他们 是 在 有 和 与 就 都 也 还 又 "
        "这 那 这个 那个 这样 那样 一下 一个 请问 请 问 想 想问 问一下 咨询 能 会 该 应该 "
        "怎么 怎样 如何 什么 啥 咋 多少 哪里 哪 谁 为什么 没 不 被 给 让 把 对 从 到 跟 要 得 地 着 过"
    ).split()
)
#: A best FAQ that shares no real word with the question (only characters) is a coincidence.
MIN_SHARED_WORDS = 1
_KEEP = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_PAIR, _CHAR = "#", "@"

SYNONYMS_FILE = PROJECT_ROOT / "knowledge" / "faq_synonyms.yml"
#: How many first-stage candidates the second stage judges.
RERANK_POOL = 5
#: How far above the threshold the first-stage score, or the second stage's probability, must be
#: for an FAQ to answer a message the NLU did not call a legal question.
CONFIDENT_MARGIN = 1.3
CONFIDENT_PROBABILITY = 0.85
#: Below this probability a candidate is not even offered as "您是不是想问" when not sure: the
#: lowest threshold the calibration considers (scripts/train_faq_reranker.py).
SUGGEST_FLOOR = 0.2
_SHIPPED = object()


class Synonyms:
    """Rewrites residents' words to the words the FAQs use (knowledge/faq_synonyms.yml)."""

    def __init__(self, canonical_of: Mapping[str, str]) -> None:
        # Canonical words match themselves, so 担保人 is not read as 担 + a variant 保人.
        self._canonical_of = {word: word for word in canonical_of.values()} | dict(canonical_of)
        # Longest first, one pass: a rewritten word is never rewritten again.
        variants = sorted(self._canonical_of, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, variants))) if variants else None

    @classmethod
    def load(cls, path: Path) -> Synonyms:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        groups = doc.get("synonyms") or {}
        return cls({normalize_text(str(v)).lower(): str(word) for word, vs in groups.items() for v in vs})

    def rewrite(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._canonical_of[m.group(0)], text)


@lru_cache(maxsize=1)
def shipped_reranker() -> Reranker | None:
    return Reranker.load() if WEIGHTS_FILE.exists() else None


@lru_cache(maxsize=1)
def project_synonyms() -> Synonyms:
    return Synonyms.load(SYNONYMS_FILE)


@dataclass(frozen=True, slots=True)
class Candidate:
    faq: Faq
    score: float
    #: Distinct words (not character pairs or characters) the question shares with the FAQ.
    shared_words: int
    #: What the second stage reads (``bot/faq/rerank.py``): relations between the question and
    #: this FAQ that mean the same for any FAQ, including ones volunteers add later.
    features: tuple[float, ...] = ()
    #: The second stage's probability that this FAQ answers the question (None: no second stage).
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class SearchResult:
    candidates: tuple[Candidate, ...]  # best first, at most `limit`
    threshold: float

    @property
    def best(self) -> Faq | None:
        """The FAQ to answer with, or None when the bot should say it is not sure."""
        if not self.candidates:
            return None
        top = self.candidates[0]
        if top.shared_words < MIN_SHARED_WORDS:
            return None
        if top.confidence is not None:
            return top.faq if top.confidence >= self.threshold else None
        return top.faq if top.score >= self.threshold else None

    def suggestions(self, limit: int = 3) -> tuple[Faq, ...]:
        """When not sure: the FAQs the resident may have meant, to choose from ("您是不是想问"),
        best first; none whose probability is below SUGGEST_FLOOR or that shares no word."""
        return tuple(
            c.faq
            for c in self.candidates[:limit]
            if c.shared_words >= MIN_SHARED_WORDS
            and (c.confidence if c.confidence is not None else 1.0) >= SUGGEST_FLOOR
        )

    @property
    def confident(self) -> Faq | None:
        """An FAQ that clearly answers, enough to answer a message the NLU did not see as a legal
        question (out of scope, or unsure)."""
        best = self.best
        top = self.candidates[0] if self.candidates else None
        if best is None or top is None:
            return None
        if top.confidence is not None:
            return best if top.confidence >= min(CONFIDENT_PROBABILITY, self.threshold + 0.2) else None
        return best if top.score >= self.threshold * CONFIDENT_MARGIN else None


def _weight(term: str) -> float:
    if term.startswith(_PAIR):
        return FaqIndex.PAIR_WEIGHT
    if term.startswith(_CHAR):
        return FaqIndex.CHAR_WEIGHT
    return FaqIndex.WORD_WEIGHT


def _is_word(term: str) -> bool:
    return not term.startswith((_PAIR, _CHAR))


class FaqIndex:
    #: Score multiplier for an FAQ whose dispute type is the one the NLU found.
    TYPE_BOOST = 1.4
    WORD_WEIGHT = 0.5
    PAIR_WEIGHT = 1.0
    CHAR_WEIGHT = 0.6
    #: The FAQ's own question counts this many times a paraphrase: volunteers word it most carefully.
    QUESTION_WEIGHT = 2.0
    #: BM25 term-frequency saturation and length normalisation (low k1: a word repeated across
    #: paraphrases is not much more evidence than once).
    K1 = 0.8
    B = 0.75
    #: Weight of the best single phrasing's coverage (0..1) beside the BM25 part.
    PHRASING_WEIGHT = 5.0
    #: Scores are multiplied by this so that the default threshold (BOT_FAQ_THRESHOLD=3.5) sits at
    #: the operating point chosen on the dev set: top-1 84.5%, a wrong FAQ half as often (5%) as
    #: "not sure" (10%). A higher threshold trades right answers for fewer false ones about 1:1.
    SCALE = 3.5 / 6.5

    def __init__(
        self,
        faqs: list[Faq],
        tokenizer: Tokenizer,
        *,
        threshold: float,
        synonyms: Synonyms | None = None,
        reranker: Reranker | object | None = _SHIPPED,
    ) -> None:
        """``threshold``: the first stage's score to answer at, used without a second stage;
        ``reranker``: the second stage (default: the shipped one, ``bot/faq/reranker.json``;
        None: the first stage alone)."""
        self.faqs = list(faqs)
        self.reranker = shipped_reranker() if reranker is _SHIPPED else reranker
        if self.reranker is not None and not isinstance(self.reranker, Reranker):
            raise TypeError("reranker must be a Reranker or None")
        self.threshold = self.reranker.threshold if isinstance(self.reranker, Reranker) else threshold
        self._tokenizer = tokenizer
        self._synonyms = synonyms or project_synonyms()
        docs: list[dict[str, float]] = []
        #: Every phrasing (question or paraphrase) of every FAQ, as a set of terms, and its FAQ.
        phrasings: list[frozenset[str]] = []
        self._owner: list[int] = []
        for i, faq in enumerate(self.faqs):
            tf: dict[str, float] = defaultdict(float)
            for n, text in enumerate((faq.question, *faq.paraphrases)):
                terms = self.terms(text)
                factor = self.QUESTION_WEIGHT if n == 0 else 1.0
                for term in terms:
                    tf[term] += factor * _weight(term)
                phrasings.append(frozenset(terms))
                self._owner.append(i)
            docs.append(tf)
        self._words = [frozenset(t for t in doc if _is_word(t)) for doc in docs]
        #: The words of each answer: a question told in a resident's own words often uses the
        #: answer's words (欠条, 仲裁, 押金) rather than the FAQ's phrasings.
        self._answer_words = [
            frozenset(t for t in self.terms(faq.answer) if _is_word(t)) for faq in self.faqs
        ]
        lengths = [sum(doc.values()) for doc in docs]
        average = sum(lengths) / len(docs) if docs else 1.0
        self._saturation = [self.K1 * (1 - self.B + self.B * length / average) for length in lengths]
        frequency = Counter(term for doc in docs for term in doc)
        n = len(docs)
        self._idf = {t: math.log((n - f + 0.5) / (f + 0.5) + 1) for t, f in frequency.items()}
        #: The rarest term's weight: a question word no FAQ has weighs this much (second stage).
        self._rarest = max(self._idf.values(), default=1.0)
        # Inverted lists, so a search touches only the FAQs and phrasings that share a term.
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, doc in enumerate(docs):
            for term, count in doc.items():
                self._postings[term].append((i, count))
        self._phrasing_postings: dict[str, list[int]] = defaultdict(list)
        for p, phrasing in enumerate(phrasings):
            for term in phrasing:
                self._phrasing_postings[term].append(p)
        self._phrasing_mass = [sum(self._idf[t] for t in phrasing) or 1.0 for phrasing in phrasings]

    def terms(self, text: str) -> list[str]:
        clean = self._synonyms.rewrite(normalize_text(text).lower())
        words = [w for w in self._tokenizer.lcut_for_search(clean) if _KEEP.search(w) and w not in _STOPWORDS]
        han = "".join(_HAN.findall(clean))
        pairs = [f"{_PAIR}{han[i : i + 2]}" for i in range(len(han) - 1)]
        return words + pairs + [f"{_CHAR}{ch}" for ch in han]

    def search(self, text: str, *, dispute_type: str | None = None, limit: int = 3) -> SearchResult:
        query = self.terms(text)
        if not query or not self.faqs:
            return SearchResult((), self.threshold)
        bm25 = [0.0] * len(self.faqs)
        for term, count in Counter(query).items():
            idf = self._idf.get(term)
            if idf is None:
                continue
            weight = count * _weight(term) * idf
            for i, tf in self._postings[term]:
                bm25[i] += weight * tf * (self.K1 + 1) / (tf + self._saturation[i])
        # Long messages collect more score; dividing by the root of their length lets one threshold fit.
        scale = math.sqrt(sum(_weight(t) for t in query))
        present = set(query)
        shared = [0.0] * len(self._owner)
        for term in present:
            if (idf := self._idf.get(term)) is not None:
                for p in self._phrasing_postings[term]:
                    shared[p] += idf
        coverage = [0.0] * len(self.faqs)
        for p, owner in enumerate(self._owner):
            coverage[owner] = max(coverage[owner], shared[p] / self._phrasing_mass[p])
        words = {t for t in present if _is_word(t)}
        scores = []
        for i, faq in enumerate(self.faqs):
            score = bm25[i] / scale + self.PHRASING_WEIGHT * coverage[i]
            if dispute_type and faq.dispute_type == dispute_type:
                score *= self.TYPE_BOOST
            scores.append((round(score * self.SCALE, 3), i))
        scores.sort(reverse=True)
        pool = scores[: max(limit, RERANK_POOL)]
        ranked = [
            Candidate(
                self.faqs[i],
                score,
                len(words & self._words[i]),
                self._features(i, rank, score, pool, words, bm25[i] / scale, coverage[i], dispute_type),
            )
            for rank, (score, i) in enumerate(pool)
        ]
        if isinstance(self.reranker, Reranker):
            ranked = self.reranker.rerank(ranked)
        return SearchResult(tuple(ranked[:limit]), self.threshold)

    def _features(
        self,
        i: int,
        rank: int,
        score: float,
        pool: list[tuple[float, int]],
        words: set[str],
        bm25: float,
        coverage: float,
        dispute_type: str | None,
    ) -> tuple[float, ...]:
        """Relations between the question and FAQ ``i`` that mean the same for every FAQ."""
        top = pool[0][0]
        following = pool[rank + 1][0] if rank + 1 < len(pool) else 0.0
        known = self._words[i]
        rarest = self._rarest
        weight = {w: self._idf.get(w, rarest) for w in words}
        total = sum(weight.values()) or 1.0
        unexplained = [weight[w] for w in words if w not in known]
        answer = self._answer_words[i]
        in_answer = sum(weight[w] for w in words if w in answer) / total
        anywhere = sum(weight[w] for w in words if w in answer or w in known) / total
        faq_type = self.faqs[i].dispute_type
        return (
            score,
            score - following,
            top - score,
            float(rank),
            float(len(words & known)),
            coverage,
            bm25,
            1.0 if dispute_type and faq_type == dispute_type else 0.0,
            1.0 if dispute_type and faq_type and faq_type != dispute_type else 0.0,
            1.0 - sum(unexplained) / total,
            max(unexplained, default=0.0) / rarest,
            math.log1p(len(words)),
            in_answer,
            anywhere,
        )
