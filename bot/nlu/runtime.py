"""Wiring the NLU for a process: use the Rasa servers at ``BOT_NLU_URL``, or start and manage
``BOT_NLU_REPLICAS`` of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import structlog

from bot.metrics import MeasuredParser
from bot.nlu.cache import ParseCache
from bot.nlu.classifier import Classifier, Parser, RiskThresholds
from bot.nlu.client import RasaClient, RasaPool
from bot.nlu.server import ManagedRasaServer, free_port
from bot.nlu.training import current_model, train
from bot.nlu.urgent import UrgentRules
from bot.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class NluRuntime:
    classifier: Classifier
    client: RasaPool
    #: The servers the bot started; empty when it uses those at BOT_NLU_URL.
    managed: tuple[ManagedRasaServer, ...]


def build_classifier(settings: Settings, client: Parser) -> Classifier:
    return Classifier(
        ParseCache(MeasuredParser(client.parse).parse),
        UrgentRules.load(settings.knowledge_dir),
        max_chars=settings.max_message_chars,
        thresholds=RiskThresholds(
            alarm=settings.nlu_alarm_threshold,
            ask=settings.nlu_ask_threshold,
            check=settings.nlu_check_threshold,
        ),
        unsure_below=settings.nlu_unsure_below,
    )


def client_for(settings: Settings, url: str, token: str | None) -> RasaClient:
    return RasaClient(url, token=token, timeout=settings.nlu_timeout, retries=settings.nlu_retries)


def pool_for(settings: Settings, urls: tuple[str, ...], token: str | None) -> RasaPool:
    return RasaPool(
        [client_for(settings, url, token) for url in urls],
        failures=settings.nlu_breaker_failures,
        pause=settings.nlu_breaker_pause,
    )


async def start_managed_server(
    settings: Settings, *, port: int | None = None, train_if_stale: bool = True
) -> ManagedRasaServer:
    # Training is a no-op when the model is current.
    model = train(settings).model if train_if_stale else current_model(settings)
    server = ManagedRasaServer(
        rasa_venv=settings.rasa_venv,
        model_path=model,
        port=port or free_port(settings.nlu_port),
        log_path=settings.data_dir / "logs" / "rasa.log",
        token=settings.nlu_token.get_secret_value() if settings.nlu_token else None,
        startup_timeout=settings.nlu_startup_timeout,
    )
    await server.start()
    return server


async def start_managed_servers(
    settings: Settings, count: int, *, train_if_stale: bool = True
) -> list[ManagedRasaServer]:
    """``count`` servers of the same model, on consecutive free ports, started side by side."""
    if train_if_stale:
        train(settings)  # once, before the servers race for it
    else:
        current_model(settings)
    ports: list[int] = []
    for i in range(count):
        port = free_port(settings.nlu_port + i)
        while port in ports:
            port = free_port()
        ports.append(port)
    results = await asyncio.gather(
        *(start_managed_server(settings, port=p, train_if_stale=train_if_stale) for p in ports),
        return_exceptions=True,
    )
    servers = [r for r in results if isinstance(r, ManagedRasaServer)]
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        for server in servers:
            await server.stop()
        raise failures[0]
    return servers


@asynccontextmanager
async def nlu_runtime(
    settings: Settings, *, start_if_unreachable: bool = False, train_if_stale: bool = True
) -> AsyncIterator[NluRuntime]:
    """The NLU for one process.

    With ``BOT_NLU_URL`` set the bot uses those servers and never starts its own: when they do not
    answer, /readyz says so and residents get the numbered menu (and the rule tier's alarms). Only
    one-off commands (``start_if_unreachable``: classify, eval, benchmarks) start a managed server
    instead. Without ``BOT_NLU_URL`` the bot manages ``BOT_NLU_REPLICAS`` servers, training their
    model first when the data changed — unless ``train_if_stale`` is off (evaluations: they score
    the model on disk, and refuse with ``StaleModel`` when it is not the data's).
    """
    token = settings.nlu_token.get_secret_value() if settings.nlu_token else None
    urls = settings.nlu_urls
    async with AsyncExitStack() as stack:
        if urls and start_if_unreachable:
            probe = pool_for(settings, urls, token)
            reachable = await probe.is_ready()
            await probe.aclose()
            if not reachable:
                log.info("nlu.unreachable_starting_own", servers=len(urls))
                urls = ()
        managed: list[ManagedRasaServer] = []
        if not urls:
            managed = await start_managed_servers(
                settings, settings.nlu_replicas, train_if_stale=train_if_stale
            )
            for server in managed:
                stack.push_async_callback(server.stop)
            urls = tuple(s.url for s in managed)
            token = managed[0].token
        pool = pool_for(settings, urls, token)
        stack.push_async_callback(pool.aclose)
        yield NluRuntime(build_classifier(settings, pool), pool, tuple(managed))
