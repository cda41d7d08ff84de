"""Residents are answered from the published FAQs in the database: a publish is live for the
very next question (no retraining, no restart), in this process at once and in the others at
their next refresh; a deployment's first start publishes the seed FAQs."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.faq.files import load_directory
from bot.faq_library.library import Library
from bot.faq_library.live import LiveFaqs
from bot.nlu.classifier import Classifier
from bot.nlu.segment import Tokenizer
from bot.settings import Settings
from bot.storage.db import create_engine, sessions
from bot.storage.models import FaqEntry
from bot.wiring import build_engine
from tests.conftest import Resident
from tests.faq.conftest import REVIEWER, VOLUNTEER, draft, unique_slug

PARROT = draft(
    "走失的鹦鹉被别人捡到不还怎么办？",
    "拾得走失的宠物应当归还失主，不还的可以请派出所或调解员帮忙要回；走失期间对方喂养的合理费用可以商量补偿。",
    paraphrases=("鹦鹉飞走了被人捡了不还", "捡到我家鹦鹉的人不肯还", "养的鹦鹉被别人抓走不还"),
)
PARROT_QUESTION = "我养的鹦鹉飞走了被人捡到了不还给我"
SWAN = draft(
    "小区湖里的天鹅被人抓走了归谁管？",
    "野生天鹅是国家保护动物，捕捉、买卖都违法，请向当地林业部门或公安机关举报。",
    paraphrases=("有人抓天鹅", "天鹅被偷了找谁"),
)


async def _ask(resident: Resident, question: str) -> tuple[str | None, str]:
    await resident.say("法律咨询")
    reply = (await resident.say(question))[0]
    return reply.key, reply.text


@pytest.mark.rasa
async def test_a_published_faq_answers_the_next_resident_at_once_and_a_retired_one_stops(
    db_settings: Settings, database: AsyncEngine, classifier: Classifier, library: Library, live: LiveFaqs
) -> None:
    engine = build_engine(db_settings, database, classifier, faqs=live)
    resident = Resident(engine)
    key, _ = await _ask(resident, PARROT_QUESTION)
    assert key == "faq.not_sure"

    slug = await library.create(PARROT, actor=VOLUNTEER, slug=unique_slug("other"))
    await library.submit(slug, actor=VOLUNTEER)
    key, _ = await _ask(resident, PARROT_QUESTION)
    assert key == "faq.not_sure"  # a draft in review is not shown to residents

    await library.publish(slug, actor=REVIEWER)
    key, text = await _ask(resident, PARROT_QUESTION)
    assert key == "faq.answer" and PARROT.answer in text and "《民法典》第三百一十四条" in text

    # An edit is not live until it is published; then it is.
    edited = replace(PARROT, answer="新版回答：" + PARROT.answer)
    await library.save(slug, edited, actor=VOLUNTEER, expected_number=1)
    assert "新版回答" not in (await _ask(resident, PARROT_QUESTION))[1]
    await library.publish(slug, actor=REVIEWER)
    assert "新版回答" in (await _ask(resident, PARROT_QUESTION))[1]

    await library.retire(slug, actor=REVIEWER)
    key, _ = await _ask(resident, PARROT_QUESTION)
    assert key == "faq.not_sure"


async def test_another_process_picks_up_a_publish_at_its_next_refresh(
    db_settings: Settings, library: Library, live: LiveFaqs, tokenizer: Tokenizer
) -> None:
    other_engine = create_engine(db_settings)  # another bot process on the same database
    try:
        other = LiveFaqs(sessions(other_engine), tokenizer, threshold=db_settings.faq_threshold)
        assert await other.refresh() is True
        assert await other.refresh() is False  # nothing changed: one tiny SELECT, no reload
        slug = await library.create(SWAN, actor=VOLUNTEER, slug=unique_slug())
        assert await other.refresh() is False  # drafts are not the published set

        await library.publish(slug, actor=REVIEWER)
        # This process answers with it at once; the other one after its refresh.
        assert live.index().search("天鹅被人抓走了").best is not None
        assert other.index().search("天鹅被人抓走了").best is None
        assert await other.refresh() is True
        best = other.index().search("天鹅被人抓走了").best
        assert best is not None and best.id == slug and best.answer == SWAN.answer

        await library.unpublish(slug, actor=REVIEWER)
        await other.refresh_job()
        assert other.index().search("天鹅被人抓走了").best is None
    finally:
        await other_engine.dispose()


async def test_the_first_start_publishes_all_seed_faqs_once(
    fresh: tuple[Settings, AsyncEngine], tokenizer: Tokenizer
) -> None:
    fresh_settings, engine = fresh
    made: async_sessionmaker[AsyncSession] = sessions(engine)
    live = LiveFaqs(made, tokenizer, threshold=fresh_settings.faq_threshold)
    seeds = load_directory(fresh_settings.knowledge_dir / "faq")
    assert len(seeds) >= 80

    assert await live.seed_if_empty(fresh_settings.knowledge_dir / "faq") == len(seeds)
    assert {f.id: f for f in live.index().faqs} == {f.id: f for f in seeds}  # reviewed dates too
    assert await live.seed_if_empty(fresh_settings.knowledge_dir / "faq") == 0
    async with made() as session:
        assert await session.scalar(select(func.count()).select_from(FaqEntry)) == len(seeds)
    best = live.index().search("公司拖欠我三个月工资不给怎么办").best
    assert best is not None and best.dispute_type == "labor"
