"""``POST /backend/events``: the case system says a feed moved (a staff member moved a case,
wrote to a resident, took a conversation). The call is signed with the shared secret
(``backend_client.webhook``) and carries no data: the bot reads its feeds now instead of at the
next poll, so a resident hears of it within seconds. Anything unsigned is refused; a replayed or
repeated call costs one feed read that finds nothing new."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from backend_client.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

router = APIRouter()
#: The call carries nothing; a larger body is not from the case system.
MAX_BODY = 4096


@router.post("/backend/events", include_in_schema=False)
async def feeds_moved(request: Request) -> Response:
    runtime = request.app.state.runtime
    backend, jobs = runtime.backend, runtime.jobs
    if backend is None or jobs is None or not backend.webhook_secret:
        return Response(status_code=404)
    body = await request.body()
    headers = request.headers
    signed = verify(
        backend.webhook_secret,
        headers.get(TIMESTAMP_HEADER),
        headers.get(SIGNATURE_HEADER),
        body,
        time.time(),
    )
    if len(body) > MAX_BODY or not signed:
        return Response(status_code=403)
    if runtime.scheduler is not None:  # a process without jobs leaves the feeds to the others
        jobs.nudge_feeds()
    return Response(status_code=204)
