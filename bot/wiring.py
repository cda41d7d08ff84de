"""The composition root: builds the engine, the jobs and their parts from settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import privacy
from bot.backend_runtime import Backend, backend_runtime
from bot.cases.steps import CaseSteps
from bot.channel import ChannelParts, PeriodicJob
from bot.dialogs.engine import DialogEngine, RateLimit
from bot.dialogs.flows.general import AdministrativeMatters
from bot.dialogs.ports import Classifies, HandlesTurns
from bot.dialogs.replies import Replies
from bot.dialogs.router import Router
from bot.dialogs.turn import FaqSource, Services
from bot.faq.source import FileFaqs
from bot.faq.statutes import StatuteIndex
from bot.faq_library.library import Library
from bot.faq_library.live import LiveFaqs
from bot.jobs.handoff_events import HandoffEvents
from bot.jobs.notify import Dispatcher, HoldingNotifier, Notifier, RateLimiter
from bot.jobs.nudge import Nudgeable
from bot.jobs.outbox import OutboxWorker
from bot.jobs.pacing import slots_purge
from bot.jobs.retention import Retention, RetentionPolicy
from bot.jobs.running import RunningJobs
from bot.jobs.scheduler import build_scheduler
from bot.jobs.scheduler import stop as stop_jobs
from bot.jobs.sync import ProgressSync
from bot.metrics import MeasuredEngine
from bot.nlu.labels import DisputeCatalog
from bot.nlu.runtime import NluRuntime, nlu_runtime
from bot.nlu.segment import make_tokenizer
from bot.settings import Settings
from bot.storage.db import create_engine, sessions, sync_url
from bot.storage.migrate import upgrade
from bot.storage.turns import SqlTurnStore


def build_services(settings: Settings, faqs: FaqSource | None = None) -> Services:
    """``faqs``: where answers come from — the published FAQs in the database when the bot
    runs (``bot.faq_library.live``); the YAML files of ``knowledge/faq`` by default (tools, tests)."""
    return Services(
        replies=Replies.load(settings.knowledge_dir),
        catalog=DisputeCatalog.load(settings.knowledge_dir),
        faqs=faqs
        or FileFaqs(
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
    faqs: FaqSource | None = None,
) -> DialogEngine:
    return DialogEngine(
        clock=clock,
        store=SqlTurnStore(database, timezone=settings.timezone),
        classifier=classifier,
        services=build_services(settings, faqs),
        router=Router(AdministrativeMatters.load(settings.knowledge_dir)),
        rate_limit=RateLimit(settings.rate_limit_messages, timedelta(seconds=settings.rate_limit_window)),
    )


def notifiers(channels: dict[str, ChannelParts] | None = None) -> dict[str, Notifier]:
    """A notifier per channel. The web chat and the console cannot push: they hold."""
    pushing = {name: parts.notifier for name, parts in (channels or {}).items()}
    return {"web": HoldingNotifier(), "console": HoldingNotifier(), **pushing}


#: Seconds between two runs of the retention job.
RETENTION_INTERVAL = 3600.0


@dataclass(slots=True)
class Jobs:
    outbox: OutboxWorker
    dispatcher: Dispatcher
    sync: ProgressSync
    handoffs: HandoffEvents
    retention: Retention
    #: The feed readers, which the case system's "feeds moved" call runs at once.
    feeds: tuple[Nudgeable, ...] = ()
    #: Every run under way (scheduled or nudged), which shutdown lets finish first.
    running: RunningJobs = field(default_factory=RunningJobs)

    def __post_init__(self) -> None:
        self.feeds = (
            Nudgeable("handoff_events", self.handoffs.poll_once, self.running),
            Nudgeable("progress_sync", self.sync.sync_once, self.running),
        )

    def nudge_feeds(self) -> None:
        for feed in self.feeds:
            feed.nudge()

    def periodic(self, settings: Settings) -> list[PeriodicJob]:
        return [
            PeriodicJob("retention", self.retention.purge_once, RETENTION_INTERVAL, at_start=True),
            PeriodicJob("outbox", self.outbox.flush_once, settings.outbox_interval),
            PeriodicJob("notifications", self.dispatcher.dispatch_once, settings.notify_interval),
            PeriodicJob("handoff_events", self.feeds[0].run, settings.handoff_interval),
            PeriodicJob("progress_sync", self.feeds[1].run, settings.sync_interval),
        ]


def build_jobs(
    settings: Settings,
    database: AsyncEngine,
    backend: Backend,
    channels: dict[str, ChannelParts] | None = None,
) -> Jobs:
    replies = Replies.load(settings.knowledge_dir)
    steps = CaseSteps.load(settings.knowledge_dir)
    made = sessions(database)
    media = {name: parts.media for name, parts in (channels or {}).items() if parts.media is not None}
    return Jobs(
        outbox=OutboxWorker(made, backend.client, replies, media=media),
        dispatcher=Dispatcher(made, notifiers(channels), {"web": RateLimiter(50, burst=50)}),
        sync=ProgressSync(made, backend.client, replies, steps),
        handoffs=HandoffEvents(made, backend.client, replies),
        retention=Retention(made, RetentionPolicy.load(settings.knowledge_dir)),
    )


@dataclass(slots=True)
class Runtime:
    settings: Settings
    database: AsyncEngine
    nlu: NluRuntime
    engine: HandlesTurns
    backend: Backend | None
    jobs: Jobs | None
    scheduler: AsyncIOScheduler | None
    channels: dict[str, ChannelParts]
    #: Channel objects their routes need (the Telegram application), by channel name.
    adapters: dict[str, object]
    #: The FAQs volunteers keep (the console's), whose published set the engine answers from.
    faq_library: Library


@asynccontextmanager
async def runtime(
    settings: Settings, *, start_nlu_if_unreachable: bool = False, with_backend: bool = True
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
        faq_library, live = await faq_runtime(settings, database)
        engine = MeasuredEngine(build_engine(settings, database, nlu.classifier, faqs=live).handle)
        await asyncio.to_thread(privacy.warm_up)  # the name masker of the volunteers' queue
        channels, adapters = await _channels(settings, database, engine, stack)
        jobs = build_jobs(settings, database, backend, channels) if backend else None
        scheduler = None
        running = jobs.running if jobs is not None else RunningJobs()
        if settings.jobs:
            # A publish in another process reaches this one's answers within two seconds.
            periodic = [PeriodicJob("faq_refresh", live.refresh_job, 2.0)]
            periodic += [job for parts in channels.values() for job in parts.jobs]
            if jobs is not None:
                periodic = [*jobs.periodic(settings), *periodic]
            scheduler = build_scheduler(periodic, running)
            scheduler.start()
        # First on the way out: no run may outlive the database, the channels or the backend.
        stack.push_async_callback(stop_jobs, scheduler, running)
        yield Runtime(
            settings, database, nlu, engine, backend, jobs, scheduler, channels, adapters, faq_library
        )


async def faq_runtime(settings: Settings, database: AsyncEngine) -> tuple[Library, LiveFaqs]:
    """The FAQ library and the live index residents are answered from; a new deployment starts
    with the seed FAQs of knowledge/faq, published."""
    made = sessions(database)
    tokenizer = make_tokenizer(settings.nlu_project_dir / "jieba_dict")
    live = LiveFaqs(made, tokenizer, threshold=settings.faq_threshold)
    await live.seed_if_empty(settings.knowledge_dir / "faq")
    library = Library(
        made,
        StatuteIndex.load(settings.knowledge_dir),
        DisputeCatalog.load(settings.knowledge_dir),
        tokenizer,
        threshold=settings.faq_threshold,
        live=live,
    )
    return library, live


async def _channels(
    settings: Settings, database: AsyncEngine, engine: HandlesTurns, stack: AsyncExitStack
) -> tuple[dict[str, ChannelParts], dict[str, object]]:
    """The messaging channels that are configured (each is off without its token)."""
    channels: dict[str, ChannelParts] = {}
    adapters: dict[str, object] = {}
    if settings.wechat_token is not None:
        from bot.handlers.wechat import WeChatWebhook
        from bot.wechat.parts import wechat_channel
        from bot.wechat.security import nonce_purge

        webhook = WeChatWebhook.build(settings, database, engine)  # refuses a bad EncodingAESKey
        stack.push_async_callback(webhook.drain)  # late replies still running get queued
        wechat = await stack.enter_async_context(wechat_channel(settings, database))
        purge = nonce_purge(sessions(database), settings.wechat_timestamp_window)
        wechat.jobs = (*wechat.jobs, PeriodicJob("wechat_nonces", purge, settings.wechat_timestamp_window))
        channels["wechat"], adapters["wechat"] = wechat, webhook
    if settings.telegram_token is not None:
        from bot.telegram.runtime import telegram_runtime

        telegram = await stack.enter_async_context(
            telegram_runtime(settings, database, engine, Replies.load(settings.knowledge_dir))
        )
        telegram.parts.jobs = (
            *telegram.parts.jobs,
            PeriodicJob("rate_slots", slots_purge(sessions(database)), 3600),
        )
        channels["telegram"], adapters["telegram"] = telegram.parts, telegram
    return channels, adapters
