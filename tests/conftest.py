"""Shared fixtures. The Rasa server is real: one is started per test session from the trained
model (``make test`` trains it first) and shared by every test marked ``rasa``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.nlu.classifier import Classifier
from bot.nlu.client import RasaClient
from bot.nlu.runtime import build_classifier
from bot.nlu.server import ManagedRasaServer, free_port
from bot.nlu.training import model_path
from bot.settings import PROJECT_ROOT, Settings

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
