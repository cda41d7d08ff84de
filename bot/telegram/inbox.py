"""Telegram updates stored before Telegram hears "received", then handled from the table.

Telegram retries a webhook delivery only when it gets no 2xx answer, so the route stores the
update (unique per ``update_id``: a second delivery is not stored again) and answers 200 at once;
this inbox then claims due rows (``bot.jobs.claims``, safe with several processes), hands each to
PTB's ``process_update`` and marks it done. A failure is retried with backoff, and after
``MAX_ATTEMPTS``, or at once when retrying cannot help (the resident blocked the bot, Telegram
refused the request), the row is marked failed.

At least once: a process that dies after the replies went out but before the row was marked
done leaves the row claimed (a heartbeat renews the claims only while the process lives); when its
lease runs out, seconds later, the update is handled again, the engine returns its recorded
replies (it steps nothing twice), and the resident gets them a second time.

A handled row keeps only its ``update_id`` (the payload holds the resident's words and is
cleared); finished rows are deleted after ``RETENTION``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import ContextTypes

from bot.dialogs.engine import KeyedLocks
from bot.jobs import claims
from bot.jobs.backoff import next_attempt
from bot.jobs.claims import claim, rowcount
from bot.jobs.heartbeat import Heartbeat, TakenOver
from bot.storage.models import InboundUpdate
from bot.telegram.application import CHANNEL, TelegramApp
from bot.telegram.sender import retry_after_seconds

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 8
RETENTION = timedelta(days=7)
RELEASE_SECONDS = 5.0

#: Errors of the update being processed in this task (PTB hands handler errors to error
#: handlers instead of raising them from ``process_update``).
_failures: ContextVar[list[BaseException] | None] = ContextVar("telegram_update_failures", default=None)


async def record_failure(_update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """PTB error handler: remember the error for the inbox, which decides about retrying."""
    failures = _failures.get()
    if failures is not None and context.error is not None:
        failures.append(context.error)
    elif context.error is not None:
        log.error("telegram.handler_failed", error=type(context.error).__name__)


@dataclass
class InboxResult:
    done: int = 0
    retried: int = 0
    failed: int = 0


class _Unreadable(Exception):
    """A stored payload PTB cannot read as an update."""


class Inbox:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        application: TelegramApp,
        *,
        ready: Callable[[], Awaitable[None]],
        batch: int = 50,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._app = application
        self._ready = ready
        self._batch = batch
        self.worker_id = worker_id or f"telegram-{uuid.uuid4().hex[:8]}"
        self._clock = clock
        # One chat's updates are handled one after another, so its replies keep their order.
        self._chats = KeyedLocks()
        application.add_error_handler(record_failure)

    async def store(self, payload: dict[str, Any]) -> bool:
        """Store an update; False when this update_id was stored before (a redelivery)."""
        now = self._clock()
        values = {
            "channel": CHANNEL,
            "update_id": str(payload["update_id"]),
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "received_at": now,
        }
        async with self._sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = (
                insert(InboundUpdate)
                .values(**values)
                .on_conflict_do_nothing()
                .returning(InboundUpdate.id)  # an ORM insert's rowcount is -1 on PostgreSQL
            )
            return (await session.execute(statement)).scalar_one_or_none() is not None

    async def process_due(self, now: datetime | None = None) -> InboxResult:
        """Handle every due update, a batch at a time: chats side by side, each chat's in order."""
        now = now or self._clock()
        result = InboxResult()
        heartbeat = claims.heartbeat(self._sessions, InboundUpdate, worker=self.worker_id, clock=self._clock)
        async with heartbeat:
            while True:
                work = await self._claim(now)
                if not work:
                    return result
                heartbeat.hold(row_id for row_id, _ in work)
                try:
                    await self._ready()
                except TelegramError as exc:  # Telegram unreachable (getMe failed): hand the rows back
                    log.warning("telegram.unavailable", error=_describe(exc))
                    await self._release(
                        [row_id for row_id, _ in work], now + timedelta(seconds=RELEASE_SECONDS)
                    )
                    return result
                chats: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
                for row_id, payload in work:
                    chats[_chat_key(payload)].append((row_id, payload))
                await asyncio.gather(
                    *(self._handle_chat(key, rows, now, result, heartbeat) for key, rows in chats.items())
                )
                if len(work) < self._batch:
                    return result

    async def _claim(self, now: datetime) -> list[tuple[int, dict[str, Any]]]:
        async with self._sessions.begin() as session:
            ids = await claim(
                session, InboundUpdate, worker=self.worker_id, now=now, limit=self._batch,
                order_by=(InboundUpdate.id,), where=InboundUpdate.channel == CHANNEL,
            )  # fmt: skip
            rows = (await session.scalars(select(InboundUpdate).where(InboundUpdate.id.in_(ids)))).all()
            return sorted((row.id, row.payload) for row in rows)

    async def purge(self) -> int:
        """Delete finished rows older than ``RETENTION``."""
        async with self._sessions.begin() as session:
            gone = await session.execute(
                delete(InboundUpdate).where(
                    InboundUpdate.channel == CHANNEL,
                    InboundUpdate.status.in_(("done", "failed")),
                    InboundUpdate.received_at < self._clock() - RETENTION,
                )
            )
            return rowcount(gone)

    async def _release(self, ids: list[int], until: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(InboundUpdate)
                .where(InboundUpdate.id.in_(ids), InboundUpdate.claimed_by == self.worker_id)
                .values(status="pending", claimed_by=None, claimed_at=None, next_attempt_at=until)
            )

    async def _handle_chat(
        self,
        key: str,
        rows: list[tuple[int, dict[str, Any]]],
        now: datetime,
        result: InboxResult,
        heartbeat: Heartbeat[int],
    ) -> None:
        async with self._chats.hold((CHANNEL, key)):
            for row_id, payload in rows:
                try:
                    await heartbeat.run(row_id, self._handle(row_id, payload, now, result))
                except TakenOver:  # we stalled past the lease: the new holder handles it
                    log.warning("telegram.update_taken_over", row=row_id)

    async def _handle(self, row_id: int, payload: dict[str, Any], now: datetime, result: InboxResult) -> None:
        error = await self._process(payload)
        await self._finish(row_id, error, now, result)

    async def _process(self, payload: dict[str, Any]) -> BaseException | None:
        failures: list[BaseException] = []
        token = _failures.set(failures)
        try:
            try:
                parsed = Update.de_json(payload, self._app.bot)
            except Exception as exc:
                raise _Unreadable(type(exc).__name__) from exc
            await self._app.process_update(parsed)
        except Exception as exc:
            failures.append(exc)
        finally:
            _failures.reset(token)
        return failures[0] if failures else None

    async def _finish(
        self, row_id: int, error: BaseException | None, now: datetime, result: InboxResult
    ) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(InboundUpdate, row_id, with_for_update=True)
            if row is None or row.claimed_by != self.worker_id:
                return  # our lease ran out and another worker took the row over
            row.claimed_by, row.claimed_at = None, None
            if error is None:
                row.status, row.done_at, row.payload, row.last_error = "done", self._clock(), {}, None
                result.done += 1
                return
            row.attempts += 1
            row.last_error = _describe(error)
            if isinstance(error, Forbidden | BadRequest | _Unreadable) or row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
                result.failed += 1
                log.error("telegram.update_failed", row=row_id, attempts=row.attempts, error=row.last_error)
                return
            row.status = "pending"
            row.next_attempt_at = next_attempt(now, row.attempts)
            if isinstance(error, RetryAfter):
                row.next_attempt_at = max(
                    row.next_attempt_at, now + timedelta(seconds=retry_after_seconds(error))
                )
            result.retried += 1
            log.warning("telegram.update_retry", row=row_id, attempts=row.attempts, error=row.last_error)


def _chat_key(payload: dict[str, Any]) -> str:
    """The chat an update belongs to, read from the raw payload (no personal data kept)."""
    message = payload.get("message") or (payload.get("callback_query") or {}).get("message") or {}
    chat_id = (message.get("chat") or {}).get("id")
    return str(chat_id) if chat_id is not None else f"update:{payload.get('update_id')}"


def _describe(error: BaseException) -> str:
    # Telegram's errors say what failed; others (database, engine) may quote the resident's words.
    return (
        f"{type(error).__name__}: {error}"[:300] if isinstance(error, TelegramError) else type(error).__name__
    )
