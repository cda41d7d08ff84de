"""The composition root: builds the engine and its parts from settings. Nothing else wires."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cases.steps import CaseSteps
from bot.dialogs.engine import DialogEngine
from bot.dialogs.flows.general import AdministrativeMatters
from bot.dialogs.ports import Classifies
from bot.dialogs.replies import Replies
from bot.dialogs.router import Router
from bot.dialogs.turn import Services
from bot.faq.source import FileFaqs
from bot.nlu.labels import DisputeCatalog
from bot.nlu.runtime import NluRuntime, nlu_runtime
from bot.nlu.segment import make_tokenizer
from bot.settings import Settings
from bot.storage.db import create_engine, sync_url
from bot.storage.migrate import upgrade
from bot.storage.turns import SqlTurnStore


def build_services(settings: Settings) -> Services:
    return Services(
        replies=Replies.load(settings.knowledge_dir),
        catalog=DisputeCatalog.load(settings.knowledge_dir),
        faqs=FileFaqs(
            settings.knowledge_dir / "faq",
            make_tokenizer(settings.nlu_project_dir / "jieba_dict"),
            threshold=settings.faq_threshold,
        ),
        steps=CaseSteps.load(settings.knowledge_dir),
    )


def build_engine(settings: Settings, database: AsyncEngine, classifier: Classifies) -> DialogEngine:
    return DialogEngine(
        store=SqlTurnStore(database, timezone=settings.timezone),
        classifier=classifier,
        services=build_services(settings),
        router=Router(AdministrativeMatters.load(settings.knowledge_dir)),
    )


@dataclass(slots=True)
class Runtime:
    settings: Settings
    database: AsyncEngine
    nlu: NluRuntime
    engine: DialogEngine


@asynccontextmanager
async def runtime(settings: Settings, *, start_nlu_if_unreachable: bool = True) -> AsyncIterator[Runtime]:
    """Everything a bot process needs. The embedded SQLite database is migrated on start."""
    if sync_url(settings).startswith("sqlite"):
        upgrade(settings)
    database = create_engine(settings)
    try:
        async with nlu_runtime(settings, start_if_unreachable=start_nlu_if_unreachable) as nlu:
            yield Runtime(settings, database, nlu, build_engine(settings, database, nlu.classifier))
    finally:
        await database.dispose()
