"""Wiring the NLU for a process: use the Rasa server at ``BOT_NLU_URL``, or start and manage one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog

from bot.metrics import MeasuredParser
from bot.nlu.cache import ParseCache
from bot.nlu.classifier import Classifier
from bot.nlu.client import RasaClient
from bot.nlu.server import ManagedRasaServer, free_port
from bot.nlu.training import train
from bot.nlu.urgent import UrgentRules
from bot.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class NluRuntime:
    classifier: Classifier
    client: RasaClient
    #: The server the bot started, or None when it uses one at BOT_NLU_URL.
    managed: ManagedRasaServer | None


def build_classifier(settings: Settings, client: RasaClient) -> Classifier:
    return Classifier(
        ParseCache(MeasuredParser(client.parse).parse),
        UrgentRules.load(settings.knowledge_dir),
        max_chars=settings.max_message_chars,
        urgent_threshold=settings.nlu_urgent_threshold,
    )


def client_for(settings: Settings, url: str, token: str | None) -> RasaClient:
    return RasaClient(url, token=token, timeout=settings.nlu_timeout, retries=settings.nlu_retries)


async def start_managed_server(settings: Settings, *, port: int | None = None) -> ManagedRasaServer:
    model = train(settings).model  # a no-op when the model is current
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


@asynccontextmanager
async def nlu_runtime(settings: Settings, *, start_if_unreachable: bool = False) -> AsyncIterator[NluRuntime]:
    """The NLU for one process.

    With ``BOT_NLU_URL`` set the bot uses that server; when it does not answer and
    ``start_if_unreachable`` is set (one-off commands), a managed server is started instead.
    Without ``BOT_NLU_URL`` the bot always manages its own server.
    """
    managed: ManagedRasaServer | None = None
    token = settings.nlu_token.get_secret_value() if settings.nlu_token else None
    url = settings.nlu_url
    if url:
        probe = client_for(settings, url, token)
        reachable = await probe.is_ready()
        await probe.aclose()
        if not reachable and start_if_unreachable:
            log.info("nlu.unreachable_starting_own", url=url)
            url = None
    if not url:
        managed = await start_managed_server(settings)
        url, token = managed.url, managed.token
    client = client_for(settings, url, token)
    try:
        yield NluRuntime(build_classifier(settings, client), client, managed)
    finally:
        await client.aclose()
        if managed:
            await managed.stop()
