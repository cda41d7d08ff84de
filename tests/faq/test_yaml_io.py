"""YAML import and export: the files of ``knowledge/faq`` round-trip through the library, and a
broken file anywhere imports nothing at all, with an error naming the file and line."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from bot.cli_faq import faq_app
from bot.faq.actors import NotAllowed
from bot.faq.files import FaqFileError, load_directory
from bot.faq.statutes import StatuteIndex
from bot.faq_library.library import Library
from bot.faq_library.live import LiveFaqs
from bot.faq_library.yaml_io import export_directory, import_directory
from bot.nlu.labels import DisputeCatalog
from bot.nlu.segment import Tokenizer
from bot.settings import Settings
from bot.storage.db import sessions
from bot.storage.models import FaqEntry, FaqVersion
from tests.faq.conftest import REVIEWER, VOLUNTEER, draft, unique_slug


def _entry(
    slug: str, question: str, *, statute: str = "中华人民共和国民法典", article: str = "第三百一十四条"
) -> str:
    return (
        f"  - id: {slug}\n"
        f"    question: {question}\n"
        "    paraphrases:\n"
        f"      - {question}吗\n"
        "    answer: >-\n"
        "      可以先协商，协商不成可以申请人民调解。\n"
        "    legal_basis:\n"
        f"      - statute: {statute}\n"
        f"        article: {article}\n"
        "    dispute_type: other\n"
        "    reviewed: 2026-11-20\n"
    )


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def _contents(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.yml"))}


def _copy_seeds(directory: Path) -> list[Path]:
    shutil.copytree(Path(__file__).parents[2] / "knowledge" / "faq", directory, dirs_exist_ok=True)
    return sorted(directory.glob("*.yml"))


async def _counts(made: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with made() as session:
        entries = await session.scalar(select(func.count()).select_from(FaqEntry))
        versions = await session.scalar(select(func.count()).select_from(FaqVersion))
    return int(entries or 0), int(versions or 0)


async def test_export_then_import_changes_nothing(
    library: Library,
    made: async_sessionmaker[AsyncSession],
    statutes: StatuteIndex,
    catalog: DisputeCatalog,
    tmp_path: Path,
) -> None:
    # Awkward content too: markup, quotes, colons, line breaks, a general FAQ.
    awkward = draft(
        "“退一赔三”: 是真的吗？ #不是注释",
        "第一行：<script>alert('x')</script>\n第二行 — 'quoted' \"double\"\n\n第三段。",
        paraphrases=("- 不是列表", "{不是映射}"),
        dispute_type=None,
    )
    slug = await library.create(awkward, actor=VOLUNTEER, slug=unique_slug())
    await library.publish(slug, actor=REVIEWER)

    written = await export_directory(made, tmp_path)
    assert tmp_path / "general.yml" in written
    exported = {f.id: f for f in load_directory(tmp_path)}
    assert exported[slug].answer == awkward.answer and exported[slug].question == awkward.question
    before = await _counts(made)
    report = await import_directory(made, tmp_path, actor=REVIEWER, statutes=statutes, catalog=catalog)
    assert (report.created, report.updated, report.unchanged) == (0, 0, len(exported))
    assert await _counts(made) == before
    # And again: the same files, byte for byte (stable order, small git diffs).
    first = _contents(tmp_path)
    await export_directory(made, tmp_path)
    assert _contents(tmp_path) == first


async def test_an_export_removes_files_of_topics_with_nothing_published_and_keeps_other_files(
    library: Library, made: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    (tmp_path / "zz_gone.yml").write_text("topic: zz_gone\nfaqs: []\n", encoding="utf-8")
    (tmp_path / "notes.yml").write_text("not: an FAQ file\n", encoding="utf-8")
    written = await export_directory(made, tmp_path)
    assert not (tmp_path / "zz_gone.yml").exists() and (tmp_path / "notes.yml").exists()
    assert sorted(_contents(tmp_path)) == sorted([*(p.name for p in written), "notes.yml"])


async def test_the_seed_files_come_back_out_as_they_went_in(
    fresh: tuple[Settings, AsyncEngine], tokenizer: Tokenizer, tmp_path: Path
) -> None:
    fresh_settings, engine = fresh
    seed_dir = fresh_settings.knowledge_dir / "faq"
    await LiveFaqs(sessions(engine), tokenizer, threshold=1.0).seed_if_empty(seed_dir)
    await export_directory(sessions(engine), tmp_path)
    exported, seeds = _contents(tmp_path), _contents(seed_dir)
    assert sorted(exported) == sorted(seeds)
    for name, text in seeds.items():
        assert yaml.safe_load(exported[name]) == yaml.safe_load(text), name


async def test_broken_yaml_names_the_file_and_line_and_imports_nothing(
    made: async_sessionmaker[AsyncSession], statutes: StatuteIndex, catalog: DisputeCatalog, tmp_path: Path
) -> None:
    slug = unique_slug()
    (tmp_path / "a_new.yml").write_text(f"topic: other\nfaqs:\n{_entry(slug, '新问题')}", encoding="utf-8")
    broken = tmp_path / "b_broken.yml"
    broken.write_text(
        "topic: other\nfaqs:\n  - id: broken-one\n    question: 缩进错了\n   answer: 这一行少了一个空格\n",
        encoding="utf-8",
    )
    before = await _counts(made)
    with pytest.raises(FaqFileError) as error:
        await import_directory(made, tmp_path, actor=REVIEWER, statutes=statutes, catalog=catalog)
    assert f"{broken}:5" in str(error.value)
    assert await _counts(made) == before


async def test_a_bad_citation_in_the_fifth_file_aborts_the_whole_import(
    made: async_sessionmaker[AsyncSession], statutes: StatuteIndex, catalog: DisputeCatalog, tmp_path: Path
) -> None:
    files = _copy_seeds(tmp_path)
    new = [unique_slug() for _ in range(4)]
    for path, slug in zip(files[:4], new, strict=True):
        path.write_text(path.read_text(encoding="utf-8") + _entry(slug, f"新问题{slug}"), encoding="utf-8")
    bad_slug = unique_slug()
    fifth = files[4]
    fifth.write_text(
        fifth.read_text(encoding="utf-8")
        + _entry(bad_slug, "合同违约怎么办", statute="中华人民共和国合同法"),
        encoding="utf-8",
    )
    before = await _counts(made)
    with pytest.raises(FaqFileError) as error:
        await import_directory(made, tmp_path, actor=REVIEWER, statutes=statutes, catalog=catalog)
    message = str(error.value)
    assert f"{fifth}:{_line_of(fifth, bad_slug)}" in message and "《合同法》已失效" in message
    assert await _counts(made) == before


async def test_an_import_publishes_what_changed_and_only_a_reviewer_may_import(
    made: async_sessionmaker[AsyncSession],
    statutes: StatuteIndex,
    catalog: DisputeCatalog,
    library: Library,
    live: LiveFaqs,
    tmp_path: Path,
) -> None:
    slug = unique_slug("other")
    path = tmp_path / "other.yml"
    path.write_text(f"topic: other\nfaqs:\n{_entry(slug, '孔雀跑到邻居家吃了庄稼谁赔')}", encoding="utf-8")
    with pytest.raises(NotAllowed):
        await import_directory(made, tmp_path, actor=VOLUNTEER, statutes=statutes, catalog=catalog)
    first = await import_directory(
        made, tmp_path, actor=REVIEWER, statutes=statutes, catalog=catalog, live=live
    )
    assert (first.created, first.updated, first.unchanged, first.changed) == (1, 0, 0, (slug,))
    detail = await library.get(slug)
    assert detail.summary.status == "published" and detail.summary.reviewed_at is not None
    assert detail.summary.reviewed_at.date().isoformat() == "2026-11-20"

    path.write_text(path.read_text(encoding="utf-8").replace("可以先协商", "请先协商"), encoding="utf-8")
    second = await import_directory(
        made, tmp_path, actor=REVIEWER, statutes=statutes, catalog=catalog, live=live
    )
    assert (second.created, second.updated, second.unchanged) == (0, 1, 0)
    detail = await library.get(slug)
    assert detail.published is not None and detail.published.number == 2
    assert detail.published.draft.answer.startswith("请先协商")
    assert {f.id: f.answer for f in live.index().faqs}[slug].startswith("请先协商")

    # A draft saved since stays a draft while the files say what is published…
    await library.save(slug, replace(detail.latest.draft, answer="草稿"), actor=VOLUNTEER, expected_number=2)
    third = await import_directory(made, tmp_path, actor=REVIEWER, statutes=statutes, catalog=catalog)
    assert (third.updated, third.unchanged) == (0, 1)
    summary = (await library.get(slug)).summary
    assert (summary.latest_number, summary.published_number, summary.status) == (3, 2, "draft")
    # …and gives way to a changed file, which is published as a new version.
    path.write_text(path.read_text(encoding="utf-8").replace("请先协商", "建议先协商"), encoding="utf-8")
    fourth = await import_directory(made, tmp_path, actor=REVIEWER, statutes=statutes, catalog=catalog)
    assert fourth.updated == 1
    summary = (await library.get(slug)).summary
    assert (summary.latest_number, summary.published_number, summary.status) == (4, 4, "published")


def test_the_command_line_imports_all_or_nothing(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"BOT_DATA_DIR": str(tmp_path / "var"), "BOT_DATABASE_URL": None}
    seeds = tmp_path / "seeds"
    _copy_seeds(seeds)
    count = len(load_directory(seeds))
    (seeds / "zz.yml").write_text("topic: other\nfaqs:\n  - id: x\n    question: [未闭合\n", encoding="utf-8")

    failed = runner.invoke(faq_app, ["import", str(seeds)], env=env)
    assert failed.exit_code == 1
    assert "nothing imported" in failed.output and f"{seeds / 'zz.yml'}:" in failed.output

    (seeds / "zz.yml").unlink()
    done = runner.invoke(faq_app, ["import", str(seeds)], env=env)
    assert done.exit_code == 0, done.output
    assert f"created {count}, updated 0, unchanged 0" in done.output
    exported = runner.invoke(faq_app, ["export", str(tmp_path / "out")], env=env)
    assert exported.exit_code == 0 and "wrote 14 files" in exported.output
    again = runner.invoke(faq_app, ["import", str(tmp_path / "out")], env=env)
    assert f"created 0, updated 0, unchanged {count}" in again.output
