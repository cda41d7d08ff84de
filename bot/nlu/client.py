"""Async clients of the Rasa server's HTTP API (``POST /model/parse``).

``RasaClient`` talks to one server; ``RasaPool`` spreads parses over several and fails over, with
a circuit breaker per server so that a hung server costs one timeout, not one per message. They
know nothing of the bot: a typed result, or :class:`NluUnavailable` saying what failed.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

FALLBACK_LABEL = "nlu_fallback"


class NluUnavailable(Exception):
    """The Rasa server did not answer in time or answered with an error."""


class _Retryable(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Entity:
    entity: str
    value: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ParseResult:
    #: The top label as Rasa gives it: ``report_dispute+labor``, ``greet`` or ``nlu_fallback``.
    label: str
    confidence: float
    #: All labels with their confidences, best first (``nlu_fallback`` excluded).
    ranking: tuple[tuple[str, float], ...]
    entities: tuple[Entity, ...]
    #: The danger model's probabilities per tier (``alarm``, ``check``, ``none``); empty when the
    #: model has no risk classifier.
    risk: dict[str, float] = field(default_factory=dict)

    @property
    def fallback(self) -> bool:
        return self.label == FALLBACK_LABEL

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ParseResult:
        intent = data.get("intent") or {}
        ranking = tuple(
            (str(r["name"]), float(r["confidence"]))
            for r in data.get("intent_ranking") or []
            if r.get("name") != FALLBACK_LABEL
        )
        entities = tuple(
            Entity(str(e["entity"]), str(e["value"]), int(e.get("start", 0)), int(e.get("end", 0)))
            for e in data.get("entities") or []
        )
        risk = {str(tier): float(p) for tier, p in (data.get("risk") or {}).items()}
        return cls(
            label=str(intent.get("name") or FALLBACK_LABEL),
            confidence=float(intent.get("confidence") or 0.0),
            ranking=ranking,
            entities=entities,
            risk=risk,
        )


class RasaClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 3.0,
        retries: int = 1,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._params = {"token": token} if token else {}
        self._retries = retries
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def parse(self, text: str) -> ParseResult:
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._retries + 1),
                wait=wait_random_exponential(multiplier=0.1, max=1.0),
                retry=retry_if_exception_type(_Retryable),
                reraise=True,
            ):
                with attempt:
                    return await self._parse_once(text)
        except _Retryable as exc:
            raise NluUnavailable(str(exc)) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _parse_once(self, text: str) -> ParseResult:
        try:
            response = await self._http.post("/model/parse", params=self._params, json={"text": text})
        except httpx.TimeoutException as exc:
            # A server that is hung will be hung a moment later too: no retry (the pool moves on).
            raise NluUnavailable(f"NLU server at {self.base_url} timed out") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"NLU server at {self.base_url} unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise _Retryable(f"NLU server at {self.base_url} answered {response.status_code}")
        if response.status_code != 200:
            raise NluUnavailable(f"NLU server at {self.base_url} refused the request: {response.status_code}")
        try:
            return ParseResult.from_json(response.json())
        except (ValueError, KeyError, TypeError) as exc:
            raise NluUnavailable(f"NLU server at {self.base_url} sent an unreadable answer") from exc

    async def is_ready(self) -> bool:
        """True when the server answers and has a model loaded."""
        try:
            response = await self._http.get("/status", params=self._params, timeout=2.0)
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        try:
            return bool(response.json().get("model_file"))
        except ValueError:
            return False

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RasaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@dataclass(slots=True)
class _Breaker:
    """Consecutive failures of one server; after ``limit`` of them it is skipped for a while."""

    limit: int
    pause: float
    failures: int = 0
    open_until: float = 0.0

    def available(self, now: float) -> bool:
        return now >= self.open_until

    def failed(self, now: float) -> None:
        self.failures += 1
        if self.failures >= self.limit:
            self.open_until = now + self.pause
            self.failures = 0

    def succeeded(self) -> None:
        self.failures = 0
        self.open_until = 0.0


class RasaPool:
    """Several Rasa servers behind one ``parse``: round robin, the next server when one fails, and
    a breaker per server (``failures`` in a row pause it for ``pause`` seconds). When every server
    is paused, ``parse`` fails at once: callers fall back (the rules and a menu) without waiting."""

    def __init__(
        self,
        clients: Sequence[RasaClient],
        *,
        failures: int = 2,
        pause: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not clients:
            raise ValueError("a pool needs at least one server")
        self.clients = tuple(clients)
        self._breakers = [_Breaker(failures, pause) for _ in self.clients]
        self._next = itertools.cycle(range(len(self.clients)))
        self._clock = clock

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(c.base_url for c in self.clients)

    async def parse(self, text: str) -> ParseResult:
        start = next(self._next)
        order = [(start + i) % len(self.clients) for i in range(len(self.clients))]
        problem = "every NLU server is paused after repeated failures"
        for index in order:
            breaker = self._breakers[index]
            if not breaker.available(self._clock()):
                continue
            try:
                result = await self.clients[index].parse(text)
            except NluUnavailable as exc:
                breaker.failed(self._clock())
                problem = str(exc)
                continue
            breaker.succeeded()
            return result
        raise NluUnavailable(problem)

    async def is_ready(self) -> bool:
        """True when at least one server answers with a model loaded."""
        for client in self.clients:
            if await client.is_ready():
                return True
        return False

    async def readiness(self) -> dict[str, bool]:
        return {client.base_url: await client.is_ready() for client in self.clients}

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()
