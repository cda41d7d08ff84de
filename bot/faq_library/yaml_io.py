"""The FAQ library to and from YAML files in the format of ``knowledge/faq/*.yml``, so content
can also be reviewed in git.

Export writes the published versions, one file per topic, in a stable order (small git diffs).
Import reads every file and checks every entry before writing anything: one error anywhere and
nothing is imported. Importing is a reviewer's act: what differs from the library is published.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.faq.actors import Actor, NotAllowed
from bot.faq.drafts import Draft, check_draft, check_slug, tidy
from bot.faq.files import FaqFileError
from bot.faq.model import LegalBasis
from bot.faq.statutes import StatuteIndex
from bot.faq_library.live import LiveFaqs
from bot.faq_library.store import (
    add_published,
    bump_generation,
    imported_version,
    latest_pairs,
    published_pairs,
    reading,
    to_draft,
)
from bot.nlu.labels import DisputeCatalog
from bot.storage.audit import record

#: The topic of FAQs that fit every dispute type (``dispute_type: null``).
GENERAL = "general"
_KEYS = ("id", "question", "paraphrases", "answer", "legal_basis", "dispute_type", "reviewed")


@dataclass(frozen=True, slots=True)
class ImportReport:
    created: int
    updated: int
    unchanged: int
    #: Ids of the FAQs created, then of those updated.
    changed: tuple[str, ...] = ()


# --- export ---


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # "faqs:\n  - id: …" as in the hand-written files, not PyYAML's flush-left lists.
        super().increase_indent(flow, False)


class _Block(str):
    """An answer: written as a folded block (one long line), or literal when it has line breaks."""


def _block(dumper: yaml.SafeDumper, text: _Block) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(text), style="|" if "\n" in text else ">")


_Dumper.add_representer(_Block, _block)


def _topic(slug: str, dispute_type: str | None, topics: set[str]) -> str:
    """The file an FAQ goes to: the first word of its id when that names a topic (the seed files
    keep ``other-irrigation-road-dispute``, a neighbour matter, under other), else its type."""
    head, dash, _ = slug.partition("-")
    return head if dash and head in topics else dispute_type or GENERAL


def _entry_yaml(slug: str, draft: Draft, reviewed: dt.date | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": slug,
        "question": draft.question,
        "paraphrases": list(draft.paraphrases),
        "answer": _Block(draft.answer),
        "legal_basis": [{"statute": b.statute, "article": b.article} for b in draft.legal_basis],
        "dispute_type": draft.dispute_type,
    }
    if reviewed is not None:
        entry["reviewed"] = reviewed
    return entry


def _dump(topic: str, entries: list[dict[str, Any]]) -> str:
    head = yaml.dump({"topic": topic}, Dumper=_Dumper, allow_unicode=True, sort_keys=False)
    items = [
        yaml.dump([entry], Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1_000_000)
        for entry in entries
    ]
    # A blank line between entries, indented under "faqs:".
    body = "\n".join(
        "".join(f"  {line}" if line else line for line in item.splitlines(True)) for item in items
    )
    return f"{head}faqs:\n{body}"


def _is_faq_file(path: Path) -> bool:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(doc, dict) and "faqs" in doc


async def export_directory(
    sessions: async_sessionmaker[AsyncSession], directory: Path, *, timezone: str = "Asia/Shanghai"
) -> list[Path]:
    """Write the published FAQs to ``directory/<topic>.yml`` (entries in the order they were
    created); FAQ files of topics left with nothing published are removed. Returns the files."""
    async with reading(sessions) as session:
        pairs = await published_pairs(session)
    tz = ZoneInfo(timezone)
    topics = {GENERAL, *(v.dispute_type for _, v in pairs if v.dispute_type)}
    files: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry, version in pairs:
        reviewed = entry.reviewed_at.astimezone(tz).date() if entry.reviewed_at else None
        files[_topic(entry.slug, version.dispute_type, topics)].append(
            _entry_yaml(entry.slug, to_draft(version), reviewed)
        )
    return _write(directory, files)


def _write(directory: Path, files: dict[str, list[dict[str, Any]]]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for topic in sorted(files):
        path = directory / f"{topic}.yml"
        temporary = path.with_suffix(".yml.tmp")
        temporary.write_text(_dump(topic, files[topic]), encoding="utf-8")
        os.replace(temporary, path)  # a reader never sees half a file
        written.append(path)
    for path in sorted(directory.glob("*.yml")):
        if path not in written and _is_faq_file(path):
            path.unlink()
    return written


# --- import ---


class _BadEntry(Exception):
    """An entry's shape is wrong (the message says how, for volunteers)."""


@dataclass(frozen=True, slots=True)
class _Parsed:
    slug: str
    draft: Draft
    reviewed: dt.date | None
    where: str  # file:line


def _line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _items(path: Path) -> list[tuple[int, Any]]:
    """The entries of one file with the line each starts on."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FaqFileError(f"{path}: 无法读取（{exc}）") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise FaqFileError(f"{path}{line}: YAML 格式错误：{exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise FaqFileError(f"{path}: YAML 格式错误：{exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("faqs"), list) or root is None:
        raise FaqFileError(f"{path}:1: 文件应以 topic 和 faqs 列表组成")
    nodes = next(value for key, value in root.value if key.value == "faqs")
    return [(_line_of(node), item) for node, item in zip(nodes.value, doc["faqs"], strict=True)]


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise _BadEntry(f"“{key}”应为一段文字")
    return value


def _parse(raw: Any) -> tuple[str, Draft, dt.date | None]:
    if not isinstance(raw, dict):
        raise _BadEntry("条目应为一组“字段: 内容”")
    if unknown := sorted(str(k) for k in raw if k not in _KEYS):
        raise _BadEntry(f"未知的字段：{'、'.join(unknown)}")
    paraphrases = raw.get("paraphrases") or []
    if not isinstance(paraphrases, list) or not all(isinstance(p, str) for p in paraphrases):
        raise _BadEntry("“paraphrases”应为文字列表")
    basis = raw.get("legal_basis") or []
    if not isinstance(basis, list) or not all(
        isinstance(b, dict) and isinstance(b.get("statute"), str) and isinstance(b.get("article"), str)
        for b in basis
    ):
        raise _BadEntry("“legal_basis”应为列表，每项写明 statute 和 article")
    dispute_type = raw.get("dispute_type")
    if dispute_type is not None and not isinstance(dispute_type, str):
        raise _BadEntry("“dispute_type”应为纠纷类型代码或 null")
    reviewed = raw.get("reviewed")
    if reviewed is not None and not isinstance(reviewed, dt.date):
        raise _BadEntry("“reviewed”应为日期，如 2026-11-20")
    draft = Draft(
        question=_text(raw, "question"),
        paraphrases=tuple(paraphrases),
        answer=_text(raw, "answer"),
        legal_basis=tuple(LegalBasis(b["statute"], b["article"]) for b in basis),
        dispute_type=dispute_type,
    )
    return str(raw.get("id") or ""), draft, reviewed


def read_directory(directory: Path, statutes: StatuteIndex, catalog: DisputeCatalog) -> list[_Parsed]:
    """Every entry of every file, checked; FaqFileError names each problem's file and line."""
    paths = sorted(directory.glob("*.yml")) if directory.is_dir() else []
    if not paths:
        raise FaqFileError(f"{directory}: 这里没有 .yml 文件")
    parsed: list[_Parsed] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for path in paths:
        for line, raw in _items(path):
            where = f"{path}:{line}"
            try:
                slug, draft, reviewed = _parse(raw)
            except _BadEntry as exc:
                errors.append(f"{where}: {exc}")
                continue
            draft = tidy(draft, statutes)
            reasons = check_slug(slug) + check_draft(draft, statutes, catalog)
            if slug in seen:
                reasons.append(f"编号与 {seen[slug]} 的条目重复")
            seen.setdefault(slug, where)
            if reasons:
                errors.append(f"{where}: {slug or '（无编号）'}：{'；'.join(reasons)}")
            parsed.append(_Parsed(slug, draft, reviewed, where))
    if errors:
        raise FaqFileError("\n".join(errors))
    return parsed


async def import_directory(
    sessions: async_sessionmaker[AsyncSession],
    directory: Path,
    *,
    actor: Actor,
    statutes: StatuteIndex,
    catalog: DisputeCatalog,
    live: LiveFaqs | None = None,
) -> ImportReport:
    """Publish what the files say: new ids are created, entries that differ from what is
    published get a new version (unless their latest draft already says the same) and are
    published; the rest is left alone, FAQs not in the files too. All or nothing."""
    if not actor.may_publish:
        raise NotAllowed(f"{actor.name} is not a reviewer: importing publishes")
    parsed = read_directory(directory, statutes, catalog)
    now = dt.datetime.now(dt.UTC)
    created: list[str] = []
    updated: list[str] = []
    async with sessions.begin() as session:
        existing = {entry.slug: (entry, version) for entry, version in await latest_pairs(session)}
        published = {entry.slug: to_draft(version) for entry, version in await published_pairs(session)}
        for item in parsed:
            reviewed_at = (
                dt.datetime.combine(item.reviewed, dt.time(), tzinfo=dt.UTC) if item.reviewed else now
            )
            if item.slug not in existing:
                await add_published(
                    session, item.slug, item.draft, author=actor.name, reviewed_at=reviewed_at, now=now
                )
                created.append(item.slug)
                continue
            # Already what residents get (a newer draft, if any, stays a draft): nothing to do.
            if published.get(item.slug) == item.draft:
                continue
            entry, latest = existing[item.slug]
            if to_draft(latest) != item.draft:
                entry.latest_number += 1
                session.add(imported_version(entry.id, entry.latest_number, item.draft, actor.name, now))
            entry.status, entry.published_number = "published", entry.latest_number
            entry.reviewed_at, entry.updated_at = reviewed_at, now
            updated.append(item.slug)
        if created or updated:
            await bump_generation(session, now)
        detail = (
            f"新建{len(created)}条，更新{len(updated)}条，未变{len(parsed) - len(created) - len(updated)}条"
        )
        record(session, "import", actor=actor.name, target=str(directory)[:128], detail=detail)
    if live is not None and (created or updated):
        await live.refresh(force=True)
    return ImportReport(
        len(created), len(updated), len(parsed) - len(created) - len(updated), (*created, *updated)
    )
