"""The desk's web application: ``create_app(settings)``; uvicorn runs it (``python -m casedesk serve``).

At start-up the lifespan creates the tables that are missing (``create_all``; this reference
desk has no migrations, see ``casedesk.db``) and the attachments directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from casedesk import api, staff
from casedesk.db import create_engine, create_tables
from casedesk.errors import DeskError, problem_response
from casedesk.gate import Gate
from casedesk.settings import Settings
from casedesk.store import Desk
from casedesk.webhook import FeedPinger

STATIC = Path(__file__).resolve().parent / "static"
SESSION_HOURS = 12
DESCRIPTION = (
    "The case-system API the mediation bot speaks (docs/backend-api.md). A centre with its own "
    "platform implements it; the reference case desk (casedesk/) serves it. Every call needs "
    "`Authorization: Bearer <token>`; every create takes an `Idempotency-Key`; errors are "
    "Problem JSON."
)

log = logging.getLogger("casedesk")


def _is_api(request: Request) -> bool:
    return request.url.path == api.PREFIX or request.url.path.startswith(api.PREFIX + "/")


def _validation_detail(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors()[:10]:
        location = ".".join(str(part) for part in item.get("loc", ()))
        parts.append(f"{location}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with the Problem bodies under ``application/problem+json`` (what the
    desk sends) instead of ``application/json``."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
        )
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    if "application/problem+json" in content and "application/json" in content:
                        content["application/problem+json"] = content.pop("application/json")
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        pinging: asyncio.Task[None] | None = None
        try:
            await create_tables(engine, settings)
            settings.attachments_dir.mkdir(parents=True, exist_ok=True)
            app.state.desk = desk = Desk(settings, engine)
            if settings.bot_webhook_url and settings.bot_webhook_secret:
                desk.pinger = FeedPinger(
                    settings.bot_webhook_url, settings.bot_webhook_secret.get_secret_value()
                )
                pinging = asyncio.create_task(desk.pinger.run())
            yield
        finally:
            if pinging is not None:  # cancelled and awaited: its HTTP client closes its connections
                pinging.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pinging
            await engine.dispose()

    app = FastAPI(
        title="Case-system API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # the Swagger page loads its scripts from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
        generate_unique_id_function=lambda route: route.name,  # operationId: create_case, …
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.templates = staff.build_templates(settings)
    app.include_router(api.router)
    app.include_router(staff.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(DeskError)
    async def desk_error(request: Request, error: DeskError) -> Response:
        headers = {"www-authenticate": "Bearer"} if error.status == 401 else None
        if _is_api(request):
            return problem_response(error.status, error.detail, title=error.title, headers=headers)
        return Response(error.detail, status_code=error.status, media_type="text/plain; charset=utf-8")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        detail = _validation_detail(error)
        if _is_api(request):
            return problem_response(422, detail)
        return Response(f"invalid request: {detail}", status_code=400, media_type="text/plain; charset=utf-8")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if _is_api(request):
            return problem_response(error.status_code, str(error.detail), headers=dict(error.headers or {}))
        return Response(
            str(error.detail), status_code=error.status_code, media_type="text/plain; charset=utf-8"
        )

    @app.exception_handler(staff.SignedOut)
    async def signed_out(request: Request, _error: staff.SignedOut) -> Response:
        if request.url.path.endswith(".json"):
            return Response('{"error":"signed out"}', status_code=401, media_type="application/json")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/queue"
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(staff.CsrfRefused)
    async def csrf_refused(request: Request, _error: staff.CsrfRefused) -> Response:
        return await staff.render(
            request,
            "error.html",
            {"message": "表单已过期或来源不明，操作未执行。请返回刷新页面后重试。"},
            staff=await staff.current_staff(request),
            status_code=403,
        )

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
        if _is_api(request):
            return problem_response(500, "the desk failed; the error is in its log")
        return Response("服务器出错，请稍后重试", status_code=500, media_type="text/plain; charset=utf-8")

    # Outermost last: the gate sees every request first.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret,
        session_cookie="casedesk_session",
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=settings.https_only,
    )
    app.add_middleware(Gate, settings=settings)
    return app
