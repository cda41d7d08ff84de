"""Conversation tests as data: every file in tests/transcripts/ is a conversation with the real
engine, the real database (SQLite, and PostgreSQL when configured) and the real Rasa server.

A transcript lists what the resident does and what the bot must answer: the reply keys of
knowledge/replies.yml (so rewording a text breaks nothing), options offered, words contained.
See tests/transcripts/README.md for the format.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dialogs.engine import DialogEngine
from bot.dialogs.messages import Attachment, Inbound, Location, Outbound
from bot.nlu.classifier import Classifier
from bot.nlu.client import RasaClient
from bot.nlu.runtime import build_classifier
from bot.nlu.server import free_port
from bot.settings import Settings
from bot.storage import models
from bot.wiring import build_engine

pytestmark = pytest.mark.rasa

TRANSCRIPTS = sorted((Path(__file__).parent / "transcripts").glob("*.yml"))


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def hung_rasa() -> Iterator[str]:
    """A port that accepts connections and never answers, as a Rasa stopped by SIGSTOP does."""
    with socket.create_server(("127.0.0.1", 0), backlog=128) as listener:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture(scope="module")
def engines(
    db_settings: Settings, database: AsyncEngine, classifier: Classifier, clock: Clock, hung_rasa: str
) -> dict[str, Any]:
    # The transcripts' clock moves with "wait_minutes".
    up = build_engine(db_settings, database, classifier, clock=clock)
    dead = RasaClient(f"http://127.0.0.1:{free_port()}", retries=0, timeout=1)
    down = build_engine(db_settings, database, build_classifier(db_settings, dead), clock=clock)
    stuck = RasaClient(hung_rasa, retries=0, timeout=db_settings.nlu_timeout)
    hung = build_engine(db_settings, database, build_classifier(db_settings, stuck), clock=clock)
    return {"up": up, "down": down, "hung": hung}


async def _count_work(database: AsyncEngine, user_id: str) -> dict[str, int]:
    async with database.connect() as connection:
        cases = await connection.scalar(
            select(func.count()).select_from(models.Case).where(models.Case.user_id == user_id)
        )
        rows = await connection.execute(
            select(models.OutboxItem.kind, models.OutboxItem.payload, models.Case.user_id).outerjoin(
                models.Case, models.Case.id == models.OutboxItem.case_id
            )
        )
        counts = {"cases": int(cases or 0), "file_case": 0, "escalation": 0}
        for kind, payload, case_user in rows:
            if kind in counts and (case_user == user_id or (payload or {}).get("user_id") == user_id):
                counts[kind] += 1
        handoffs = await connection.scalar(
            select(func.count()).select_from(models.Handoff).where(models.Handoff.user_id == user_id)
        )
        counts["handoff"] = int(handoffs or 0)
        misses = await connection.scalar(select(func.count()).select_from(models.FaqMiss))
        counts["faq_misses_total"] = int(misses or 0)
    return counts


def _check(step: dict[str, Any], replies: tuple[Outbound, ...], where: str) -> None:
    keys = [r.key for r in replies]
    shown = "\n".join(f"  [{r.key}] {r.text}" for r in replies)
    if "expect" in step:
        assert keys == step["expect"], f"{where}: expected {step['expect']}, got:\n{shown}"
    if "expect_any" in step:
        assert keys and keys[0] in step["expect_any"], (
            f"{where}: expected one of {step['expect_any']}, got:\n{shown}"
        )
    options = [o for r in replies for o in r.options]
    for option in step.get("options", []):
        assert option in options, f"{where}: option {option!r} not offered in {options}"
    text = "\n".join(r.text for r in replies)
    for needle in step.get("contains", []):
        assert needle in text, f"{where}: {needle!r} not in:\n{shown}"
    for needle in step.get("not_contains", []):
        assert needle not in text, f"{where}: {needle!r} unexpectedly in:\n{shown}"
    for pattern in step.get("matches", []):
        assert re.search(pattern, text), f"{where}: /{pattern}/ not in:\n{shown}"


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
async def test_transcript(
    path: Path, engines: dict[str, DialogEngine], clock: Clock, database: AsyncEngine
) -> None:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))  # noqa: ASYNC240 - a small local file
    user_id = f"t-{uuid.uuid4().hex[:10]}"
    channel = spec.get("channel", "console")
    nlu = spec.get("nlu", "up")
    clock.offset = timedelta()
    before = await _count_work(database, user_id)
    try:
        for number, step in enumerate(spec["steps"], start=1):
            where = f"{path.name} step {number}"
            if "nlu" in step:
                nlu = step["nlu"]
                continue
            if "wait_minutes" in step:
                clock.offset += timedelta(minutes=step["wait_minutes"])
                continue
            location = Location(*step["location"]) if "location" in step else None
            attachments = (Attachment("image", step["image"]),) if "image" in step else ()
            message_id = str(step.get("message_id", uuid.uuid4().hex))
            inbound = Inbound(
                channel, user_id, message_id, str(step.get("say", "")), clock(), attachments, location
            )
            started = time.monotonic()
            replies = await engines[nlu].handle(inbound)
            elapsed = time.monotonic() - started
            _check(step, replies, where)
            if "within_seconds" in step:  # a behaviour bound (never waiting on a hung NLU), not a benchmark
                assert elapsed < step["within_seconds"], f"{where}: answered after {elapsed:.1f} s"
    finally:
        clock.offset = timedelta()
    after = await _count_work(database, user_id)
    for kind, count in (spec.get("work") or {}).items():
        if kind == "faq_misses":
            assert after["faq_misses_total"] - before["faq_misses_total"] == count, f"{path.name}: faq misses"
        else:
            assert after[kind] == count, f"{path.name}: expected {count} {kind}, found {after[kind]}"


def test_there_are_at_least_30_transcripts() -> None:
    assert len(TRANSCRIPTS) >= 30
