"""Prometheus metrics, served at ``/metrics``.

The instruments wrap the parts they measure (the engine, the NLU parser) instead of living
inside them, so the domain stays free of monitoring code. One bot process exposes its own
figures; with several processes, scrape each (they are labelled by the scraper's target).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot.dialogs.messages import Inbound, Outbound
from bot.nlu.client import NluUnavailable, ParseResult

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_IN = Counter("bot_messages_in", "Messages received from residents", ["channel"], registry=REGISTRY)
MESSAGES_OUT = Counter("bot_messages_out", "Replies sent to residents", ["channel"], registry=REGISTRY)
RATE_LIMITED = Counter(
    "bot_rate_limited", "Messages refused because a resident sent too many", ["channel"], registry=REGISTRY
)
TURN_SECONDS = Histogram(
    "bot_turn_seconds",
    "Time to answer one message (lock, NLU, transaction)",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8),
    registry=REGISTRY,
)
NLU_SECONDS = Histogram(
    "bot_nlu_seconds",
    "Time of one parse by the Rasa server",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3),
    registry=REGISTRY,
)
NLU_FAILURES = Counter(
    "bot_nlu_failures", "Parses that failed (the bot fell back to its menu)", registry=REGISTRY
)
OUTBOX_DEPTH = Gauge("bot_outbox_depth", "Outgoing work to the case system not yet done", registry=REGISTRY)
NOTIFICATIONS_WAITING = Gauge(
    "bot_notifications_waiting",
    "Notifications pending or held for a resident's next message",
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "bot_notifications",
    "Notifications handled, by outcome (sent, held, retried, failed)",
    ["channel", "outcome"],
    registry=REGISTRY,
)
WECHAT_LATE_REPLIES = Counter(
    "bot_wechat_late_replies",
    "WeChat replies that missed the passive-reply budget counted from the request's arrival: "
    "how=pushed went by customer-service message, how=passive went passively after the budget",
    ["how"],
    registry=REGISTRY,
)
for _how in ("pushed", "passive"):  # both series exist, at 0, from the start
    WECHAT_LATE_REPLIES.labels(how=_how)
#: Seconds, from a request's arrival (bot/timing.py), to the WeChat handler starting on it (body
#: read): the event loop, uvicorn and the body read, which a deadline counted from the route missed.
WECHAT_QUEUE_SECONDS = Histogram(
    "bot_wechat_queue_seconds",
    "WeChat requests: arrival (first bytes read) to the handler starting on the message",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4),
    registry=REGISTRY,
)
WECHAT_RESPONSE_SECONDS = Histogram(
    "bot_wechat_response_seconds",
    "WeChat requests: arrival to the answer handed to the server, by answer "
    "(passive: the reply itself; success: nothing to say or the late path; refused: 4xx)",
    ["answer"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 4.5, 5, 6, 8, 12),
    registry=REGISTRY,
)
#: WeChat's ``timestamp`` (its clock when it sent the request, whole seconds) to our arrival
#: stamp: a wait before the process saw the request (the kernel's accept queue, a proxy) shows
#: here, within a second and any clock skew; the deadline does not use it.
WECHAT_ARRIVAL_DELAY = Histogram(
    "bot_wechat_arrival_delay_seconds",
    "WeChat requests: WeChat's timestamp (1 s resolution) to the request's arrival here",
    buckets=(1, 2, 3, 4, 5, 10, 30),
    registry=REGISTRY,
)
REQUEST_START_SECONDS = Histogram(
    "bot_request_start_seconds",
    "HTTP requests: first bytes read by the server to the app starting on the request",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2),
    registry=REGISTRY,
)
EVENT_LOOP_LAG = Histogram(
    "bot_event_loop_lag_seconds",
    "How late the event loop ran a 0.1 s timer: what any ready callback waited behind other work",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2),
    registry=REGISTRY,
)


class MeasuredParser:
    """Wraps the Rasa client: parse latency and failures."""

    def __init__(self, parser: Callable[[str], Awaitable[ParseResult]]) -> None:
        self._parse = parser

    async def parse(self, text: str) -> ParseResult:
        started = time.perf_counter()
        try:
            return await self._parse(text)
        except NluUnavailable:
            NLU_FAILURES.inc()
            raise
        finally:
            NLU_SECONDS.observe(time.perf_counter() - started)


class MeasuredEngine:
    """Wraps the dialog engine: messages in and out per channel, turn latency."""

    def __init__(self, handle: Callable[[Inbound], Awaitable[tuple[Outbound, ...]]]) -> None:
        self._handle = handle

    async def handle(self, inbound: Inbound) -> tuple[Outbound, ...]:
        MESSAGES_IN.labels(inbound.channel).inc()
        started = time.perf_counter()
        replies = await self._handle(inbound)
        TURN_SECONDS.labels(inbound.channel).observe(time.perf_counter() - started)
        MESSAGES_OUT.labels(inbound.channel).inc(len(replies))
        if replies and replies[-1].key == "rate_limited":
            RATE_LIMITED.labels(inbound.channel).inc()
        return replies
