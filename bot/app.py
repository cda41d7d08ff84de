"""The bot's web application: ``create_app(settings)`` builds it; uvicorn runs it (``bot run``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bot.dialogs.replies import Replies
from bot.handlers import health, web
from bot.settings import Settings
from bot.wiring import Runtime, runtime


def create_app(settings: Settings, *, on_ready: Callable[[Runtime], None] | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime(settings) as rt:
            app.state.runtime = rt
            if on_ready is not None:
                on_ready(rt)
            yield

    app = FastAPI(title="Mediation bot", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.replies = Replies.load(settings.knowledge_dir)
    app.include_router(health.router)
    app.include_router(web.router)
    return app
