"""An FAQ entry as residents see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class LegalBasis:
    statute: str  # full name as in the statute index, e.g. 中华人民共和国民法典
    article: str  # e.g. 第一千零八十四条

    def cite(self) -> str:
        short = self.statute.removeprefix("中华人民共和国")
        return f"《{short}》{self.article}"


@dataclass(frozen=True, slots=True)
class Faq:
    id: str
    question: str
    paraphrases: tuple[str, ...]
    answer: str
    legal_basis: tuple[LegalBasis, ...]
    dispute_type: str | None
    reviewed: date | None

    def basis_text(self) -> str:
        # Consecutive articles of one statute are cited together: 《民法典》第一千零八十四条、第一千零八十五条
        parts: list[str] = []
        last_statute = None
        for basis in self.legal_basis:
            if basis.statute == last_statute:
                parts[-1] += f"、{basis.article}"
            else:
                parts.append(basis.cite())
            last_statute = basis.statute
        return "；".join(parts)
