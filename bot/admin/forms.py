"""The FAQ edit form: what the page shows, read back from a post, and turned into a ``Draft``.

Texts are passed on as typed (the library tidies and checks them, with reasons for volunteers);
the form only keeps what the page needs to show them again, e.g. after a refusal or a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.datastructures import FormData

from bot.faq.drafts import Draft
from bot.faq.model import Faq, LegalBasis

#: Empty legal-basis rows offered under the filled ones (a button adds more where scripts run).
BLANK_BASIS_ROWS = 2
#: Whatever the library allows, a form never holds more rows than this.
MAX_BASIS_ROWS = 30


@dataclass(frozen=True, slots=True)
class BasisRow:
    statute: str
    article: str


@dataclass(frozen=True, slots=True)
class FaqForm:
    question: str = ""
    paraphrases: str = ""  # one per line
    answer: str = ""
    basis: tuple[BasisRow, ...] = ()
    dispute_type: str = ""
    note: str = ""
    slug: str = ""
    #: The version the form was based on (optimistic concurrency); None for a new FAQ.
    base: int | None = None

    @classmethod
    def from_draft(cls, draft: Draft, *, base: int | None = None, slug: str = "") -> FaqForm:
        return cls(
            question=draft.question,
            paraphrases="\n".join(draft.paraphrases),
            answer=draft.answer,
            basis=tuple(BasisRow(b.statute, b.article) for b in draft.legal_basis),
            dispute_type=draft.dispute_type or "",
            slug=slug,
            base=base,
        )

    @classmethod
    def from_post(cls, form: FormData) -> FaqForm:
        def posted(name: str) -> str:
            value = form.get(name)
            return value if isinstance(value, str) else ""

        statutes = [v for v in form.getlist("statute") if isinstance(v, str)]
        articles = [v for v in form.getlist("article") if isinstance(v, str)]
        rows = [
            BasisRow(statute.strip(), article.strip())
            for statute, article in zip(statutes, articles, strict=False)
            if statute.strip() or article.strip()
        ]
        base_text = posted("base").strip()
        return cls(
            question=posted("question"),
            paraphrases=posted("paraphrases"),
            answer=posted("answer"),
            basis=tuple(rows[:MAX_BASIS_ROWS]),
            dispute_type=posted("dispute_type").strip(),
            note=posted("note").strip(),
            slug=posted("slug").strip(),
            base=int(base_text) if base_text.isdigit() and len(base_text) < 10 else None,
        )

    def draft(self) -> Draft:
        lines = self.paraphrases.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return Draft(
            question=self.question,
            paraphrases=tuple(line for line in (p.strip() for p in lines) if line),
            answer=self.answer,
            legal_basis=tuple(LegalBasis(row.statute, row.article) for row in self.basis),
            dispute_type=self.dispute_type or None,
        )

    def rows(self) -> list[BasisRow]:
        """The rows the page shows: the filled ones and a few blank ones."""
        return [*self.basis, *([BasisRow("", "")] * BLANK_BASIS_ROWS)]


def basis_text(draft: Draft) -> str:
    """The "依据：…" line exactly as the bot appends it (``Faq.basis_text``)."""
    basis = tuple(LegalBasis(b.statute.strip().strip("《》"), b.article.strip()) for b in draft.legal_basis)
    faq = Faq("preview", draft.question, (), draft.answer, basis, draft.dispute_type, None)
    return faq.basis_text()


@cache
def statute_names(knowledge_dir: Path) -> tuple[str, ...]:
    """Names of the statutes in force, offered as suggestions in the legal-basis rows."""
    lines = (knowledge_dir / "statutes.tsv").read_text(encoding="utf-8").splitlines()[1:]
    names = [
        line.split("\t")[0] for line in lines if line.count("\t") >= 3 and line.split("\t")[3] == "in_force"
    ]
    # The laws most FAQs cite (中华人民共和国…) first, then the rest in file order.
    return tuple(sorted(names, key=lambda name: (not name.startswith("中华人民共和国"), len(name))))
