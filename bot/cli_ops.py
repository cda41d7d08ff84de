"""Operator commands: ``bot db upgrade``, ``bot cases list|show``."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from sqlalchemy import select

from bot.cases.steps import CaseSteps
from bot.dialogs.parsing import mask_phone
from bot.logs import configure_logging
from bot.nlu.labels import DisputeCatalog
from bot.settings import Settings
from bot.storage import models
from bot.storage.db import create_engine, sessions
from bot.storage.migrate import upgrade

db_app = typer.Typer(help="The database.", no_args_is_help=True)
cases_app = typer.Typer(help="Cases residents reported (phones masked).", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    settings = Settings()
    configure_logging(settings.log_level)
    upgrade(settings)
    typer.echo("database is up to date")


def _case_json(case: models.Case, outbox_status: str | None) -> dict[str, Any]:
    return {
        "reference": case.reference,
        "dispute_type": case.dispute_type,
        "step": case.step,
        "filed": case.backend_case_no is not None,
        "backend_case_no": case.backend_case_no,
        "phone": mask_phone(case.phone or ""),
        "channel": case.channel,
        "created_at": case.created_at.isoformat(),
        "filing": outbox_status,
    }


async def _load_cases(
    settings: Settings, reference: str | None = None
) -> list[tuple[models.Case, str | None]]:
    engine = create_engine(settings)
    try:
        async with sessions(engine)() as session:
            query = (
                select(models.Case, models.OutboxItem.status)
                .outerjoin(
                    models.OutboxItem,
                    (models.OutboxItem.case_id == models.Case.id) & (models.OutboxItem.kind == "file_case"),
                )
                .order_by(models.Case.id)
            )
            if reference:
                query = query.where(models.Case.reference == reference.upper())
            return [(case, status) for case, status in (await session.execute(query)).all()]
    finally:
        await engine.dispose()


@cases_app.command("list")
def cases_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per case")] = False,
) -> None:
    """List the cases (reference, type, step, masked phone)."""
    settings = Settings()
    configure_logging(settings.log_level)
    rows = asyncio.run(_load_cases(settings))
    catalog = DisputeCatalog.load(settings.knowledge_dir)
    steps = CaseSteps.load(settings.knowledge_dir)
    for case, status in rows:
        if as_json:
            typer.echo(json.dumps(_case_json(case, status), ensure_ascii=False))
        else:
            step = steps.get(case.step).name if case.step else f"未提交({status or '-'})"
            kind = catalog.get(case.dispute_type).name
            when = f"{case.created_at:%Y-%m-%d %H:%M}"
            typer.echo(f"{case.reference}  {kind:<10}  {step:<8}  {mask_phone(case.phone or '')}  {when}")


@cases_app.command("show")
def cases_show(reference: str) -> None:
    """Show one case (phone masked)."""
    settings = Settings()
    configure_logging(settings.log_level)
    rows = asyncio.run(_load_cases(settings, reference))
    if not rows:
        typer.echo(f"no case {reference}", err=True)
        raise typer.Exit(1)
    case, status = rows[0]
    details = _case_json(case, status) | {
        "description": case.description,
        "place": case.place,
        "occurred": case.occurred,
        "other_party": case.other_party,
        "name": case.name or "匿名",
        "attachments": len(case.attachments),
    }
    typer.echo(json.dumps(details, ensure_ascii=False, indent=2))
