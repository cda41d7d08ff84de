"""The bot's real app (``create_app``) on loopback for the console's tests, with console accounts
made directly in its database and an HTTP client that signs in like a browser does."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin.accounts import create_user
from bot.app import create_app
from bot.faq.actors import Role
from bot.faq_library.library import Library
from bot.nlu.server import ManagedRasaServer
from bot.settings import Settings
from bot.storage.db import sessions
from tests.loopback import serve

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Console:
    url: str
    app: FastAPI
    settings: Settings
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """The app's own database (used between requests, never while one is in flight)."""
        return sessions(self.app.state.runtime.database)

    @property
    def library(self) -> Library:
        library: Library = self.app.state.runtime.faq_library
        return library

    async def account(self, role: Role, *, prefix: str = "") -> str:
        username = f"{prefix or role.value}-{uuid.uuid4().hex[:8]}"
        await create_user(self.sessions, username, PASSWORD, role, actor=None)
        return username

    def client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.url, timeout=30, follow_redirects=False)
        self.clients.append(client)
        return client

    async def signed_in(self, role: Role) -> Browserless:
        username = await self.account(role)
        visitor = Browserless(self.client(), username)
        response = await visitor.sign_in(PASSWORD)
        assert response.status_code == 303, response.text
        return visitor


@dataclass
class Browserless:
    """A console visitor over plain HTTP: keeps its cookie, reads CSRF tokens from pages."""

    http: httpx.AsyncClient
    username: str = ""
    csrf: str = ""

    async def get(self, path: str, **params: Any) -> httpx.Response:
        response = await self.http.get(path, params=params or None)
        if match := _CSRF.search(response.text):
            self.csrf = match.group(1)
        return response

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = None
    ) -> httpx.Response:
        form = {"csrf": self.csrf if csrf is None else csrf, **(data or {})}
        return await self.http.post(path, data=form)

    async def sign_in(self, password: str) -> httpx.Response:
        await self.get("/admin/login")
        response = await self.post("/admin/login", {"username": self.username, "password": password})
        if response.status_code == 303:  # signed in: a fresh session, with a fresh CSRF token
            await self.get("/admin")
        return response


@pytest_asyncio.fixture(scope="session")
async def console(
    rasa_server: ManagedRasaServer, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Console]:
    app_settings = settings.model_copy(
        update={
            "data_dir": tmp_path_factory.mktemp("console"),
            "nlu_url": rasa_server.url,
            "nlu_token": SecretStr(rasa_server.token),
            # Nothing here files cases: a case system that is never called, and no background jobs.
            "backend_url": "http://127.0.0.1:9",
            "jobs": False,
            "admin_secure_cookies": False,
        }
    )
    app = create_app(app_settings)
    async with serve(app) as url:
        console = Console(url, app, app_settings)
        try:
            yield console
        finally:
            for client in console.clients:
                await client.aclose()
