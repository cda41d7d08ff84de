"""An error in the middle of a resident's turn is logged without the resident's words: no local
variables in tracebacks, no SQL parameters, phone numbers masked everywhere."""

from __future__ import annotations

import pytest
import sqlalchemy
import structlog
from sqlalchemy.exc import SQLAlchemyError

from bot.logs import configure_logging
from bot.settings import Settings
from bot.storage.db import create_engine

SECRET_WORDS = "我家住幸福小区3栋502，老公天天打我"
PHONE = "13812345678"


def test_a_traceback_shows_neither_locals_nor_phone_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    log = structlog.get_logger("test")

    def handle(message: str) -> None:
        details = {"text": message}  # a local the rich renderer would print
        raise ValueError(f"could not file the report for {PHONE}: {len(details)}")

    try:
        handle(SECRET_WORDS)
    except ValueError:
        log.exception("turn.failed")
    out = capsys.readouterr().err
    assert "turn.failed" in out and "ValueError" in out
    assert SECRET_WORDS not in out
    assert PHONE not in out and "138****5678" in out


async def test_database_errors_do_not_quote_their_parameters(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    engine = create_engine(settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("logs")}))
    try:
        async with engine.begin() as connection:
            with pytest.raises(SQLAlchemyError) as failure:
                await connection.execute(
                    sqlalchemy.text("INSERT INTO nowhere VALUES (:words)"), {"words": SECRET_WORDS}
                )
    finally:
        await engine.dispose()
    assert SECRET_WORDS not in str(failure.value)
