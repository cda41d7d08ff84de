"""Shared fixtures. The Rasa server is real: one is started per test session from the trained
model (``make test`` trains it first) and shared by every test marked ``rasa``."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
from bot.dialogs.replies import Replies
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


# --- a whole report, answered question by question ---
#
# The report skips the questions a message already answered (the first message's place, time,
# other party, name), so a script of answers in a fixed order breaks whenever what is extracted
# changes. Scripts answer what the bot asks instead: the key of its last reply.

PHONE = "13812345678"
NO_PHONE = "没有电话"
#: What a resident answers to each question of the report (``report.ask_phone``: the phone).
REPORT_ANSWERS: dict[str, str] = {
    "report.confirm_type": "是",
    "report.pick_type": "1",
    "report.ask_description": "邻居家装修噪音太大 吵得睡不着 想请你们调解",
    "report.ask_place": "幸福小区3栋",
    "report.ask_time": "上个月",
    "report.ask_other_party": "跳过",
    "report.ask_name": "匿名",
    "report.offer_known_phone": "是",
    "report.consent": "同意",
}
#: The questions of a report, and the summary that ends them.
REPORT_QUESTIONS = (*REPORT_ANSWERS, "report.ask_phone", "report.summary")
_CENTRE_FACTS = {"centre", "hotline", "duty_hours", "address", "response_days", "retention"}


def report_answer(key: str, *, phone: str | None = PHONE, answers: Mapping[str, str] | None = None) -> str:
    """The answer to the report question ``key`` (a reply key); ``phone`` None declines it;
    ``answers``: answers to give instead of the usual ones, by question key."""
    chosen = {**REPORT_ANSWERS, "report.ask_phone": phone or NO_PHONE, **(answers or {})}
    if key not in chosen:
        raise AssertionError(f"the report asked something no script answers: {key}")
    return chosen[key]


def question_in(replies: Replies, text: str) -> str | None:
    """The report question (or the summary) ``text`` ends with, read from its wording, for the
    channels that show only text; None when it shows none."""
    found: tuple[int, str] | None = None
    for key in REPORT_QUESTIONS:
        blanks = {name: "\x00" for name in replies.template(key).placeholders() - _CENTRE_FACTS}
        pattern = re.escape(replies.text(key, **blanks)).replace("\x00", ".+?")
        for match in re.finditer(pattern, text, re.DOTALL):
            if found is None or match.end() > found[0]:
                found = (match.end(), key)
    return found[1] if found else None


async def complete_report(
    resident: Resident,
    first_message: str,
    *,
    phone: str | None = PHONE,
    answers: Mapping[str, str] | None = None,
    confirm: bool = True,
) -> tuple[Outbound, ...]:
    """Report a dispute from ``first_message`` on, answering whatever the bot asks (see
    ``report_answer``) up to the summary, then "确认" unless ``confirm`` is false. Returns the
    last replies: the receipt, or the summary."""
    replies = await resident.say(first_message)
    for _ in range(20):
        key = replies[-1].key if replies else None
        if key == "report.summary":
            return await resident.say("确认") if confirm else replies
        if key not in REPORT_QUESTIONS:
            shown = [(r.key, r.text) for r in replies]
            raise AssertionError(f"the report did not ask a question: {shown}")
        replies = await resident.say(report_answer(key, phone=phone, answers=answers))
    raise AssertionError("the report never reached its summary")


async def answer_report(
    say: Callable[[str], Awaitable[str]],
    replies: Replies,
    shown: str,
    *,
    phone: str | None = PHONE,
    answers: Mapping[str, str] | None = None,
) -> str:
    """``complete_report`` for the channels that show only text: answers through ``say`` (which
    returns the bot's text) the question ``shown`` asks and every one after it, up to the summary;
    returns the summary's text."""
    for _ in range(20):
        asked = question_in(replies, shown)
        if asked == "report.summary":
            return shown
        if asked is None:
            raise AssertionError(f"the report did not ask a question: {shown!r}")
        shown = await say(report_answer(asked, phone=phone, answers=answers))
    raise AssertionError("the report never reached its summary")


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


def readable(value: object) -> str:
    """A database column as text with its Chinese as characters (for "nothing of it is left"
    checks): SQLite hands JSON back as a string with \\u escapes, PostgreSQL as objects."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        value = json.loads(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
