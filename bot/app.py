"""The bot's web application: ``create_app(settings)`` builds it; uvicorn runs it (``bot run``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bot.dialogs.replies import Centre
from bot.handlers import health, web
from bot.settings import Settings
from bot.wiring import runtime


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime(settings) as rt:
            app.state.runtime = rt
            yield

    app = FastAPI(title="Mediation bot", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.centre_name = Centre.load(settings.knowledge_dir).name
    app.include_router(health.router)
    app.include_router(web.router)
    return app
