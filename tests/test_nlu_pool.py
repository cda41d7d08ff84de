"""Several Rasa servers behind one client: parses are spread, a failing server is skipped, and a
hung one costs a resident one timeout at most, not one per message."""

from __future__ import annotations

import json

import pytest

from bot.nlu.client import NluUnavailable, RasaClient, RasaPool
from bot.settings import Settings
from tests.loopback import http_server

PARSE = json.dumps({"intent": {"name": "greet", "confidence": 0.9}, "intent_ranking": []}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_parses_are_spread_over_the_servers() -> None:
    async with http_server(status=200, body=PARSE) as a, http_server(status=200, body=PARSE) as b:
        pool = RasaPool([RasaClient(a.url), RasaClient(b.url)])
        for _ in range(6):
            assert (await pool.parse("你好")).label == "greet"
        await pool.aclose()
    assert (a.requests, b.requests) == (3, 3)


async def test_a_failing_server_is_skipped_and_retried_after_its_pause() -> None:
    clock = Clock()
    async with http_server(status=500) as bad, http_server(status=200, body=PARSE) as good:
        pool = RasaPool(
            [RasaClient(bad.url, retries=0), RasaClient(good.url)], failures=2, pause=30, clock=clock
        )
        for _ in range(8):
            assert (await pool.parse("你好")).label == "greet"  # every parse answered
        assert bad.requests == 2  # two failures in a row, then paused
        clock.now += 31
        await pool.parse("你好")
        await pool.parse("你好")
        assert bad.requests == 3  # tried again after the pause
        await pool.aclose()


async def test_a_hung_server_costs_one_timeout_then_answers_fail_at_once() -> None:
    clock = Clock()
    async with http_server(status=None) as hung:
        pool = RasaPool([RasaClient(hung.url, timeout=0.2)], failures=1, pause=30, clock=clock)
        with pytest.raises(NluUnavailable, match="timed out"):
            await pool.parse("欠薪")
        with pytest.raises(NluUnavailable, match="paused"):
            await pool.parse("欠薪")  # no second wait: the caller falls back at once
        assert hung.requests == 1
        await pool.aclose()


def test_several_servers_are_read_from_one_setting() -> None:
    settings = Settings(nlu_url="http://127.0.0.1:5005, http://127.0.0.1:5006,")
    assert settings.nlu_urls == ("http://127.0.0.1:5005", "http://127.0.0.1:5006")
    assert Settings(nlu_url=None).nlu_urls == ()
