"""The WeChat official account's webhook: ``GET /wechat`` (WeChat's server check) and
``POST /wechat`` (messages and events from residents).

One POST: authenticate (signature, timestamp window, and in safe mode the ciphertext's own
signature) → decrypt → parse → remember the nonce → convert → record the resident's contact →
run the turn within the reply budget. In time, the reply goes back passively (encrypted in safe
mode); too slow, the answer is ``success`` at once and the replies follow as notifications
(customer-service messages) when the turn ends. WeChat retries a message it got no answer to:
the engine answers a retry from its record, and a retry of a message that went late gets
``success`` again.

The budget counts from the request's arrival (``bot.timing``: the first bytes read from the
socket), as WeChat's five seconds count from its sending: time queued behind other requests,
the event loop or the database counts against it. Everything after decryption — admitting the
message (a database transaction that may queue), the turn — runs as one task the request waits
for until the deadline; past it the late path answers ``success`` and the task goes on. A
passive reply that still leaves after the budget (rendering, queuing a long reply's other parts)
is counted late too (``bot_wechat_late_replies_total{how="passive"}``).

What the resident sees is never a malformed reply (WeChat would show them "该公众号暂时无法
提供服务"): an unexpected error is logged and answered ``success``. Forged or hostile requests
get a 4xx and leave nothing behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Coroutine
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import Receive, Scope, Send

from bot import metrics
from bot.dialogs.messages import Outbound
from bot.dialogs.ports import HandlesTurns
from bot.dialogs.replies import Replies
from bot.settings import Settings
from bot.storage.db import sessions
from bot.timing import Arrival, arrival_of
from bot.wechat import delivery, render
from bot.wechat.envelope import MAX_BODY, Envelope, Opened, Rejected, text_reply
from bot.wechat.inbound import Ignore, Received, Run, convert
from bot.wechat.menu_file import Menu, load_menu
from bot.wechat.security import NonceVerdict, body_digest, check_nonce, validate_settings

log = structlog.get_logger(__name__)
router = APIRouter()

SUCCESS = "success"  # WeChat's "received, nothing to reply" (and no retry)
#: WeChat waits this long for an answer, from its sending, then drops the request and retries.
WECHAT_WAITS = 5.0
#: Kept free of WeChat's five seconds for the answer's way back: past the reply budget, the late
#: path may wait for its mark until ``WECHAT_WAITS - ANSWER_MARGIN`` after arrival, no longer.
#: Under a burst of 100 residents the client read ``success`` up to 0.46 s after the bot decided
#: to send it (the wait before arrival, the loop), so 0.5 was too little (docs/performance.md).
ANSWER_MARGIN = 0.75


class _Answer(Response):
    """A response that, once handed to the server, records how long after the request's arrival
    it left, and counts a passive reply that left after the budget as late."""

    def __init__(
        self,
        content: str | bytes = b"",
        *,
        status_code: int = 200,
        media_type: str | None = None,
        answer: str,
        arrival: Arrival,
        budget: float,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(content, status_code=status_code, media_type=media_type)
        self._answer, self._arrival, self._budget, self._clock = answer, arrival, budget, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)
        elapsed = self._clock() - self._arrival.monotonic
        metrics.WECHAT_RESPONSE_SECONDS.labels(self._answer).observe(max(elapsed, 0.0))
        if self._answer == "passive" and elapsed > self._budget:
            metrics.WECHAT_LATE_REPLIES.labels(how="passive").inc()
            log.warning("wechat.passive_reply_late", seconds=round(elapsed, 3))


def _short(value: str) -> str:
    """A short hash for logs: which resident, without their openid."""
    return hashlib.sha256(value.encode()).hexdigest()[:10]


def _arrival_delay(timestamp: str, arrival: Arrival) -> None:
    """WeChat's ``timestamp`` (whole seconds, its clock) to our arrival: waits before the process
    saw the request (the kernel's accept queue) show here, give or take a second."""
    with suppress(ValueError):
        metrics.WECHAT_ARRIVAL_DELAY.observe(max(arrival.wall - int(timestamp), 0.0))


@dataclass(slots=True)
class WeChatWebhook:
    """What the routes need, built once per app from the runtime."""

    settings: Settings
    envelope: Envelope
    menu: Menu
    sessions: async_sessionmaker[AsyncSession]
    engine: HandlesTurns
    replies: Replies
    #: Late deliveries and marks still running; kept so they are not garbage-collected mid-way.
    background: set[asyncio.Task[None]] = field(default_factory=set)
    #: Messages (by ``delivery.message_ref``) whose late turn is still running in this process,
    #: and the request that owns it (its ``admitted`` future): WeChat's retries are not the owner.
    in_flight: dict[str, asyncio.Future[bool]] = field(default_factory=dict)
    #: The clock of arrivals and deadlines (``bot.timing``); tests move it.
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def build(cls, settings: Settings, database: AsyncEngine, engine: HandlesTurns) -> WeChatWebhook:
        """Built by the runtime at start-up; raises ``WeChatConfigError`` on bad settings."""
        validate_settings(settings)
        return cls(
            settings=settings,
            envelope=Envelope(settings),
            menu=load_menu(settings.knowledge_dir),
            sessions=sessions(database),
            engine=engine,
            replies=Replies.load(settings.knowledge_dir),
        )

    # --- one message ---

    async def receive(self, query: dict[str, str], body: bytes, arrival: Arrival) -> Response:
        metrics.WECHAT_QUEUE_SECONDS.observe(max(self.clock() - arrival.monotonic, 0.0))
        now = datetime.now(UTC)
        try:
            opened = self.envelope.open(query, body, now)
            received = convert(opened.xml, self.menu)
        except Rejected as rejected:
            log.warning("wechat.rejected", status=rejected.status, reason=rejected.reason)
            return self._respond(arrival, "refused", status_code=rejected.status)
        except Exception:
            log.exception("wechat.failed_before_turn")
            return self._success(arrival)
        _arrival_delay(opened.timestamp, arrival)
        ref = delivery.message_ref(received.openid, received.message_id)
        admitted: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        work = asyncio.create_task(self._work(opened, received, now, ref, admitted))
        work.add_done_callback(lambda _: None if admitted.done() else admitted.set_result(False))
        try:
            outbounds = await asyncio.wait_for(asyncio.shield(work), timeout=self._left(arrival))
        except TimeoutError:
            if isinstance(received.action, Ignore) or self._retry(ref, admitted):
                # Nothing to say, or a retry of a message whose late turn runs here (that turn
                # pushes the reply): let the bookkeeping finish.
                self._keep(self._settle(work))
                return self._success(arrival)
            return await self._go_late(work, admitted, received, ref, arrival)
        except Rejected as rejected:
            log.warning("wechat.rejected", status=rejected.status, reason=rejected.reason)
            return self._respond(arrival, "refused", status_code=rejected.status)
        except Exception:  # the database, most likely: WeChat must still get a well-formed answer
            log.exception("wechat.failed", resident=_short(received.openid))
            return self._success(arrival)
        if outbounds is None:
            return self._success(arrival)  # a late reply comes as a notification; some events need no answer
        try:
            return await self._reply(opened, received, outbounds, now, arrival)
        except Exception:
            log.exception("wechat.failed", resident=_short(received.openid))
            return self._success(arrival)

    def _retry(self, ref: str, request: asyncio.Future[bool]) -> bool:
        """Whether another request of this message has its late turn running in this process."""
        return self.in_flight.get(ref, request) is not request

    def _left(self, arrival: Arrival) -> float:
        """Seconds left of the reply budget, counted from the request's arrival."""
        return max(arrival.monotonic + self.settings.wechat_reply_budget - self.clock(), 0.0)

    async def _work(
        self, opened: Opened, received: Received, now: datetime, ref: str, admitted: asyncio.Future[bool]
    ) -> tuple[Outbound, ...] | None:
        """Admit the message, then its replies; None: nothing to say (an event that needs no
        answer, or a retry of a message whose reply goes late). ``admitted`` tells the late path
        whether the turn runs, once the admission's checks are done (its mark must come after)."""
        late = await self._admit(opened, received, now) or self._retry(ref, admitted)
        action = received.action
        admitted.set_result(not late and not isinstance(action, Ignore))
        if late or isinstance(action, Ignore):
            return None
        if isinstance(action, Run):
            return (*self._before(action), *await self.engine.handle(action.inbound))
        return tuple(self.replies.say(k) for k in action.keys)

    async def _admit(self, opened: Opened, received: Received, now: datetime) -> bool:
        """Remember the nonce (refusing a replay), record the contact; True when this message's
        reply already went the late path (a retry must not get a second copy)."""
        async with self.sessions.begin() as session:
            # The digest of the message, not of the body: a ciphertext is re-encrypted with fresh
            # randomness, and in safe mode msg_signature already binds the body to the nonce.
            verdict = await check_nonce(
                session,
                nonce=opened.nonce,
                digest=body_digest(opened.xml.encode("utf-8")),
                now=now,
                window=self.settings.wechat_timestamp_window,
            )
            if verdict is NonceVerdict.REPLAY:
                raise Rejected(403, "nonce replayed with another body")
            if not received.opens_window:
                return False
            await delivery.record_contact(session, received.openid, now)
            return await delivery.went_late(session, received.openid, received.message_id)

    def _before(self, action: Run) -> tuple[Outbound, ...]:
        return tuple(self.replies.say(key) for key in action.before)

    async def _reply(
        self,
        opened: Opened,
        received: Received,
        outbounds: tuple[Outbound, ...],
        now: datetime,
        arrival: Arrival,
    ) -> Response:
        parts = render.split(render.render(outbounds, self.replies))
        if not parts:
            return self._success(arrival)  # e.g. staff hold the conversation: the bot stays quiet
        if len(parts) > 1:
            async with self.sessions.begin() as session:
                await delivery.queue_texts(
                    session, received.openid, received.message_id, parts[1:], kind=delivery.MORE
                )
        xml = text_reply(account=received.account, openid=received.openid, content=parts[0], now=now)
        return self._respond(arrival, "passive", self.envelope.seal(xml, opened), "application/xml")

    def _respond(
        self,
        arrival: Arrival,
        answer: str,
        content: str | bytes = b"",
        media_type: str | None = None,
        status_code: int = 200,
    ) -> Response:
        budget = self.settings.wechat_reply_budget
        return _Answer(
            content,
            status_code=status_code,
            media_type=media_type,
            answer=answer,
            arrival=arrival,
            budget=budget,
            clock=self.clock,
        )

    def _success(self, arrival: Arrival) -> Response:
        return self._respond(arrival, "success", SUCCESS, "text/plain")

    # --- the late path ---

    async def _go_late(
        self,
        work: asyncio.Task[tuple[Outbound, ...] | None],
        admitted: asyncio.Future[bool],
        received: Received,
        ref: str,
        arrival: Arrival,
    ) -> Response:
        """Past the budget: ``success`` now, the replies as notifications when the work ends.

        The mark that this message went late is written (once the admission has looked for an
        earlier one) before ``success`` leaves, so that a retry reaching another process answers
        ``success`` too — but ``success`` leaves by ``WECHAT_WAITS - ANSWER_MARGIN`` after
        arrival whatever the database does: past WeChat's five seconds it would retry anyway.
        """
        self.in_flight[ref] = admitted
        metrics.WECHAT_LATE_REPLIES.labels(how="pushed").inc()
        mark = asyncio.create_task(self._mark_late(admitted, received))
        self._keep(self._deliver_late(work, mark, received, ref, admitted))
        answer_by = arrival.monotonic + max(self.settings.wechat_reply_budget, WECHAT_WAITS - ANSWER_MARGIN)
        try:
            await asyncio.wait_for(asyncio.shield(mark), timeout=max(answer_by - self.clock(), 0.0))
        except TimeoutError:
            log.warning("wechat.late_mark_pending", resident=_short(received.openid))
        log.info("wechat.reply_late", resident=_short(received.openid))
        return self._success(arrival)

    async def _mark_late(self, admitted: asyncio.Future[bool], received: Received) -> None:
        try:
            if not await admitted:
                return  # refused, failed, or a retry: the turn does not run here
            async with self.sessions.begin() as session:
                await delivery.mark_late(session, received.openid, received.message_id, datetime.now(UTC))
        except Exception:  # the in-process mark still covers retries reaching this process
            log.exception("wechat.late_mark_failed", resident=_short(received.openid))

    async def _deliver_late(
        self,
        work: asyncio.Task[tuple[Outbound, ...] | None],
        mark: asyncio.Task[None],
        received: Received,
        ref: str,
        owner: asyncio.Future[bool],
    ) -> None:
        try:
            outbounds = await work
            if outbounds is not None:
                parts = render.split(render.render(outbounds, self.replies))
                async with self.sessions.begin() as session:
                    await delivery.queue_texts(
                        session, received.openid, received.message_id, parts, kind=delivery.LATE
                    )
        except Rejected as rejected:
            log.warning("wechat.rejected", status=rejected.status, reason=rejected.reason)
        except Exception:
            log.exception("wechat.late_reply_failed", resident=_short(received.openid))
        finally:
            await mark
            if self.in_flight.get(ref) is owner:
                del self.in_flight[ref]

    async def _settle(self, work: asyncio.Task[tuple[Outbound, ...] | None]) -> None:
        try:
            await work
        except Rejected as rejected:
            log.warning("wechat.rejected", status=rejected.status, reason=rejected.reason)
        except Exception:
            log.exception("wechat.failed_before_turn")

    def _keep(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def drain(self) -> None:
        """Wait for late replies still being prepared (at shutdown)."""
        while self.background:
            await asyncio.gather(*self.background, return_exceptions=True)


def _webhook(request: Request) -> WeChatWebhook | Response:
    """The runtime's webhook, or 404 when WeChat is off (no BOT_WECHAT_TOKEN)."""
    webhook = request.app.state.runtime.adapters.get("wechat")
    return webhook if isinstance(webhook, WeChatWebhook) else Response(status_code=404)


@router.get("/wechat")
async def server_check(request: Request) -> Response:
    webhook = _webhook(request)
    if isinstance(webhook, Response):
        return webhook
    try:
        echostr = webhook.envelope.echo(dict(request.query_params), datetime.now(UTC))
    except Rejected as rejected:
        log.warning("wechat.check_rejected", status=rejected.status, reason=rejected.reason)
        return Response(status_code=rejected.status)
    return PlainTextResponse(echostr)


@router.post("/wechat", max_body_size=MAX_BODY)
async def receive(request: Request) -> Response:
    # Stamped when the request's first bytes were read (bot.timing), before anything waited.
    arrival = arrival_of(request.scope) or Arrival.now()
    webhook = _webhook(request)
    if isinstance(webhook, Response):
        return webhook
    body = await request.body()  # over MAX_BODY: Starlette answers 413 before we see it
    return await webhook.receive(dict(request.query_params), body, arrival)
