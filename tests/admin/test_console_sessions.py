"""Console sessions are held on the server: a cookie copied before signing out, a password
reset, a role change or a deactivation opens nothing afterwards, and a session idle for two hours
ends. Over HTTP and in a real browser (sign out, then the copied cookie)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright, expect
from sqlalchemy import select, update

from bot.admin import accounts
from bot.faq.actors import Role
from bot.storage.models import AdminUser, ConsoleSession
from tests.admin.conftest import PASSWORD, Browserless, Console
from tests.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

require_chromium()

pytestmark = pytest.mark.rasa


def _copy(console: Console, visitor: Browserless) -> httpx.AsyncClient:
    """Another client holding the same cookies (a stolen or copied cookie)."""
    thief = console.client()
    thief.cookies.update(visitor.http.cookies)
    return thief


async def _opens(client: httpx.AsyncClient, path: str = "/admin/audit") -> bool:
    response = await client.get(path)
    return response.status_code == 200


async def test_a_copied_cookie_opens_nothing_after_signing_out(console: Console) -> None:
    visitor = await console.signed_in(Role.REVIEWER)
    thief = _copy(console, visitor)
    assert await _opens(thief)  # before: the copy works, as any cookie would
    await visitor.get("/admin")
    assert (await visitor.post("/admin/logout")).status_code == 303
    response = await thief.get("/admin/audit")
    assert response.status_code == 303 and "/admin/login" in response.headers["location"]


@pytest.mark.parametrize("change", ["password", "role", "deactivate"])
async def test_account_changes_end_every_session_of_the_account(console: Console, change: str) -> None:
    visitor = await console.signed_in(Role.REVIEWER)
    await console.account(Role.REVIEWER)  # never the last reviewer
    assert await _opens(visitor.http, "/admin")
    if change == "password":
        await accounts.set_password(console.sessions, visitor.username, PASSWORD + "-new", actor=None)
    elif change == "role":
        await accounts.set_role(console.sessions, visitor.username, Role.VOLUNTEER, actor=None)
    else:
        await accounts.set_active(console.sessions, visitor.username, False, actor=None)
    assert not await _opens(visitor.http, "/admin")


async def test_a_session_idle_for_two_hours_ends(console: Console) -> None:
    visitor = await console.signed_in(Role.VOLUNTEER)
    assert await _opens(visitor.http, "/admin")
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2, minutes=1)  # no request since
    async with console.sessions.begin() as session:
        mine = select(AdminUser.id).where(AdminUser.username == visitor.username).scalar_subquery()
        await session.execute(
            update(ConsoleSession).where(ConsoleSession.user_id == mine).values(last_seen_at=two_hours_ago)
        )
    assert not await _opens(visitor.http, "/admin")


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def test_signing_out_in_a_browser_ends_the_session_everywhere(
    browser: Browser, console: Console
) -> None:
    username = await console.account(Role.REVIEWER)
    context = await browser.new_context(base_url=console.url, locale="zh-CN")
    try:
        page = await context.new_page()
        await page.goto("/admin/login")
        await page.locator("[name=username]").fill(username)
        await page.locator("[name=password]").fill(PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await expect(page.locator("#who")).to_contain_text(username)
        copied = await context.cookies()
        await page.get_by_role("button", name="退出").click()
        await expect(page).to_have_url(f"{console.url}/admin/login")
        other = await browser.new_context(base_url=console.url, locale="zh-CN")
        try:
            await other.add_cookies(copied)  # type: ignore[arg-type]  # (a Cookie is a SetCookieParam)
            stolen = await other.new_page()
            await stolen.goto("/admin/audit")
            await expect(stolen).to_have_url(f"{console.url}/admin/login?next=%2Fadmin%2Faudit")
        finally:
            await other.close()
    finally:
        await context.close()
