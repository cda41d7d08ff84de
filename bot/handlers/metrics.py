"""``/metrics``: Prometheus text format. Queue depths are read from the database at each scrape
(they are shared by every process); counters and histograms are this process's own."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select

from bot import metrics
from bot.storage import models

router = APIRouter()


@router.get("/metrics")
async def scrape(request: Request) -> Response:
    database = request.app.state.runtime.database
    try:
        async with database.connect() as connection:
            outbox = await connection.scalar(
                select(func.count())
                .select_from(models.OutboxItem)
                .where(models.OutboxItem.status.in_(("pending", "claimed")))
            )
            waiting = await connection.scalar(
                select(func.count())
                .select_from(models.Notification)
                .where(models.Notification.status.in_(("pending", "claimed", "held")))
            )
        metrics.OUTBOX_DEPTH.set(outbox or 0)
        metrics.NOTIFICATIONS_WAITING.set(waiting or 0)
    except Exception:  # the database is down: the counters still tell what this process saw
        metrics.OUTBOX_DEPTH.set(float("nan"))
        metrics.NOTIFICATIONS_WAITING.set(float("nan"))
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
