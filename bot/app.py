"""The bot's web application: ``create_app(settings)`` builds it; uvicorn runs it (``bot run``).

One app serves every door: the web chat, the WeChat and Telegram webhooks, health and metrics.
Its lifespan starts and stops everything the bot needs (``bot.wiring.runtime``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bot.admin.session import ConsoleGate
from bot.dialogs.replies import Replies
from bot.handlers import admin, backend_events, health, metrics, telegram, web, wechat
from bot.settings import Settings
from bot.timing import ArrivalStamp, watch_event_loop
from bot.wiring import Runtime, runtime


def create_app(settings: Settings, *, on_ready: Callable[[Runtime], None] | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime(settings) as rt, watch_event_loop():
            app.state.runtime = rt
            if on_ready is not None:
                on_ready(rt)
            yield

    app = FastAPI(
        title="Mediation bot",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        max_body_size=settings.max_request_bytes,
    )
    app.state.settings = settings
    app.state.replies = Replies.load(settings.knowledge_dir)
    for module in (health, metrics, web, wechat, telegram, backend_events):
        app.include_router(module.router)
    app.mount(web.STATIC_PREFIX, web.static_files(), name="chat-static")
    app.include_router(admin.router)
    # Sessions and security headers for /admin only; the residents' routes never see the cookie.
    app.add_middleware(ConsoleGate, settings=settings)
    # Added last, so outermost: each request's arrival is known before anything makes it wait.
    app.add_middleware(ArrivalStamp)
    return app
