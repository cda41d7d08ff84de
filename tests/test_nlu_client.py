"""The NLU client says clearly when Rasa is down, slow or broken, and never hangs the caller."""

from __future__ import annotations

import time

import pytest

from bot.nlu.classifier import Classifier
from bot.nlu.client import NluUnavailable, RasaClient
from bot.nlu.server import ManagedRasaServer, free_port
from bot.nlu.urgent import UrgentRules
from bot.settings import Settings
from tests.loopback import http_server


async def test_server_errors_are_retried_then_reported() -> None:
    async with http_server(status=500) as server, RasaClient(server.url, retries=2) as client:
        with pytest.raises(NluUnavailable, match="answered 500"):
            await client.parse("欠薪")
        assert server.requests == 3


async def test_a_hanging_server_times_out_without_a_retry() -> None:
    # A hung server stays hung: asking it again would only double the resident's wait.
    async with http_server(status=None) as server, RasaClient(server.url, timeout=0.3, retries=1) as client:
        started = time.monotonic()
        with pytest.raises(NluUnavailable, match="timed out"):
            await client.parse("欠薪")
        assert time.monotonic() - started < 5
        assert server.requests == 1


async def test_client_errors_are_not_retried() -> None:
    async with http_server(status=401) as server, RasaClient(server.url, retries=3) as client:
        with pytest.raises(NluUnavailable, match="refused"):
            await client.parse("欠薪")
        assert server.requests == 1


async def test_garbage_answers_are_reported() -> None:
    async with http_server(status=200, body=b"<html>") as server, RasaClient(server.url) as client:
        with pytest.raises(NluUnavailable, match="unreadable"):
            await client.parse("欠薪")


async def test_nobody_listening_is_reported() -> None:
    async with RasaClient(f"http://127.0.0.1:{free_port()}", retries=0) as client:
        with pytest.raises(NluUnavailable, match="unreachable"):
            await client.parse("欠薪")


async def test_classifier_falls_back_without_crashing_when_nlu_is_down(settings: Settings) -> None:
    async with RasaClient(f"http://127.0.0.1:{free_port()}", retries=0) as client:
        classifier = Classifier(client, UrgentRules.load(settings.knowledge_dir), max_chars=1000)
        calm = await classifier.classify("公司拖欠工资三个月")
        assert calm.nlu_available is False
        assert calm.intent is None  # callers show the numbered menu
        urgent = await classifier.classify("他拿着刀在我家门口")
        assert urgent.urgent  # the rules still raise the alarm
        assert urgent.intent is not None and urgent.intent.value == "urgent_risk"


def test_the_managed_server_refuses_a_missing_rasa_environment(tmp_path: object, settings: Settings) -> None:
    from pathlib import Path

    with pytest.raises(RuntimeError, match="make rasa-venv"):
        ManagedRasaServer(
            rasa_venv=Path(str(tmp_path)) / "nothing",
            model_path=Path("m.tar.gz"),
            port=free_port(),
            log_path=Path(str(tmp_path)) / "log",
        )
