"""The second stage of FAQ retrieval: does this FAQ answer this question?

The first stage (BM25 with phrasing coverage, ``bot/faq/index.py``) finds candidates; this one
judges each with a logistic model over features that describe the *relation* between a question
and an FAQ — the first-stage score and its margins, shared words, how much of the question the
FAQ explains and the rarest word it leaves unexplained, the NLU's type against the FAQ's —
never which FAQ it is. So it carries to FAQs volunteers publish later, with no retraining.
Its probability, against a threshold calibrated on held-out questions, decides between answering
and "not sure". Trained by ``scripts/train_faq_reranker.py``; the weights are data
(``bot/faq/reranker.json``), pure Python at run time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.faq.index import Candidate

WEIGHTS_FILE = Path(__file__).with_name("reranker.json")
FEATURES = (
    "score",
    "gap_to_next",
    "gap_to_top",
    "rank",
    "shared_words",
    "phrasing_coverage",
    "bm25",
    "type_match",
    "type_mismatch",
    "question_explained",
    "rarest_unexplained",
    "question_words",
    "answer_explains",
    "faq_explains",
)


@dataclass(frozen=True, slots=True)
class Reranker:
    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    #: The probability at which the bot answers (calibrated on held-out questions).
    threshold: float

    def probability(self, features: Sequence[float]) -> float:
        z = self.bias + sum(
            w * (x - m) / s
            for w, x, m, s in zip(self.weights, features, self.means, self.scales, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def rerank(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        judged = [replace(c, confidence=round(self.probability(c.features), 4)) for c in candidates]
        return sorted(judged, key=lambda c: c.confidence or 0.0, reverse=True)

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE) -> Reranker:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if tuple(raw["features"]) != FEATURES:
            raise ValueError(f"{path}: trained on other features; run scripts/train_faq_reranker.py")
        return cls(
            tuple(raw["means"]), tuple(raw["scales"]), tuple(raw["weights"]), raw["bias"], raw["threshold"]
        )

    def to_json(self) -> dict[str, object]:
        return {
            "features": list(FEATURES),
            "means": list(self.means),
            "scales": list(self.scales),
            "weights": list(self.weights),
            "bias": self.bias,
            "threshold": self.threshold,
        }


def fit(
    rows: Sequence[Sequence[float]], labels: Sequence[int], *, l2: float = 1.0, steps: int = 3000
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], float]:
    """Logistic regression by gradient descent on standardised features: (means, scales,
    weights, bias). A few thousand rows and a dozen features: pure Python is quick enough."""
    n, k = len(rows), len(FEATURES)
    means = tuple(sum(r[j] for r in rows) / n for j in range(k))
    scales = tuple(math.sqrt(sum((r[j] - means[j]) ** 2 for r in rows) / n) or 1.0 for j in range(k))
    xs = [[(r[j] - means[j]) / scales[j] for j in range(k)] for r in rows]
    weights, bias, rate = [0.0] * k, 0.0, 0.5
    for _ in range(steps):
        grad, grad_bias = [l2 * w / n for w in weights], 0.0
        for x, y in zip(xs, labels, strict=True):
            z = bias + sum(w * v for w, v in zip(weights, x, strict=True))
            error = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))) - y
            grad_bias += error / n
            for j in range(k):
                grad[j] += error * x[j] / n
        weights = [w - rate * g for w, g in zip(weights, grad, strict=True)]
        bias -= rate * grad_bias
    return means, scales, tuple(weights), bias
