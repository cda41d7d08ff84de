"""The dialog engine: one inbound message in, the replies out, exactly once.

One turn:
  1. under the resident's lock (messages of one resident are handled in order, never interleaved),
  2. a message already handled returns its recorded replies (redeliveries step nothing),
  3. the text is normalised and classified (before the transaction: no database transaction is
     held open across a network call to the NLU),
  4. in one database transaction: load the state, step the flow, save the new state, the
     outgoing work and the record of the message with its replies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from bot.dialogs.messages import Inbound, Outbound
from bot.dialogs.ports import Classifies, DuplicateMessage, TurnStore
from bot.dialogs.router import Router
from bot.dialogs.turn import Services, Turn
from bot.nlu.classifier import Classification

log = structlog.get_logger(__name__)


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: tuple[str, str]) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``messages`` handled per resident within ``window``; beyond, a polite pause
    (the NLU and the database are shared by everyone: one flooding client must not starve them)."""

    messages: int
    window: timedelta


class DialogEngine:
    def __init__(
        self,
        *,
        store: TurnStore,
        classifier: Classifies,
        services: Services,
        router: Router,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rate_limit: RateLimit | None = None,
    ) -> None:
        self._store = store
        self._rate_limit = rate_limit
        self._classifier = classifier
        self._services = services
        self._router = router
        self._clock = clock
        self._locks = KeyedLocks()

    async def handle(self, inbound: Inbound) -> tuple[Outbound, ...]:
        async with self._locks.hold((inbound.channel, inbound.user_id)):
            recorded = await self._store.replay(inbound.channel, inbound.user_id, inbound.message_id)
            if recorded is not None:
                log.info("turn.replayed", channel=inbound.channel)
                return recorded
            if await self._over_limit(inbound):
                log.warning("turn.rate_limited", channel=inbound.channel)
                return (self._services.replies.say("rate_limited"),)
            nlu = await self._classifier.classify(inbound.text)
            try:
                return await self._step(inbound, nlu)
            except DuplicateMessage:
                # Another process handled the same delivery between our check and our commit.
                again = await self._store.replay(inbound.channel, inbound.user_id, inbound.message_id)
                return again or ()

    async def _over_limit(self, inbound: Inbound) -> bool:
        if self._rate_limit is None or self._classifier.is_urgent(inbound.text):
            return False  # danger is never kept waiting
        since = self._clock() - self._rate_limit.window
        handled = await self._store.recent_messages(inbound.channel, inbound.user_id, since)
        return handled >= self._rate_limit.messages

    async def _step(self, inbound: Inbound, nlu: Classification) -> tuple[Outbound, ...]:
        async with self._store.transaction(inbound.channel, inbound.user_id) as tx:
            recorded = await tx.replay(inbound.message_id)
            if recorded is not None:
                return recorded
            state = await tx.load_state()
            turn = Turn(
                inbound=inbound, text=nlu.text, nlu=nlu, now=self._clock(), desk=tx, svc=self._services
            )
            step = await self._router.route(turn, state, await tx.active_handoff())
            replies = (*await tx.take_held_notifications(), *step.replies)
            await tx.save_state(step.state)
            for work in step.work:
                await tx.add_work(work)
            await tx.record_message(inbound, replies)
        log.info(
            "turn.done",
            channel=inbound.channel,
            intent=nlu.intent.value if nlu.intent else None,
            flow=step.state.flow,
            step=step.state.step,
            work=[type(w).__name__ for w in step.work],
        )
        return replies
