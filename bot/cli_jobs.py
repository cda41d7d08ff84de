"""``bot jobs …``: run the background jobs once (for operators and tests), and see the outbox."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from sqlalchemy import func, select

from bot.backend_runtime import backend_runtime
from bot.logs import configure_logging
from bot.settings import Settings
from bot.storage import models
from bot.storage.db import create_engine, sessions
from bot.wiring import build_jobs

jobs_app = typer.Typer(help="Background jobs: outbox, notifications, progress sync.", no_args_is_help=True)


@jobs_app.command("once")
def once(
    only: Annotated[
        str | None, typer.Option(help="outbox, notifications, sync, handoffs or retention")
    ] = None,
) -> None:
    """Run each job once and print what it did."""
    settings = Settings()
    configure_logging(settings.log_level)

    async def run() -> dict[str, object]:
        database = create_engine(settings)
        try:
            async with backend_runtime(settings) as backend:
                jobs = build_jobs(settings, database, backend)
                done: dict[str, object] = {}
                if only in (None, "outbox"):
                    done["outbox"] = vars(await jobs.outbox.flush_once())
                if only in (None, "handoffs"):
                    done["handoffs"] = await jobs.handoffs.poll_once()
                if only in (None, "sync"):
                    done["sync"] = vars(await jobs.sync.sync_once())
                if only in (None, "notifications"):
                    done["notifications"] = vars(await jobs.dispatcher.dispatch_once())
                if only in (None, "retention"):
                    purged = await jobs.retention.purge_once()
                    done["retention"] = {f: getattr(purged, f) for f in purged.__slots__}
                return done
        finally:
            await database.dispose()

    typer.echo(json.dumps(asyncio.run(run()), ensure_ascii=False))


@jobs_app.command("status")
def status() -> None:
    """Outbox and notification rows by kind and status."""
    settings = Settings()
    configure_logging(settings.log_level)

    async def run() -> dict[str, dict[str, int]]:
        database = create_engine(settings)
        try:
            async with sessions(database)() as session:
                outbox = await session.execute(
                    select(models.OutboxItem.kind, models.OutboxItem.status, func.count()).group_by(
                        models.OutboxItem.kind, models.OutboxItem.status
                    )
                )
                notes = await session.execute(
                    select(models.Notification.status, func.count()).group_by(models.Notification.status)
                )
                return {
                    "outbox": {f"{k}/{s}": n for k, s, n in outbox.all()},
                    "notifications": {s: n for s, n in notes.all()},
                }
        finally:
            await database.dispose()

    typer.echo(json.dumps(asyncio.run(run()), ensure_ascii=False, indent=2))
