"""The seed FAQs: well-formed, enough of them, and every legal basis a real article of a law in
force (checked against the statute index, and against the statute texts when they are present)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bot.faq.drafts import Draft, check_draft, tidy
from bot.faq.files import load_directory
from bot.faq.model import Faq, LegalBasis
from bot.faq.statutes import REVISED_AFTER_TEXTS, StatuteIndex
from bot.nlu.labels import DisputeCatalog
from bot.settings import PROJECT_ROOT, Settings

SHARED_LAWS = PROJECT_ROOT.parent / "shared" / "laws" / "articles.jsonl"


@pytest.fixture(scope="module")
def faqs(settings: Settings) -> list[Faq]:
    return load_directory(settings.knowledge_dir / "faq")


@pytest.fixture(scope="module")
def statutes(settings: Settings) -> StatuteIndex:
    return StatuteIndex.load(settings.knowledge_dir)


def test_at_least_200_faqs_across_every_dispute_type_and_general_topics(
    faqs: list[Faq], settings: Settings
) -> None:
    assert len(faqs) >= 200
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


def test_laws_revised_after_our_texts_are_refused_with_a_reason(
    statutes: StatuteIndex, settings: Settings
) -> None:
    """仲裁法 (2017 text here; revised 2025, in force 2026-03-01, renumbered): any article number
    from our text may be wrong, so a citation is refused — in the seed files and in the console."""
    reason = statutes.check("仲裁法", "第九条") or ""
    assert "已修订" in reason and "复核" in reason and "条号" in reason and "2026年3月1日" in reason
    draft = Draft(
        question="调解和仲裁有什么区别？",
        paraphrases=(),
        answer="仲裁要双方自愿达成书面仲裁协议，裁决作出后一般不能就同一纠纷再起诉。",
        legal_basis=(LegalBasis("《仲裁法》", "第九条"), LegalBasis("民事诉讼法", "第一百二十七条")),
        dispute_type=None,
    )
    catalog = DisputeCatalog.load(settings.knowledge_dir)
    assert check_draft(tidy(draft, statutes), statutes, catalog) == [reason]


def test_the_index_builder_flags_a_revised_law_only_while_the_texts_hold_the_old_version(
    tmp_path: Path,
) -> None:
    law = "中华人民共和国仲裁法"
    old_version, _ = REVISED_AFTER_TEXTS[law]
    for version, status in ((old_version, "renumbered"), ("2025-09-12", "in_force")):
        rows = [
            {"law": law, "version_date": version, "category": "诉讼与非诉讼程序法", "article": "第一条"},
            {
                "law": "中华人民共和国民法典",
                "version_date": "2020-05-28",
                "category": "民法典",
                "article": "第一条",
            },
        ]
        source, target = tmp_path / "articles.jsonl", tmp_path / "statutes.tsv"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        subprocess.run(
            [
                sys.executable,
                str(PROJECT_ROOT / "scripts" / "build_statute_index.py"),
                str(source),
                str(target),
            ],
            check=True,
            capture_output=True,
        )
        index = StatuteIndex.load(tmp_path)
        assert (index.find(law) or pytest.fail("not indexed")).status == status
        assert index.check("民法典", "第一条") is None


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


@pytest.mark.skipif(
    not SHARED_LAWS.exists(), reason="statute texts (../shared/laws) not beside the repository"
)
def test_the_index_is_built_from_the_current_texts(statutes: StatuteIndex) -> None:
    """Every law the texts flag as superseded (their ``note``) is flagged in the index too: a
    stale knowledge/statutes.tsv would let citations of a renumbered law through."""
    flagged = {
        row["law"]
        for row in map(json.loads, SHARED_LAWS.read_text(encoding="utf-8").splitlines())
        if row.get("note")
    }
    assert flagged
    stale = sorted(law for law in flagged if (s := statutes.find(law)) is None or s.status != "renumbered")
    assert not stale, f"run scripts/build_statute_index.py; not flagged: {stale}"


@pytest.mark.parametrize("number", ["12348", "12333", "12315", "12369", "12345", "110", "综治中心", "调解"])
def test_answers_tell_residents_where_to_go(faqs: list[Faq], number: str) -> None:
    """Every answer ends with where to go; each of these places appears where it belongs."""
    assert any(number in f.answer for f in faqs), number


def test_every_answer_names_a_place_or_a_number_to_go_to(faqs: list[Faq]) -> None:
    places = (
        "123",
        "110",
        "120",
        "122",
        "96",
        "综治中心",
        "调解委员会",
        "法院",
        "仲裁",
        "公安",
        "派出所",
        "公证",
    )
    lacking = [f.id for f in faqs if not any(p in f.answer for p in places)]
    assert not lacking, lacking
