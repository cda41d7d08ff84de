"""The WeChat official account's webhook: ``GET /wechat`` (WeChat's server check) and
``POST /wechat`` (messages and events from residents).

One POST: authenticate (signature, timestamp window, and in safe mode the ciphertext's own
signature) → decrypt → parse → remember the nonce → convert → record the resident's contact →
run the turn within the reply budget. In time, the reply goes back passively (encrypted in safe
mode); too slow, the answer is ``success`` at once and the replies follow as notifications
(customer-service messages) when the turn ends. WeChat retries a message it got no answer to:
the engine answers a retry from its record, and a retry of a message that went late gets
``success`` again.

What the resident sees is never a malformed reply (WeChat would show them "该公众号暂时无法
提供服务"): an unexpected error is logged and answered ``success``. Forged or hostile requests
get a 4xx and leave nothing behind.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import metrics
from bot.dialogs.messages import Outbound
from bot.dialogs.ports import HandlesTurns
from bot.dialogs.replies import Replies
from bot.settings import Settings
from bot.storage.db import sessions
from bot.wechat import delivery, render
from bot.wechat.envelope import MAX_BODY, Envelope, Opened, Rejected, text_reply
from bot.wechat.inbound import Answer, Ignore, Received, Run, convert
from bot.wechat.menu_file import Menu, load_menu
from bot.wechat.security import NonceVerdict, body_digest, check_nonce, validate_settings

log = structlog.get_logger(__name__)
router = APIRouter()

SUCCESS = "success"  # WeChat's "received, nothing to reply" (and no retry)


def _success() -> Response:
    return PlainTextResponse(SUCCESS)


def _short(value: str) -> str:
    """A short hash for logs: which resident, without their openid."""
    return hashlib.sha256(value.encode()).hexdigest()[:10]


@dataclass(slots=True)
class WeChatWebhook:
    """What the routes need, built once per app from the runtime."""

    settings: Settings
    envelope: Envelope
    menu: Menu
    sessions: async_sessionmaker[AsyncSession]
    engine: HandlesTurns
    replies: Replies
    #: Late deliveries still running; kept so they are not garbage-collected mid-way.
    background: set[asyncio.Task[None]] = field(default_factory=set)
    #: Messages (by ``delivery.message_ref``) whose late turn is still running in this process.
    in_flight: set[str] = field(default_factory=set)

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

    async def receive(self, query: dict[str, str], body: bytes, started: float) -> Response:
        now = datetime.now(UTC)
        try:
            opened = self.envelope.open(query, body, now)
            received = convert(opened.xml, self.menu)
            late = await self._admit(opened, received, now)
        except Rejected as rejected:
            log.warning("wechat.rejected", status=rejected.status, reason=rejected.reason)
            return Response(status_code=rejected.status)
        except Exception:  # the database, most likely: WeChat must still get a well-formed answer
            log.exception("wechat.failed_before_turn")
            return _success()
        if late or isinstance(received.action, Ignore):
            return _success()  # a late reply comes as a notification; some events need no answer
        try:
            return await self._answer(opened, received, started, now)
        except Exception:
            log.exception("wechat.failed", resident=_short(received.openid))
            return _success()

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
            late = await delivery.went_late(session, received.openid, received.message_id)
        return late or delivery.message_ref(received.openid, received.message_id) in self.in_flight

    async def _answer(self, opened: Opened, received: Received, started: float, now: datetime) -> Response:
        action = received.action
        if not isinstance(action, Run):  # Answer (Ignore never gets here)
            keys = action.keys if isinstance(action, Answer) else ()
            return await self._reply(opened, received, tuple(self.replies.say(k) for k in keys), now)
        turn = asyncio.create_task(self.engine.handle(action.inbound))
        remaining = self.settings.wechat_reply_budget - (asyncio.get_running_loop().time() - started)
        try:
            done = await asyncio.wait_for(asyncio.shield(turn), timeout=max(remaining, 0.0))
        except TimeoutError:
            await self._go_late(turn, received, action)
            return _success()
        return await self._reply(opened, received, (*self._before(action), *done), now)

    def _before(self, action: Run) -> tuple[Outbound, ...]:
        return tuple(self.replies.say(key) for key in action.before)

    async def _reply(
        self, opened: Opened, received: Received, outbounds: tuple[Outbound, ...], now: datetime
    ) -> Response:
        parts = render.split(render.render(outbounds, self.replies))
        if not parts:
            return _success()  # e.g. staff hold the conversation: the bot stays quiet
        if len(parts) > 1:
            async with self.sessions.begin() as session:
                await delivery.queue_texts(
                    session, received.openid, received.message_id, parts[1:], kind=delivery.MORE
                )
        xml = text_reply(account=received.account, openid=received.openid, content=parts[0], now=now)
        return Response(self.envelope.seal(xml, opened), media_type="application/xml")

    # --- the late path ---

    async def _go_late(
        self, turn: asyncio.Task[tuple[Outbound, ...]], received: Received, action: Run
    ) -> None:
        ref = delivery.message_ref(received.openid, received.message_id)
        self.in_flight.add(ref)
        metrics.WECHAT_LATE_REPLIES.inc()
        try:
            async with self.sessions.begin() as session:
                await delivery.mark_late(session, received.openid, received.message_id, datetime.now(UTC))
        except Exception:  # the in-process mark still covers retries reaching this process
            log.exception("wechat.late_mark_failed", resident=_short(received.openid))
        task = asyncio.create_task(self._deliver_late(turn, received, action, ref))
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        log.info("wechat.reply_late", resident=_short(received.openid))

    async def _deliver_late(
        self, turn: asyncio.Task[tuple[Outbound, ...]], received: Received, action: Run, ref: str
    ) -> None:
        try:
            outbounds = (*self._before(action), *await turn)
            parts = render.split(render.render(outbounds, self.replies))
            async with self.sessions.begin() as session:
                await delivery.queue_texts(
                    session, received.openid, received.message_id, parts, kind=delivery.LATE
                )
        except Exception:
            log.exception("wechat.late_reply_failed", resident=_short(received.openid))
        finally:
            self.in_flight.discard(ref)

    async def drain(self) -> None:
        """Wait for late replies still being prepared (at shutdown)."""
        if self.background:
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
    started = asyncio.get_running_loop().time()
    webhook = _webhook(request)
    if isinstance(webhook, Response):
        return webhook
    body = await request.body()  # over MAX_BODY: Starlette answers 413 before we see it
    return await webhook.receive(dict(request.query_params), body, started)
