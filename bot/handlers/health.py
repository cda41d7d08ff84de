"""``/healthz`` (the process is up) and ``/readyz`` (it can do its job: NLU and database answer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import text

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, response: Response) -> dict[str, Any]:
    runtime = request.app.state.runtime
    servers = await runtime.nlu.client.readiness()
    # Ready while any NLU server answers (the pool fails over); each one is listed for operators.
    checks: dict[str, str] = {"nlu": "ok" if any(servers.values()) else "down"}
    if runtime.backend is not None:
        checks["backend"] = "ok" if await runtime.backend.client.is_reachable() else "down"
    try:
        async with runtime.database.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # any failure means "not ready"
        checks["database"] = "down"
    if any(v != "ok" for v in checks.values()):
        response.status_code = 503
    return {**checks, "nlu_servers": {url: "ok" if up else "down" for url, up in servers.items()}}
