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

from bot.dialogs.replies import Replies
from bot.settings import Settings
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
    # A new resident: no earlier conversation, so the page shows its welcome and the menu.
    await expect(page.locator("#welcome")).to_be_visible()
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

    replies = await type_message(page, "装修噪音吵得全家睡不着，帮我调解一下")
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
    assert await option_labels(page) == ["需要", "不用了", "有用", "没用"]


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
        assert (await say("装修噪音吵得全家睡不着，帮我调解一下"))[-1]["key"] == "report.confirm_type"
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


# --- the conversation across reloads, a shared location, the page's security headers ---

PILED_BOXES = "隔壁邻居在公共楼道里堆满了纸箱 说了几次都不搬 想请你们调解"
PLACE_KEYS = ("report.ask_place", "report.place_invalid")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
MENU = ["登记纠纷", "查询进度", "法律咨询", "转人工"]


@pytest.fixture(scope="module")
def ui() -> dict[str, str]:
    """The page's words, from where the page takes them."""
    return Replies.load(Settings().knowledge_dir).web


async def _shown_again(page: Page, mine: int) -> None:
    """Reload; wait until the earlier conversation (``mine`` messages of the resident) is back."""
    await page.reload()
    await expect(page.locator(".bubble.me")).to_have_count(mine)
    await expect(page.locator("#welcome")).to_have_count(0)


async def _to_the_place_question(page: Page, *, touch: bool = True) -> None:
    replies = await type_message(page, PILED_BOXES)
    assert await option_labels(page) == ["是", "不是"], replies
    await expect(page.locator("#locate-bar")).to_be_hidden()
    async with page.expect_response("**/chat/api/messages") as answered:
        await tap_option(page, "是", touch=touch)
    body = await (await answered.value).json()
    assert body["replies"][-1]["key"] == "report.ask_place"
    await expect(page.locator("#locate")).to_be_visible()


async def test_a_reload_shows_the_conversation_so_far(browser: Browser, bot_http: str) -> None:
    context, page, errors = await _open_chat(
        browser, bot_http, viewport=PHONE, is_mobile=True, has_touch=True
    )
    try:
        replies = await type_message(page, "装修噪音吵得全家睡不着，帮我调解一下")
        assert "邻里纠纷" in replies[-1]
        before = await page.locator(".bubble").all_text_contents()
        assert before[0] == await page.locator("#welcome").text_content()

        # After a reload: the resident's message and the replies, as they were, without the welcome;
        # the quick replies are the last reply's, and they still work.
        await _shown_again(page, 1)
        assert await page.locator(".bubble").all_text_contents() == before[1:]
        assert await option_labels(page) == ["是", "不是"]
        replies = await tap_option(page, "是")
        assert "小区" in replies[-1]
        await expect(page.locator("#locate")).to_be_visible()

        # Still there after another reload, the location button with its question.
        await _shown_again(page, 2)
        await expect(page.locator(".bubble.me")).to_have_text(["装修噪音吵得全家睡不着，帮我调解一下", "是"])
        assert await option_labels(page) == []
        await expect(page.locator("#locate")).to_be_visible()
        gap = await page.locator("#messages").evaluate("e => e.scrollHeight - e.scrollTop - e.clientHeight")
        assert gap <= 2

        # Another browser (another cookie) sees nothing of it.
        other_context, other, other_errors = await _open_chat(browser, bot_http, viewport=LAPTOP)
        try:
            await expect(other.locator(".bubble.me")).to_have_count(0)
            assert await other.locator(".bubble").all_text_contents() == before[:1]
            assert await option_labels(other) == MENU
            await expect(other.locator("#locate-bar")).to_be_hidden()
            history = await other.request.get("/chat/api/history")
            assert await history.json() == {"messages": []}
        finally:
            await other_context.close()
        assert other_errors == []
    finally:
        await context.close()
    assert errors == []


async def test_a_resident_sends_their_location_for_the_place(
    browser: Browser, bot_http: str, ui: dict[str, str]
) -> None:
    context, page, errors = await _open_chat(
        browser,
        bot_http,
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        permissions=["geolocation"],
        geolocation={"latitude": 30.27, "longitude": 120.15},
    )
    try:
        await expect(page.locator("#locate-bar")).to_be_hidden()
        await _to_the_place_question(page)
        locate = page.locator("#locate")
        await expect(locate).to_have_text(ui["send_location"])
        # What the page said when it asked the browser for the position.
        await page.evaluate(
            """() => {
                const geo = navigator.geolocation;
                const ask = geo.getCurrentPosition.bind(geo);
                geo.getCurrentPosition = (ok, fail, options) => {
                    window.__saidWhenAsked = document.getElementById("status").textContent;
                    ask(ok, fail, options);
                };
            }"""
        )

        before = await _bot_count(page)
        async with page.expect_response("**/chat/api/messages") as answered:
            await locate.tap()
        response = await answered.value
        sent = response.request.post_data_json
        assert isinstance(sent, dict)
        assert sent["text"] == ""
        assert sent["location"] == {"latitude": 30.27, "longitude": 120.15}
        await _answered(page, before)
        assert await page.evaluate("window.__saidWhenAsked") == ui["location_note"]
        # The bot took the location as the place and asks what comes next.
        keys = [reply["key"] for reply in (await response.json())["replies"]]
        assert keys[-1].startswith("report.ask_"), keys
        assert keys[-1] not in PLACE_KEYS, keys
        await expect(page.locator(".bubble.me").last).to_have_text(ui["location_sent"])
        await expect(locate).to_be_hidden()
        await expect(page.locator("#status")).to_be_empty()

        # Shown the same way after a reload; the button went with its question.
        await _shown_again(page, 3)
        await expect(page.locator(".bubble.me").last).to_have_text(ui["location_sent"])
        await expect(page.locator("#locate-bar")).to_be_hidden()
    finally:
        await context.close()
    assert errors == []


async def test_a_refused_location_asks_to_type_the_place(
    browser: Browser, bot_http: str, ui: dict[str, str]
) -> None:
    # No permission granted: the browser refuses the page's request for the position.
    context, page, errors = await _open_chat(browser, bot_http, viewport=LAPTOP)
    sent: list[Any] = []
    page.on(
        "request", lambda r: sent.append(r.post_data_json) if r.url.endswith("/chat/api/messages") else None
    )
    try:
        await _to_the_place_question(page, touch=False)
        await page.locator("#locate").click()
        await expect(page.locator("#status")).to_have_text(ui["location_failed"])
        await expect(page.locator(".bubble.me")).to_have_count(2)
        assert len(sent) == 2  # nothing sent for the refused location
        await expect(page.locator("#locate")).to_be_enabled()

        # A position the device cannot find: the same polite line.
        await page.evaluate(
            """() => {
                navigator.geolocation.getCurrentPosition = (ok, fail) =>
                    setTimeout(() => fail({ code: 2, message: "unavailable" }), 50);
            }"""
        )
        await page.locator("#status").evaluate("e => e.replaceChildren()")
        await page.locator("#locate").click()
        await expect(page.locator("#status")).to_have_text(ui["location_failed"])

        # Typing the place goes on as usual.
        async with page.expect_response("**/chat/api/messages") as answered:
            await type_message(page, "幸福小区3栋")
        keys = [reply["key"] for reply in (await (await answered.value).json())["replies"]]
        assert keys[-1] not in PLACE_KEYS, keys
        await expect(page.locator("#status")).to_be_empty()
        await expect(page.locator("#locate-bar")).to_be_hidden()
    finally:
        await context.close()
    assert errors == []


async def test_the_chat_page_sends_security_headers_and_keeps_to_them(
    browser: Browser, bot_http: str
) -> None:
    context = await browser.new_context(base_url=bot_http, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    # Every CSP violation the page meets, in the order they happen (before any script of the page).
    await context.add_init_script(
        """document.addEventListener("securitypolicyviolation", e => {
            (window.__violations = window.__violations || []).push(e.violatedDirective);
        });"""
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        response = await page.goto("/chat")
        assert response is not None
        headers = await response.all_headers()
        assert headers["content-security-policy"] == CSP
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        await expect(page.locator("#welcome")).to_be_visible()

        # The page works under it: styles applied, messages sent and answered, options tapped.
        assert await page.locator("#send").evaluate("e => getComputedStyle(e).borderRadius") == "22px"
        assert await type_message(page, "你好")
        await _to_the_place_question(page, touch=False)
        assert await page.evaluate("window.__violations") is None
        assert errors == []

        # And it is enforced: inline code and inline styles are refused.
        await page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.__inline = 1";
                document.body.appendChild(script);
                const probe = '<p id="probe" style="color: rgb(255, 0, 0)">x</p>';
                document.body.insertAdjacentHTML("beforeend", probe);
            }"""
        )
        await page.wait_for_function("(window.__violations || []).length >= 2")
        assert await page.evaluate("window.__inline") is None
        assert await page.locator("#probe").evaluate("e => getComputedStyle(e).color") != "rgb(255, 0, 0)"
    finally:
        await context.close()


async def test_the_chat_page_cannot_be_framed(browser: Browser, bot_http: str) -> None:
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        framer = f'<!doctype html><iframe id="victim" src="{bot_http}/chat"></iframe>'
        await page.route(
            "http://framer.test/", lambda route: route.fulfill(body=framer, content_type="text/html")
        )
        await page.goto("http://framer.test/")
        await page.wait_for_load_state("load")
        await page.wait_for_timeout(500)
        for frame in page.frames[1:]:
            assert await frame.locator("#messages").count() == 0
    finally:
        await context.close()


async def test_the_page_has_no_inline_code(bot_http: str) -> None:
    async with httpx.AsyncClient(base_url=bot_http, timeout=30) as client:
        page = await client.get("/chat")
        assert page.status_code == 200
        html = page.text
        assert "<style" not in html
        assert re.search(r"\sstyle\s*=", html) is None
        assert re.search(r"\son[a-z]+\s*=", html) is None
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.DOTALL)
        assert scripts
        assert all("src=" in attributes and not body.strip() for attributes, body in scripts)
        assets = re.findall(r'(?:src|href)="(/chat/static/[^"]+)"', html)
        assert len(assets) == 2
        for asset in assets:
            served = await client.get(asset)
            assert served.status_code == 200, asset
            assert served.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")
            assert served.headers["x-content-type-options"] == "nosniff"
        assert (await client.get("/chat/static/%2e%2e/web.py")).status_code == 404
        assert (await client.get("/chat/static/nothing.js")).status_code == 404
