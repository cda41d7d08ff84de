"""The reference case desk, running for real: uvicorn on a free 127.0.0.1 port as a task of the
test session's event loop, on SQLite and (when ``BOT_TEST_DATABASE_URL`` is set) PostgreSQL.

On PostgreSQL every run gets its own schema (``casedesk_test_<random>``), dropped at the end:
the bot's tests reset the ``public`` schema of the same database, and a second test run at the
same time must not drop this one's tables.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import sqlalchemy
from pydantic import SecretStr
from sqlalchemy import func, select

from casedesk.accounts import StaffInfo, create_staff
from casedesk.app import create_app
from casedesk.db import Base, create_sync_engine
from casedesk.settings import Environment, Settings
from tests.loopback import serve

TOKEN = "test-casedesk-token-4f1c9a7e"
SESSION_SECRET = "test-casedesk-session-secret-0b3e8d"
PASSWORD = "correct horse battery"
DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("BOT_TEST_DATABASE_URL") else [])
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_settings(data_dir: Path, database: str) -> Settings:
    # Everything that matters given explicitly: a developer's CASEDESK_* variables stay out.
    updates: dict[str, Any] = {"database_url": None, "database_schema": "casedesk"}
    if database == "postgresql":
        updates = {
            "database_url": os.environ["BOT_TEST_DATABASE_URL"],
            "database_schema": f"casedesk_test_{uuid.uuid4().hex[:10]}",
        }
    return Settings(
        _env_file=None,  # not the developer's .env
        env=Environment.DEVELOPMENT,
        data_dir=data_dir,
        api_token=SecretStr(TOKEN),
        session_secret=SecretStr(SESSION_SECRET),
        case_prefix="ZZ",
        timezone="Asia/Shanghai",
        secure_cookies=False,
        **updates,
    )


def drop_schema(settings: Settings) -> None:
    if settings.database_url is None:
        return
    engine = sqlalchemy.create_engine(settings.database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{settings.database_schema}" CASCADE'))
    engine.dispose()


@asynccontextmanager
async def running_desk(settings: Settings) -> AsyncIterator[str]:
    async with serve(create_app(settings)) as url:
        yield url


@dataclass(frozen=True)
class Desk:
    url: str
    settings: Settings
    database: str

    def api(self, token: str | None = TOKEN) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}".strip()} if token is not None else {}
        return httpx.AsyncClient(base_url=f"{self.url}/api/v1", headers=headers, timeout=30)

    async def new_staff(self, display_name: str | None = None) -> StaffInfo:
        username = f"staff-{uuid.uuid4().hex[:8]}"
        return await asyncio.to_thread(
            create_staff, self.settings, username, PASSWORD, display_name=display_name or username
        )

    async def count(self, table: str, **where: Any) -> int:
        def query() -> int:
            engine = create_sync_engine(self.settings)
            try:
                model = Base.metadata.tables[table]
                clauses = [model.c[name] == value for name, value in where.items()]
                with engine.connect() as connection:
                    return int(
                        connection.execute(
                            select(func.count()).select_from(model).where(*clauses)
                        ).scalar_one()
                    )
            finally:
                engine.dispose()

        return await asyncio.to_thread(query)


@pytest_asyncio.fixture(scope="session", params=DATABASES)
async def desk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Desk]:
    settings = make_settings(tmp_path_factory.mktemp("casedesk"), request.param)
    try:
        async with running_desk(settings) as url:
            yield Desk(url, settings, request.param)
    finally:
        await asyncio.to_thread(drop_schema, settings)


@pytest_asyncio.fixture
async def api(desk: Desk) -> AsyncIterator[httpx.AsyncClient]:
    async with desk.api() as client:
        yield client


class StaffClient:
    """A signed-in staff member's browser, without the browser: cookies and CSRF tokens."""

    def __init__(self, desk: Desk, client: httpx.AsyncClient, staff: StaffInfo) -> None:
        self.desk = desk
        self.client = client
        self.staff = staff
        self.csrf = ""

    async def refresh_csrf(self, path: str = "/queue") -> str:
        response = await self.client.get(path)
        match = CSRF.search(response.text)
        assert match, f"no CSRF token on {path}"
        self.csrf = match.group(1)
        return self.csrf

    async def post(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(path, data={"csrf": self.csrf, **(data or {})})


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    page = await client.get("/login")
    match = CSRF.search(page.text)
    assert match
    return await client.post(
        "/login", data={"csrf": match.group(1), "username": username, "password": password, "next": "/queue"}
    )


@pytest_asyncio.fixture
async def staff(desk: Desk) -> AsyncIterator[StaffClient]:
    member = await desk.new_staff()
    async with httpx.AsyncClient(base_url=desk.url, timeout=30) as client:
        response = await sign_in(client, member.username, PASSWORD)
        assert response.status_code == 303, response.text
        staff_client = StaffClient(desk, client, member)
        await staff_client.refresh_csrf()
        yield staff_client


def case_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": f"TJ20261122-{uuid.uuid4().hex[:6]}",
        "dispute_type": "neighbor",
        "description": "楼上邻居每天深夜装修，噪音很大，沟通多次无果。",
        "place": "幸福里小区3栋",
        "latitude": 30.5,
        "longitude": 114.3,
        "occurred": "最近两周",
        "other_party": "楼上住户",
        "reporter": {"name": "张三", "phone": "13800000000"},
        "channel": "web",
        "consent_at": datetime.now(UTC).isoformat(),
    }
    body.update(changes)
    return body


def new_key() -> str:
    return uuid.uuid4().hex


async def tail(client: httpx.AsyncClient, feed: str) -> str:
    """The cursor after the last event of a feed (``changes`` or ``handoff-events``)."""
    name = "updated_since" if feed == "changes" else "after"
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 1000}
        if cursor is not None:
            params[name] = cursor
        response = await client.get(f"/{feed}", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        cursor = page["next_cursor"]
        if not page["has_more"]:
            assert cursor is not None
            return cursor
