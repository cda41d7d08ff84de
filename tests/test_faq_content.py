"""The seed FAQs: well-formed, enough of them, and every legal basis a real article of a law in
force (checked against the statute index, and against the statute texts when they are present)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bot.faq.files import load_directory
from bot.faq.model import Faq
from bot.faq.statutes import StatuteIndex
from bot.nlu.labels import DisputeCatalog
from bot.settings import PROJECT_ROOT, Settings

SHARED_LAWS = PROJECT_ROOT.parent / "shared" / "laws" / "articles.jsonl"


@pytest.fixture(scope="module")
def faqs(settings: Settings) -> list[Faq]:
    return load_directory(settings.knowledge_dir / "faq")


@pytest.fixture(scope="module")
def statutes(settings: Settings) -> StatuteIndex:
    return StatuteIndex.load(settings.knowledge_dir)


def test_at_least_80_faqs_across_every_dispute_type_and_general_topics(
    faqs: list[Faq], settings: Settings
) -> None:
    assert len(faqs) >= 80
    per_type = Counter(f.dispute_type for f in faqs)
    for code in DisputeCatalog.load(settings.knowledge_dir).codes:
        assert per_type[code] >= 3, code
    assert per_type[None] >= 8  # general: fees, mediation agreements, legal aid, time limits…


def test_every_faq_is_complete_and_fits_a_phone_screen(faqs: list[Faq]) -> None:
    for faq in faqs:
        assert faq.question and faq.answer and faq.legal_basis, faq.id
        assert len(faq.paraphrases) >= 3, faq.id
        assert 40 <= len(faq.answer) <= 300, faq.id
        assert faq.reviewed is not None, faq.id
        assert "需要帮您登记" not in faq.answer, faq.id  # the bot appends its own offer


def test_every_citation_is_a_real_article_of_a_law_in_force(faqs: list[Faq], statutes: StatuteIndex) -> None:
    problems = [
        f"{faq.id}: {reason}"
        for faq in faqs
        for basis in faq.legal_basis
        if (reason := statutes.check(basis.statute, basis.article))
    ]
    assert not problems, "\n".join(problems)


def test_the_index_refuses_repealed_laws_and_missing_articles(statutes: StatuteIndex) -> None:
    assert statutes.check("中华人民共和国民法典", "第一千零八十四条") is None
    assert statutes.check("民法典", "第一千零八十四条") is None
    assert "失效" in (statutes.check("中华人民共和国婚姻法", "第三十二条") or "")
    assert "失效" in (statutes.check("合同法", "第五十二条") or "")
    assert "没有" in (statutes.check("中华人民共和国民法典", "第一千三百条") or "")
    assert "条号" in (statutes.check("中华人民共和国治安管理处罚法", "第四十三条") or "")
    assert "法规库中没有" in (statutes.check("中华人民共和国不存在法", "第一条") or "")


@pytest.mark.skipif(
    not SHARED_LAWS.exists(), reason="statute texts (../shared/laws) not beside the repository"
)
def test_every_citation_matches_the_statute_texts(faqs: list[Faq]) -> None:
    articles = set()
    for line in SHARED_LAWS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        articles.add((row["law"], row["article"]))
    missing = [
        f"{faq.id}: {b.statute} {b.article}"
        for faq in faqs
        for b in faq.legal_basis
        if (b.statute, b.article) not in articles
    ]
    assert not missing, "\n".join(missing)
