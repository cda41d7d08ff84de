"""The unanswered questions queue: what residents asked that no FAQ answered, grouped by
similarity with counts; set aside with a reason, or turned into a prefilled draft."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.faq_library.library import DraftRefused, Library
from bot.faq_library.misses import MissGroup, dismiss, groups, prefill
from bot.nlu.segment import Tokenizer
from bot.storage.models import AuditEvent, FaqMiss
from tests.faq.conftest import VOLUNTEER

Row = tuple[str, str | None, list[str]]  # text, dispute type, candidates

SHEEP: list[Row] = [
    ("邻居家的羊跑进我家菜地把菜啃了", "neighbor", ["neighbor-trees-boundary"]),
    ("羊把我种的菜吃光了 邻居不管", "neighbor", ["neighbor-trees-boundary", "land-ownership-dispute"]),
    ("隔壁养的羊老来吃我家的菜怎么办", None, ["neighbor-pet-injury"]),
    ("邻居的羊啃了我的菜地 能要赔偿吗", "land", ["neighbor-trees-boundary"]),
    ("羊把我种的菜吃光了 邻居不管", "neighbor", []),  # asked again
]
DRONE: list[Row] = [
    ("无人机飞到我家院子上空拍照合法吗", "other", []),
    ("邻居用无人机偷拍我家怎么办", "neighbor", []),
]


async def _add(
    made: async_sessionmaker[AsyncSession], rows: list[tuple[str, str | None, list[str]]]
) -> list[int]:
    """Misses as the legal flow records them, oldest first, a minute apart."""
    start = datetime.now(UTC) - timedelta(hours=1)
    async with made.begin() as session:
        misses = [
            FaqMiss(
                text=text, dispute_type=kind, candidates=candidates, created_at=start + timedelta(minutes=n)
            )
            for n, (text, kind, candidates) in enumerate(rows)
        ]
        session.add_all(misses)
        await session.flush()
        return [m.id for m in misses]


def _group_of(found: list[MissGroup], miss_id: int) -> MissGroup | None:
    return next((g for g in found if miss_id in g.ids), None)


async def test_similar_questions_are_grouped_with_counts_largest_first(
    seeded: None, made: async_sessionmaker[AsyncSession], tokenizer: Tokenizer
) -> None:
    """With the seed FAQs in place: their phrasings tell common words from telling ones."""
    sheep = await _add(made, SHEEP)
    drone = await _add(made, DRONE)
    (dance,) = await _add(made, [("广场舞太吵了晚上睡不着", "neighbor", [])])
    found = await groups(made, tokenizer)

    herd = _group_of(found, sheep[0])
    assert herd is not None and sorted(herd.ids) == sorted(sheep) and herd.count == 5
    # Distinct questions, the latest first; the type and near-misses most often seen.
    assert herd.texts == [
        "羊把我种的菜吃光了 邻居不管",
        "邻居的羊啃了我的菜地 能要赔偿吗",
        "隔壁养的羊老来吃我家的菜怎么办",
        "邻居家的羊跑进我家菜地把菜啃了",
    ]
    assert herd.dispute_type == "neighbor" and herd.candidates[0] == "neighbor-trees-boundary"
    assert herd.first_at < herd.last_at

    drones = _group_of(found, drone[0])
    assert drones is not None and sorted(drones.ids) == sorted(drone) and drones.count == 2
    alone = _group_of(found, dance)
    assert alone is not None and not set(alone.ids) & {*sheep, *drone}
    assert found.index(herd) < found.index(drones)


async def test_questions_set_aside_need_a_reason_and_leave_the_queue(
    made: async_sessionmaker[AsyncSession], tokenizer: Tokenizer
) -> None:
    ids = await _add(made, [("村口的路灯坏了半年没人修", None, []), ("村口路灯一直坏着找谁修", None, [])])
    with pytest.raises(DraftRefused) as refused:
        await dismiss(made, ids, actor=VOLUNTEER, reason="  ")
    assert refused.value.reasons == ["请写明不处理的原因"]
    assert _group_of(await groups(made, tokenizer), ids[0]) is not None

    assert await dismiss(made, ids, actor=VOLUNTEER, reason="属于12345热线受理的事项") == 2
    assert _group_of(await groups(made, tokenizer), ids[0]) is None
    kept = _group_of(await groups(made, tokenizer, include_dismissed=True), ids[0])
    assert kept is not None and sorted(kept.ids) == sorted(ids)
    async with made() as session:
        miss = await session.get(FaqMiss, ids[0])
        assert miss is not None and miss.dismiss_reason == "属于12345热线受理的事项"
        assert miss.dismissed_by == VOLUNTEER.name
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "dismiss_misses").order_by(AuditEvent.id.desc())
        )
        assert event is not None and event.detail == "属于12345热线受理的事项"
    assert await dismiss(made, ids, actor=VOLUNTEER, reason="再点一次") == 0


async def test_a_group_prefills_a_draft_and_the_faq_written_from_it_answers_them(
    made: async_sessionmaker[AsyncSession], library: Library
) -> None:
    rows: list[Row] = [
        ("小区里有人投毒毒死流浪猫", "other", []),
        ("有人投毒怎么办", "neighbor", []),
        ("流浪猫被毒死了能报警吗", "neighbor", []),
    ]
    ids = await _add(made, rows)
    prefilled = await prefill(made, ids)
    # The question most alike to the others, the rest as paraphrases, the commonest type.
    assert prefilled.question == "小区里有人投毒毒死流浪猫"
    assert set(prefilled.paraphrases) == {t for t, _, _ in rows} - {prefilled.question}
    assert prefilled.dispute_type == "neighbor" and prefilled.answer == ""
    assert library.check(prefilled) == ["请填写回答"]

    written = prefilled.__class__(
        prefilled.question, prefilled.paraphrases, "投毒可能违法，请保留证据并报警。", (), "neighbor"
    )
    slug = await library.create(written, actor=VOLUNTEER, from_miss=ids)
    async with made() as session:
        answered = await session.scalars(select(FaqMiss.answered_by).where(FaqMiss.id.in_(ids)))
        assert set(answered) == {slug}
    assert (await library.get(slug)).latest.note == "根据居民未获解答的问题撰写"
