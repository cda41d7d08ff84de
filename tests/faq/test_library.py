"""The FAQ library as volunteers and reviewers use it: drafts and versions, publishing, history,
diff and restore, the checks on what they write, and 试问."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.faq.actors import NotAllowed
from bot.faq.model import LegalBasis
from bot.faq_library.library import Conflict, DraftRefused, Library, NotFound, WrongState
from bot.faq_library.live import LiveFaqs
from bot.storage.models import AuditEvent
from tests.faq.conftest import CIVIL_CODE, REVIEWER, VOLUNTEER, Clock, draft, unique_slug

BEES = draft(
    "我家的蜂箱被邻居挪走了怎么办？",
    "蜂箱是您的财产，邻居无权擅自挪走。可以先请村委会或调解员出面协商，要求返还并赔偿损失。",
    paraphrases=("邻居搬走了我家蜂箱", "蜂箱让隔壁挪走了能要回来吗"),
    dispute_type="neighbor",
)


# Each test that searches has its own topic: the database is shared by the whole session.
WELL = draft(
    "村里的古井被人填平了，能要求恢复吗？",
    "古井属于村集体所有的，填井的人应当恢复原状或赔偿。可以向村委会反映，也可以申请调解。",
    paraphrases=("古井被填了找谁", "有人把老井填了怎么办"),
    dispute_type="land",
)
KITE = draft(
    "邻居的风筝线缠住了我家太阳能热水器，弄坏了谁赔？",
    "放风筝的人应当对造成的损坏负责赔偿。请拍照留存损坏情况，先和对方协商，也可以申请调解。",
    paraphrases=("风筝把热水器弄坏了", "风筝线缠坏东西要赔吗"),
    dispute_type="neighbor",
)


async def _audit(made: async_sessionmaker[AsyncSession], slug: str) -> list[tuple[str, str | None]]:
    async with made() as session:
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.actor)
            .where(AuditEvent.target == slug)
            .order_by(AuditEvent.id)
        )
        return [(action, actor) for action, actor in rows]


async def test_every_save_is_a_version_with_its_author_and_the_history_lists_them_newest_first(
    library: Library,
) -> None:
    slug = await library.create(BEES, actor=VOLUNTEER, slug=unique_slug())
    better = replace(BEES, answer=BEES.answer + "协商不成的，可以向法院起诉。")
    assert await library.save(slug, better, actor=REVIEWER, expected_number=1, note="补充起诉") == 2

    history = await library.history(slug)
    assert [(v.number, v.author, v.note) for v in history] == [
        (2, REVIEWER.name, "补充起诉"),
        (1, VOLUNTEER.name, None),
    ]
    assert history[0].draft.answer.endswith("可以向法院起诉。")
    detail = await library.get(slug)
    assert detail.summary.status == "draft" and detail.latest.number == 2 and detail.published is None
    # Saving what is already there makes no empty version.
    assert await library.save(slug, better, actor=VOLUNTEER, expected_number=2) == 2


async def test_a_slug_is_generated_from_the_dispute_type_and_a_taken_or_malformed_one_is_refused(
    library: Library,
) -> None:
    slug = await library.create(BEES, actor=VOLUNTEER)
    assert slug.startswith("neighbor-")
    with pytest.raises(DraftRefused) as taken:
        await library.create(BEES, actor=VOLUNTEER, slug=slug)
    assert "已被使用" in taken.value.reasons[0]
    with pytest.raises(DraftRefused) as malformed:
        await library.create(BEES, actor=VOLUNTEER, slug="蜂箱 FAQ")
    assert "编号只能用" in malformed.value.reasons[0]
    with pytest.raises(NotFound):
        await library.get("no-such-faq-here")


async def test_a_volunteer_cannot_publish_unpublish_retire_or_confirm(library: Library) -> None:
    slug = await library.create(BEES, actor=VOLUNTEER, slug=unique_slug())
    await library.submit(slug, actor=VOLUNTEER)
    for step in (library.publish, library.unpublish, library.retire, library.confirm_reviewed):
        with pytest.raises(NotAllowed):
            await step(slug, actor=VOLUNTEER)
    assert (await library.get(slug)).summary.status == "review"


async def test_citing_a_repealed_law_or_an_article_that_does_not_exist_is_refused_with_the_reason(
    library: Library,
) -> None:
    repealed = replace(BEES, legal_basis=(LegalBasis("中华人民共和国合同法", "第一百零七条"),))
    with pytest.raises(DraftRefused) as refused:
        await library.create(repealed, actor=VOLUNTEER)
    assert any("《合同法》已失效" in r for r in refused.value.reasons)

    missing = replace(BEES, legal_basis=(LegalBasis("民法典", "第二千条"),))
    assert library.check(missing) == ["《民法典》没有第二千条"]
    for law in ("婚姻法", "继承法", "物权法", "侵权责任法", "民法通则"):
        assert any(
            f"《{law}》已失效" in r
            for r in library.check(replace(BEES, legal_basis=(LegalBasis(law, "第一条"),)))
        )
    # A short name is accepted and stored under the law's full name.
    slug = await library.create(
        replace(BEES, legal_basis=(LegalBasis("《民法典》", "第二百三十五条"),)), actor=VOLUNTEER
    )
    assert (await library.get(slug)).latest.draft.legal_basis == (LegalBasis(CIVIL_CODE, "第二百三十五条"),)


async def test_empty_huge_or_invisible_text_and_unknown_types_are_refused(library: Library) -> None:
    assert set(library.check(replace(BEES, question="  ", answer="\n"))) == {"请填写问题", "请填写回答"}
    (huge,) = library.check(replace(BEES, answer="调" * 1001))
    assert "1001" in huge and "1000" in huge
    assert library.check(replace(BEES, answer="调" * 1000)) == []
    assert library.check(replace(BEES, paraphrases=tuple(f"问法{n}" for n in range(31)))) == [
        "同义问法最多30条，现在有31条"
    ]
    assert "控制字符" in library.check(replace(BEES, question="蜂箱\x00被挪走"))[0]
    assert "控制字符" in library.check(replace(BEES, answer="先协商\x1b[31m再调解"))[0]
    assert "控制字符" in library.check(replace(BEES, paraphrases=("蜂箱\u202e被挪走",)))[0]
    assert library.check(replace(BEES, dispute_type="aliens")) == ["没有“aliens”这个纠纷类型"]
    # Line breaks typed in a browser (CRLF) are fine in an answer.
    assert library.check(replace(BEES, answer="第一步，协商。\r\n第二步，调解。")) == []


async def test_script_tags_are_stored_as_written_escaping_is_the_pages_job(library: Library) -> None:
    script = "<script>alert('x')</script>"
    slug = await library.create(
        replace(BEES, question=f"{script}蜂箱？", paraphrases=(f"<b>{script}</b>",), answer=f"回答{script}"),
        actor=VOLUNTEER,
    )
    latest = (await library.get(slug)).latest.draft
    assert latest.question == f"{script}蜂箱？"
    assert latest.paraphrases == (f"<b>{script}</b>",) and latest.answer == f"回答{script}"


async def test_saving_over_someone_elses_newer_version_is_a_conflict(library: Library) -> None:
    slug = await library.create(BEES, actor=VOLUNTEER, slug=unique_slug())
    # Two volunteers opened version 1; the first one saves.
    await library.save(slug, replace(BEES, answer=BEES.answer + "（甲）"), actor=VOLUNTEER, expected_number=1)
    with pytest.raises(Conflict) as conflict:
        await library.save(
            slug, replace(BEES, answer=BEES.answer + "（乙）"), actor=REVIEWER, expected_number=1
        )
    assert conflict.value.latest_number == 2
    # Both at the same moment: one wins, the other is told.
    results = await asyncio.gather(
        library.save(slug, replace(BEES, answer="丙" + BEES.answer), actor=VOLUNTEER, expected_number=2),
        library.save(slug, replace(BEES, answer="丁" + BEES.answer), actor=REVIEWER, expected_number=2),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "int"]
    assert [v.number for v in await library.history(slug)] == [3, 2, 1]


async def test_restoring_an_old_version_makes_it_the_latest_draft_and_the_diff_shows_the_change(
    library: Library, made: async_sessionmaker[AsyncSession]
) -> None:
    slug = await library.create(BEES, actor=VOLUNTEER, slug=unique_slug())
    worse = replace(
        BEES,
        answer=BEES.answer.replace("可以先请村委会或调解员出面协商", "可以直接报警"),
        legal_basis=(*BEES.legal_basis, LegalBasis(CIVIL_CODE, "第二百三十五条")),
    )
    await library.save(slug, worse, actor=VOLUNTEER, expected_number=1)
    await library.publish(slug, actor=REVIEWER)

    v2, v1 = await library.history(slug)
    lines = library.diff(v1, v2)
    answer = [(d.kind, d.text) for d in lines if d.field == "回答"]
    # Sentence by sentence: the unchanged first sentence, the second one replaced.
    assert answer == [
        ("same", "蜂箱是您的财产，邻居无权擅自挪走。"),
        ("removed", "可以先请村委会或调解员出面协商，要求返还并赔偿损失。"),
        ("added", "可以直接报警，要求返还并赔偿损失。"),
    ]
    assert ("法律依据", "added", "《民法典》第二百三十五条") in [(d.field, d.kind, d.text) for d in lines]
    assert {d.kind for d in lines if d.field in ("问题", "同义问法", "纠纷类型")} == {"same"}

    assert await library.restore(slug, 1, actor=VOLUNTEER) == 3
    detail = await library.get(slug)
    assert detail.latest.draft == v1.draft and detail.latest.note == "恢复自第1版"
    # Restored as a draft: residents keep the published version 2 until it is published.
    assert detail.summary.status == "draft" and detail.published is not None and detail.published.number == 2
    assert await _audit(made, slug) == [
        ("create", VOLUNTEER.name),
        ("publish", REVIEWER.name),
        ("restore", VOLUNTEER.name),
    ]


async def test_from_draft_to_review_to_published_to_retired(
    library: Library, live: LiveFaqs, made: async_sessionmaker[AsyncSession]
) -> None:
    slug = await library.create(BEES, actor=VOLUNTEER, slug=unique_slug())
    await library.submit(slug, actor=VOLUNTEER)
    assert (await library.get(slug)).summary.status == "review"
    assert await library.publish(slug, actor=REVIEWER) == 1
    summary = (await library.get(slug)).summary
    assert (summary.status, summary.published_number, summary.live) == ("published", 1, True)
    with pytest.raises(WrongState):
        await library.submit(slug, actor=VOLUNTEER)  # nothing new to review

    # An edit of a published FAQ is a draft; residents still get version 1.
    await library.save(
        slug, replace(BEES, answer="新的回答：先找村委会调解。"), actor=VOLUNTEER, expected_number=1
    )
    summary = (await library.get(slug)).summary
    assert (summary.status, summary.published_number, summary.pending) == ("draft", 1, True)
    assert {f.id: f.answer for f in live.index().faqs}[slug] == BEES.answer

    await library.unpublish(slug, actor=REVIEWER)
    assert slug not in {f.id for f in live.index().faqs}
    await library.retire(slug, actor=REVIEWER)
    await library.retire(slug, actor=REVIEWER)  # a double click changes nothing
    assert (await library.get(slug)).summary.status == "retired"
    with pytest.raises(WrongState):
        await library.submit(slug, actor=VOLUNTEER)
    actions = [action for action, _ in await _audit(made, slug)]
    assert actions == ["create", "submit", "publish", "unpublish", "retire"]


async def test_try_question_shows_what_an_edit_would_change_before_it_is_published(library: Library) -> None:
    question = "古井被人填了 能让他恢复吗"
    before = await library.try_question(question)
    slug = await library.create(WELL, actor=VOLUNTEER, slug=unique_slug())
    result = await library.try_question(question, dispute_type="land")
    assert result.draft.best is not None and result.draft.best.id == slug
    assert slug not in [c.faq.id for c in result.published.candidates]
    assert [c.faq.id for c in result.published.candidates] == [c.faq.id for c in before.published.candidates]
    assert len(result.draft.candidates) == 3 and result.draft.candidates[0].score >= result.draft.threshold

    await library.publish(slug, actor=REVIEWER)
    published = (await library.try_question(question)).published.best
    assert published is not None and published.id == slug
    await library.retire(slug, actor=REVIEWER)
    retired = await library.try_question(question)
    assert slug not in [c.faq.id for c in retired.draft.candidates + retired.published.candidates]


async def test_the_list_searches_like_the_bot_filters_and_flags_answers_unreviewed_for_a_year(
    library: Library, clock: Clock
) -> None:
    slug = await library.create(KITE, actor=VOLUNTEER, slug=unique_slug())
    other = await library.create(
        replace(KITE, question="风筝飞到高压线上了怎么办？", paraphrases=(), dispute_type="other"),
        actor=VOLUNTEER,
        slug=unique_slug(),
    )
    found = [s.slug for s in await library.list(query="风筝线缠坏了热水器")]
    assert found[0] == slug
    of_type = [s.slug for s in await library.list(query="风筝线缠坏了热水器", dispute_type="other")]
    assert other in of_type and slug not in of_type
    # Words of the answer or a citation are found too.
    assert slug in [s.slug for s in await library.list(query="放风筝的人应当对造成的损坏负责")]
    assert slug in [s.slug for s in await library.list(status="draft")]

    await library.publish(slug, actor=REVIEWER)
    assert slug in [s.slug for s in await library.list(status="published")]
    assert slug not in [s.slug for s in await library.list(status="draft")]
    assert slug not in [s.slug for s in await library.list(stale_only=True)]

    clock.advance(days=400)
    assert slug in [s.slug for s in await library.list(stale_only=True)]
    assert other not in [s.slug for s in await library.list(stale_only=True)]  # never published
    await library.confirm_reviewed(slug, actor=REVIEWER)
    summary = (await library.get(slug)).summary
    assert not summary.stale and summary.reviewed_at == clock.now
