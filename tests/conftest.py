"""Shared fixtures. The Rasa server is real: one is started per test session from the trained
model (``make test`` trains it first) and shared by every test marked ``rasa``."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.dialogs.engine import DialogEngine
from bot.dialogs.messages import Inbound, Outbound
from bot.nlu.classifier import Classifier
from bot.nlu.client import RasaClient
from bot.nlu.runtime import build_classifier
from bot.nlu.server import ManagedRasaServer, free_port
from bot.nlu.training import model_path
from bot.settings import PROJECT_ROOT, Settings
from bot.storage.db import create_engine, sync_url
from bot.storage.migrate import upgrade
from bot.wiring import build_engine
from tests.loopback import serve

DATA = PROJECT_ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Project knowledge and model, but a private data directory for logs and databases.
    return Settings(data_dir=tmp_path_factory.mktemp("var"), nlu_url=None)


@pytest.fixture(scope="session")
def trained_model(settings: Settings) -> Path:
    path = model_path(settings)
    if not path.exists():
        pytest.fail(f"no trained NLU model at {path}: run `make test` (it trains the model first)")
    return path


@pytest_asyncio.fixture(scope="session")
async def rasa_server(settings: Settings, trained_model: Path) -> AsyncIterator[ManagedRasaServer]:
    server = ManagedRasaServer(
        rasa_venv=settings.rasa_venv,
        model_path=trained_model,
        port=free_port(),
        log_path=settings.data_dir / "logs" / "rasa.log",
        startup_timeout=settings.nlu_startup_timeout,
    )
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(scope="session")
async def rasa_client(rasa_server: ManagedRasaServer, settings: Settings) -> AsyncIterator[RasaClient]:
    async with RasaClient(rasa_server.url, token=rasa_server.token, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def classifier(rasa_client: RasaClient, settings: Settings) -> Classifier:
    return build_classifier(settings, rasa_client)


# --- databases: SQLite always, PostgreSQL too when BOT_TEST_DATABASE_URL points to one ---

DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("BOT_TEST_DATABASE_URL") else [])


def _reset_postgresql(url: str) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP SCHEMA public CASCADE"))
        connection.execute(sqlalchemy.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=DATABASES)
def db_settings(
    request: pytest.FixtureRequest, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings with a freshly migrated database of each kind."""
    if request.param == "sqlite":
        db_settings = settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("sqlite")})
    else:
        url = os.environ["BOT_TEST_DATABASE_URL"]
        db_settings = settings.model_copy(update={"database_url": url})
        _reset_postgresql(sync_url(db_settings))
    upgrade(db_settings)
    return db_settings


@pytest_asyncio.fixture(scope="session")
async def database(db_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def dialog_engine(db_settings: Settings, database: AsyncEngine, classifier: Classifier) -> DialogEngine:
    return build_engine(db_settings, database, classifier)


class Resident:
    """A simulated resident talking to the engine (unique user id per instance)."""

    def __init__(self, engine: DialogEngine, channel: str = "console") -> None:
        self.engine = engine
        self.channel = channel
        self.user_id = f"resident-{uuid.uuid4().hex[:10]}"

    async def say(self, text: str, **extra: Any) -> tuple[Outbound, ...]:
        message_id = extra.pop("message_id", uuid.uuid4().hex)
        inbound = Inbound(self.channel, self.user_id, message_id, text, datetime.now(UTC), **extra)
        return await self.engine.handle(inbound)


@pytest.fixture
def resident(dialog_engine: DialogEngine) -> Resident:
    return Resident(dialog_engine)


# --- the bot's web app on loopback ---


@pytest_asyncio.fixture(scope="session")
async def bot_http(
    rasa_server: ManagedRasaServer, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    app_settings = settings.model_copy(
        update={
            "data_dir": tmp_path_factory.mktemp("app"),
            "nlu_url": rasa_server.url,
            "nlu_token": SecretStr(rasa_server.token),
        }
    )
    async with serve(create_app(app_settings)) as url:
        yield url


# --- the reference case desk, for real, on loopback ---

DESK_TOKEN = "test-desk-token-for-the-bot"


@dataclass
class RunningDesk:
    url: str
    store: Any  # casedesk.store.Desk: what staff do, called directly
    settings: Any


@pytest_asyncio.fixture(scope="session")
async def casedesk(
    db_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningDesk]:
    """One desk per bot database: references restart at -0001 in each, and must not meet."""
    from casedesk.app import create_app as create_desk
    from casedesk.settings import Environment
    from casedesk.settings import Settings as DeskSettings

    desk_settings = DeskSettings(
        _env_file=None,
        env=Environment.DEVELOPMENT,
        data_dir=tmp_path_factory.mktemp("casedesk"),
        database_url=None,
        api_token=SecretStr(DESK_TOKEN),
        session_secret=SecretStr("test-session-secret-for-the-bot"),
        secure_cookies=False,
    )
    app = create_desk(desk_settings)
    async with serve(app) as url:
        yield RunningDesk(url, app.state.desk, desk_settings)
