"""The web chat page in a real browser (headless Chromium driven by Playwright), against the bot's
app on loopback with the real Rasa NLU; and the page's JSON API seen from outside (httpx)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright, expect

from tests.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

require_chromium()

pytestmark = pytest.mark.rasa
PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 360, "height": 640}
LAPTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 30_000  # one turn: the NLU, the database and the browser on a busy test machine


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def _open_chat(
    browser: Browser, base_url: str, **context_options: Any
) -> tuple[BrowserContext, Page, list[str]]:
    """A fresh context (so a fresh cookie: a new resident) with the chat page loaded; the list
    collects the page's script errors and console errors (a CSP violation is one)."""
    context = await browser.new_context(base_url=base_url, locale="zh-CN", **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    response = await page.goto("/chat")
    assert response is not None
    assert response.status == 200
    page.set_default_timeout(TIMEOUT_MS)
    await expect(page.locator(".bubble.bot")).to_have_count(1)
    return context, page, errors


@pytest_asyncio.fixture
async def phone(browser: Browser, bot_http: str) -> AsyncIterator[Page]:
    context, page, errors = await _open_chat(
        browser, bot_http, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    yield page
    await context.close()
    assert errors == []


@pytest_asyncio.fixture
async def laptop(browser: Browser, bot_http: str) -> AsyncIterator[Page]:
    context, page, errors = await _open_chat(browser, bot_http, viewport=LAPTOP)
    yield page
    await context.close()
    assert errors == []


@pytest_asyncio.fixture
async def small_phone(browser: Browser, bot_http: str) -> AsyncIterator[Page]:
    context, page, errors = await _open_chat(
        browser, bot_http, viewport=SMALL_PHONE, is_mobile=True, has_touch=True
    )
    yield page
    await context.close()
    assert errors == []


async def _bot_count(page: Page) -> int:
    return await page.locator(".bubble.bot").count()


async def _answered(page: Page, before: int) -> list[str]:
    """Wait until the bot has answered (new bot bubbles, no request in flight); their texts."""
    await page.wait_for_function(
        """n => document.querySelectorAll('.bubble.bot').length > n
               && document.getElementById('messages').getAttribute('aria-busy') === 'false'""",
        arg=before,
    )
    texts = await page.locator(".bubble.bot").all_text_contents()
    return texts[before:]


async def type_message(page: Page, text: str) -> list[str]:
    """Type ``text``, press Enter; the bot's new bubbles."""
    before = await _bot_count(page)
    await page.locator("#input").fill(text)
    await page.locator("#input").press("Enter")
    await expect(page.locator(".bubble.me").last).to_have_text(text)
    return await _answered(page, before)


async def tap_option(page: Page, label: str, *, touch: bool = True) -> list[str]:
    """Tap the quick reply ``label``; the bot's new bubbles."""
    before = await _bot_count(page)
    button = page.locator("#options button", has_text=re.compile(f"^{re.escape(label)}$"))
    await expect(button).to_be_enabled()
    if touch:
        await button.tap()
    else:
        await button.click()
    await expect(page.locator(".bubble.me").last).to_have_text(label)
    return await _answered(page, before)


async def option_labels(page: Page) -> list[str]:
    return await page.locator("#options button").all_text_contents()


async def assert_fits_width(page: Page) -> None:
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


async def test_resident_reports_a_dispute_on_a_phone(phone: Page, tmp_path: Path) -> None:
    page = phone
    assert await option_labels(page) == ["登记纠纷", "查询进度", "法律咨询", "转人工"]
    send_box = await page.locator("#send").bounding_box()
    assert send_box is not None
    assert send_box["height"] >= 44
    await assert_fits_width(page)

    replies = await type_message(page, "楼上天天半夜装修吵得睡不着，帮我调解一下")
    assert "邻里纠纷" in replies[-1]
    assert await option_labels(page) == ["是", "不是"]

    replies = await tap_option(page, "是")
    assert "小区" in replies[-1]
    assert await option_labels(page) == []

    replies = await type_message(page, "阳光花园小区5号楼")
    assert "什么时候" in replies[-1]

    replies = await type_message(page, "这个月每天晚上")
    assert "对方" in replies[-1]
    replies = await tap_option(page, "跳过")
    assert "称呼" in replies[-1]
    replies = await tap_option(page, "匿名")
    assert "电话" in replies[-1]

    replies = await type_message(page, "13812345678")
    assert "同意" in replies[-1]
    replies = await tap_option(page, "同意")
    summary = replies[-1]
    assert "138****5678" in summary
    assert "13812345678" not in summary
    assert "阳光花园小区5号楼" in summary
    # The summary keeps its line breaks (pre-wrap): one line per field on screen too.
    assert "\n" in summary
    assert await page.locator(".bubble.bot").last.evaluate("e => getComputedStyle(e).whiteSpace") == (
        "pre-wrap"
    )
    summary_height = await page.locator(".bubble.bot").last.evaluate("e => e.getBoundingClientRect().height")
    assert summary_height > 8 * 20  # at least the 9+ lines of the summary

    replies = await tap_option(page, "确认")
    assert re.search(r"TJ\d{8}-\d{4}", replies[-1]), replies
    await expect(page.locator("#status")).to_be_empty()
    await assert_fits_width(page)
    # The newest message is in sight: the list is scrolled to its end.
    gap = await page.locator("#messages").evaluate("e => e.scrollHeight - e.scrollTop - e.clientHeight")
    assert gap <= 2

    shot = tmp_path / "report-on-phone.png"
    await page.screenshot(path=shot)
    assert shot.stat().st_size > 0


async def test_quick_replies_lead_to_a_legal_answer(laptop: Page) -> None:
    page = laptop
    replies = await tap_option(page, "法律咨询", touch=False)
    assert "法律问题" in replies[-1]

    replies = await type_message(page, "邻居家的狗把我咬了谁来赔")
    assert "依据：" in replies[-1]
    # The options are those of the last reply: the offer to register.
    assert await option_labels(page) == ["需要", "不用了"]


async def test_empty_input_sends_nothing(laptop: Page) -> None:
    page = laptop
    await page.locator("#input").fill("   ")
    await page.locator("#input").press("Enter")
    await page.locator("#send").click()
    await page.wait_for_timeout(300)
    await expect(page.locator(".bubble.me")).to_have_count(0)
    await expect(page.locator(".bubble.bot")).to_have_count(1)


async def test_hostile_text_is_shown_as_text(small_phone: Page) -> None:
    page = small_phone
    hostile = '<img src=x onerror="window.__xss=1">你好'
    replies = await type_message(page, hostile)
    assert replies
    mine = await page.locator(".bubble.me").last.text_content()
    assert mine is not None
    assert "<img" in mine
    assert await page.evaluate("window.__xss") is None
    assert await page.locator("#messages img").count() == 0
    await assert_fits_width(page)


async def test_a_failed_request_is_retried_with_the_same_message_id(browser: Browser, bot_http: str) -> None:
    context, page, _ = await _open_chat(browser, bot_http, viewport=PHONE, is_mobile=True, has_touch=True)
    sent: list[dict[str, str]] = []
    failures = ["abort"] * 3  # what happens to the next requests; then they get through

    async def flaky(route: Route) -> None:
        body = route.request.post_data_json
        assert isinstance(body, dict)
        sent.append(body)
        if not failures:
            await route.continue_()
        elif failures.pop(0) == "abort":
            await route.abort("connectionreset")
        else:
            await route.fulfill(status=503, body="busy")

    await page.route("**/chat/api/messages", flaky)
    try:
        # Every attempt fails: two retries with backoff, then a polite error.
        await page.locator("#input").fill("你好")
        await page.locator("#input").press("Enter")
        await expect(page.locator("#send")).to_be_disabled()
        await expect(page.locator(".typing")).to_have_text("正在输入…")
        await expect(page.locator("#status")).to_contain_text("网络不太稳定，正在重试…")
        await expect(page.locator("#status")).to_contain_text("发送失败，请稍后再试")
        await expect(page.locator("#send")).to_be_enabled()
        await expect(page.locator(".typing")).to_have_count(0)
        assert len(sent) == 3
        assert len({body["message_id"] for body in sent}) == 1
        assert re.fullmatch(r"[A-Za-z0-9_-]{8,64}", sent[0]["message_id"])
        assert await _bot_count(page) == 1

        # Resending the failed message reuses its id; the server answers it once.
        before = await _bot_count(page)
        await page.locator("#retry").tap()
        replies = await _answered(page, before)
        assert replies
        assert sent[3]["message_id"] == sent[0]["message_id"]
        await expect(page.locator("#status")).to_be_empty()

        # A server error once: the retry gets through, with the same id, and a new message a new id.
        failures.append("503")
        replies = await type_message(page, "谢谢")
        assert replies
        assert len(sent) == 6
        assert sent[4]["message_id"] == sent[5]["message_id"] != sent[0]["message_id"]
        await expect(page.locator("#status")).to_be_empty()
        assert await page.locator(".bubble.me").count() == 2
    finally:
        await context.close()


async def test_api_refuses_non_json(bot_http: str) -> None:
    async with httpx.AsyncClient(base_url=bot_http, timeout=30) as client:
        page = await client.get("/chat")
        assert page.status_code == 200
        form = await client.post("/chat/api/messages", data={"message_id": uuid.uuid4().hex, "text": "你好"})
        assert form.status_code == 415, form.text
        # What a cross-site <form enctype="text/plain"> can send: JSON-looking, but not JSON.
        plain = await client.post(
            "/chat/api/messages",
            content=json.dumps({"message_id": uuid.uuid4().hex, "text": "你好"}),
            headers={"Content-Type": "text/plain"},
        )
        assert plain.status_code == 415, plain.text


async def test_api_retry_with_the_same_message_id_steps_once(bot_http: str) -> None:
    async with httpx.AsyncClient(base_url=bot_http, timeout=30) as client:
        assert (await client.get("/chat")).status_code == 200
        assert "chat_uid" in client.cookies

        async def say(text: str, message_id: str | None = None) -> list[dict[str, Any]]:
            response = await client.post(
                "/chat/api/messages", json={"message_id": message_id or uuid.uuid4().hex, "text": text}
            )
            assert response.status_code == 200, response.text
            replies: list[dict[str, Any]] = response.json()["replies"]
            return replies

        hello_id = uuid.uuid4().hex
        first = await say("你好", hello_id)
        assert first
        assert first[0]["text"]
        assert await say("你好", hello_id) == first
        answer = await say("是")
        assert answer
        assert all(reply["text"] for reply in answer)

        # A retry of an answer that moves the dialog on must not move it twice.
        assert (await say("楼上天天半夜装修吵得睡不着，帮我调解一下"))[-1]["key"] == "report.confirm_type"
        assert (await say("是"))[-1]["key"] == "report.ask_place"
        place_id = uuid.uuid4().hex
        placed = await say("阳光花园小区5号楼", place_id)
        assert placed[-1]["key"] == "report.ask_time"
        assert await say("阳光花园小区5号楼", place_id) == placed  # else it was taken as the time
        # A retry sent while the first attempt is still in flight.
        time_id = uuid.uuid4().hex
        both = await asyncio.gather(say("上周三", time_id), say("上周三", time_id))
        assert both[0] == both[1]
        assert both[0][-1]["key"] == "report.ask_other_party"
        assert (await say("跳过"))[-1]["key"] == "report.ask_name"
