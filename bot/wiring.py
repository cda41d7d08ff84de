"""The composition root: builds the engine, the jobs and their parts from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.backend_runtime import Backend, backend_runtime
from bot.cases.steps import CaseSteps
from bot.dialogs.engine import DialogEngine
from bot.dialogs.flows.general import AdministrativeMatters
from bot.dialogs.ports import Classifies
from bot.dialogs.replies import Replies
from bot.dialogs.router import Router
from bot.dialogs.turn import Services
from bot.faq.source import FileFaqs
from bot.jobs.handoff_events import HandoffEvents
from bot.jobs.notify import Dispatcher, HoldingNotifier, Notifier, RateLimiter
from bot.jobs.outbox import OutboxWorker
from bot.jobs.scheduler import Intervals, build_scheduler
from bot.jobs.sync import ProgressSync
from bot.nlu.labels import DisputeCatalog
from bot.nlu.runtime import NluRuntime, nlu_runtime
from bot.nlu.segment import make_tokenizer
from bot.settings import Settings
from bot.storage.db import create_engine, sessions, sync_url
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


def build_engine(
    settings: Settings,
    database: AsyncEngine,
    classifier: Classifies,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DialogEngine:
    return DialogEngine(
        clock=clock,
        store=SqlTurnStore(database, timezone=settings.timezone),
        classifier=classifier,
        services=build_services(settings),
        router=Router(AdministrativeMatters.load(settings.knowledge_dir)),
    )


def notifiers() -> dict[str, Notifier]:
    """A notifier per channel. The web chat and the console cannot push: they hold."""
    return {"web": HoldingNotifier(), "console": HoldingNotifier()}


@dataclass(slots=True)
class Jobs:
    outbox: OutboxWorker
    dispatcher: Dispatcher
    sync: ProgressSync
    handoffs: HandoffEvents


def build_jobs(settings: Settings, database: AsyncEngine, backend: Backend) -> Jobs:
    replies = Replies.load(settings.knowledge_dir)
    steps = CaseSteps.load(settings.knowledge_dir)
    made = sessions(database)
    return Jobs(
        outbox=OutboxWorker(made, backend.client, replies),
        dispatcher=Dispatcher(made, notifiers(), {"web": RateLimiter(50, burst=50)}),
        sync=ProgressSync(made, backend.client, replies, steps),
        handoffs=HandoffEvents(made, backend.client, replies),
    )


@dataclass(slots=True)
class Runtime:
    settings: Settings
    database: AsyncEngine
    nlu: NluRuntime
    engine: DialogEngine
    backend: Backend | None
    jobs: Jobs | None
    scheduler: AsyncIOScheduler | None


@asynccontextmanager
async def runtime(
    settings: Settings, *, start_nlu_if_unreachable: bool = True, with_backend: bool = True
) -> AsyncIterator[Runtime]:
    """Everything a bot process needs: the database (SQLite is migrated on start), the NLU, the
    case system (the embedded desk unless BOT_BACKEND_URL is set) and the scheduled jobs."""
    if sync_url(settings).startswith("sqlite"):
        upgrade(settings)
    database = create_engine(settings)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(database.dispose)
        nlu = await stack.enter_async_context(
            nlu_runtime(settings, start_if_unreachable=start_nlu_if_unreachable)
        )
        backend = await stack.enter_async_context(backend_runtime(settings)) if with_backend else None
        jobs = build_jobs(settings, database, backend) if backend else None
        scheduler = None
        if jobs and settings.jobs:
            scheduler = build_scheduler(
                outbox=jobs.outbox,
                dispatcher=jobs.dispatcher,
                sync=jobs.sync,
                handoffs=jobs.handoffs,
                intervals=Intervals(
                    outbox=settings.outbox_interval,
                    notifications=settings.notify_interval,
                    handoff_events=settings.handoff_interval,
                    progress_sync=settings.sync_interval,
                ),
            )
            scheduler.start()
            stack.callback(scheduler.shutdown, wait=False)
        yield Runtime(
            settings,
            database,
            nlu,
            build_engine(settings, database, nlu.classifier),
            backend,
            jobs,
            scheduler,
        )
