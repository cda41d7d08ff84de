"""``bot faq import|export``: the FAQ library to and from the YAML files of ``knowledge/faq``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bot.cli_faq_eval import eval_command
from bot.faq.actors import Actor, Role
from bot.faq.files import FaqFileError
from bot.faq.statutes import StatuteIndex
from bot.faq_library.yaml_io import ImportReport, export_directory, import_directory
from bot.logs import configure_logging
from bot.nlu.labels import DisputeCatalog
from bot.settings import Settings
from bot.storage.db import create_engine, sessions, sync_url
from bot.storage.migrate import upgrade

faq_app = typer.Typer(help="The FAQ library residents are answered from.", no_args_is_help=True)
faq_app.command("eval")(eval_command)


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level)
    if sync_url(settings).startswith("sqlite"):
        upgrade(settings)
    return settings


async def _import(settings: Settings, directory: Path, actor: Actor) -> ImportReport:
    engine = create_engine(settings)
    try:
        return await import_directory(
            sessions(engine),
            directory,
            actor=actor,
            statutes=StatuteIndex.load(settings.knowledge_dir),
            catalog=DisputeCatalog.load(settings.knowledge_dir),
        )
    finally:
        await engine.dispose()


async def _export(settings: Settings, directory: Path) -> list[Path]:
    engine = create_engine(settings)
    try:
        return await export_directory(sessions(engine), directory, timezone=settings.timezone)
    finally:
        await engine.dispose()


@faq_app.command("import")
def import_command(
    directory: Annotated[
        Path | None, typer.Argument(help="Directory of *.yml files (default knowledge/faq)")
    ] = None,
    actor: Annotated[str, typer.Option(help="Name kept in the FAQs' history and the audit log")] = "cli",
) -> None:
    """Publish the FAQs of YAML files: new ones are created, changed ones get a new version.
    Every file is checked first; on any error nothing is imported."""
    settings = _settings()
    source = directory or settings.knowledge_dir / "faq"
    try:
        report = asyncio.run(_import(settings, source, Actor(actor, Role.REVIEWER)))
    except FaqFileError as exc:
        typer.echo(f"nothing imported:\n{exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}")


@faq_app.command("export")
def export_command(
    directory: Annotated[Path | None, typer.Argument(help="Where to write (default knowledge/faq)")] = None,
) -> None:
    """Write the published FAQs as YAML files, one per topic (for review in git)."""
    settings = _settings()
    target = directory or settings.knowledge_dir / "faq"
    written = asyncio.run(_export(settings, target))
    typer.echo(f"wrote {len(written)} files to {target}")
