"""Async client of the Rasa server's HTTP API (``POST /model/parse``).

It knows nothing of the bot: a typed result, or :class:`NluUnavailable` saying what failed.
"""

from __future__ import annotations

from dataclasses import dataclass
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
        return cls(
            label=str(intent.get("name") or FALLBACK_LABEL),
            confidence=float(intent.get("confidence") or 0.0),
            ranking=ranking,
            entities=entities,
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
            raise _Retryable(f"NLU server at {self.base_url} timed out") from exc
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
