"""The Alembic migrations create exactly the tables the models describe, on every database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from bot.settings import Settings
from bot.storage.db import sync_url
from bot.storage.models import Base


def test_migrations_match_the_models(db_settings: Settings) -> None:
    engine = create_engine(sync_url(db_settings))
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []
