"""The staff's pages in a real browser (headless Chromium driven by Playwright) against the desk
on loopback (SQLite), with the API seen from outside (httpx) as the bot sees it."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright, expect

from casedesk.accounts import StaffInfo
from tests.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.casedesk.conftest import PASSWORD, Desk, case_body, make_settings, new_key, running_desk, tail

require_chromium()
PHONE: ViewportSize = {"width": 390, "height": 844}
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
TIMEOUT_MS = 20_000
URGENT_RED = "rgb(198, 40, 40)"


@pytest_asyncio.fixture(scope="module")
async def page_desk(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Desk]:
    settings = make_settings(tmp_path_factory.mktemp("casedesk-pages"), "sqlite")
    async with running_desk(settings) as url:
        yield Desk(url, settings, "sqlite")


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest_asyncio.fixture
async def api(page_desk: Desk) -> AsyncIterator[httpx.AsyncClient]:
    async with page_desk.api() as client:
        yield client


class Window:
    """One browser context (its own cookies) with one page, collecting script and console errors."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.context = context
        self.page = page
        self.errors: list[str] = []
        #: Refusals a test expects: the browser logs each page answered with it as an error.
        self.expected_statuses: set[int] = set()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)

    def unexpected_errors(self) -> list[str]:
        expected = [f"the server responded with a status of {status} " for status in self.expected_statuses]
        return [error for error in self.errors if not any(words in error for words in expected)]


@pytest_asyncio.fixture
async def window(browser: Browser, page_desk: Desk) -> AsyncIterator[Window]:
    context = await browser.new_context(base_url=page_desk.url, locale="zh-CN", viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    opened = Window(context, await context.new_page())
    yield opened
    await context.close()
    assert opened.unexpected_errors() == []


@pytest_asyncio.fixture
async def phone(browser: Browser, page_desk: Desk) -> AsyncIterator[Window]:
    context = await browser.new_context(
        base_url=page_desk.url, locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    opened = Window(context, await context.new_page())
    yield opened
    await context.close()
    assert opened.unexpected_errors() == []


async def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    await page.goto("/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()


async def signed_in(page: Page, staff: StaffInfo) -> None:
    await sign_in(page, staff.username)
    await expect(page).to_have_url(re.compile(r"/queue$"))
    await expect(page.locator(".top .who")).to_have_text(staff.display_name)


async def post(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, json=body, headers={"Idempotency-Key": new_key()})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_signed_out_visitor_is_sent_to_sign_in(window: Window) -> None:
    page = window.page
    for path in ("/queue", "/inbox", "/case/ZZ2026-000001"):
        await page.goto(path)
        await expect(page).to_have_url(re.compile(r"/login\?next="))
        await expect(page.get_by_role("button", name="登录")).to_be_visible()


async def test_staff_work_the_queue_a_case_and_a_handoff(
    window: Window, page_desk: Desk, api: httpx.AsyncClient
) -> None:
    page = window.page
    staff = await page_desk.new_staff("王调解员")
    case = await post(api, "/cases", case_body(description="楼上漏水把我家天花板泡坏了"))
    escalation_text = f"他说今晚要去砸对方的店 {uuid.uuid4().hex[:4]}"
    await post(
        api,
        "/escalations",
        {
            "channel": "web",
            "resident_ref": "r-browser",
            "text": escalation_text,
            "categories": ["violence_threat", "weapon"],
            "self_harm": False,
            "transcript": [
                {"at": "2026-11-22T09:59:00+08:00", "sender": "resident", "text": "我受不了了"},
                {"at": "2026-11-22T09:59:01+08:00", "sender": "bot", "text": "我马上请工作人员联系您"},
            ],
        },
    )
    changes_start = await tail(api, "changes")
    events_start = await tail(api, "handoff-events")

    # The queue: the urgent escalation on top, in red; the new case among the new ones.
    await signed_in(page, staff)
    sections = page.locator("main h2")
    await expect(sections.first).to_contain_text("紧急事项")
    urgent = page.locator("#urgent-list .urgent-item", has_text=escalation_text)
    await expect(urgent).to_be_visible()
    assert await urgent.evaluate("e => getComputedStyle(e).borderTopColor") == URGENT_RED
    urgent_box = await urgent.bounding_box()
    new_case = page.locator("#new-list a", has_text=str(case["case_no"]))
    await expect(new_case).to_contain_text("邻里纠纷")
    await expect(new_case).to_contain_text("登记受理")
    await expect(new_case).to_contain_text("未指派")
    new_box = await new_case.bounding_box()
    assert urgent_box is not None and new_box is not None
    assert urgent_box["y"] < new_box["y"]

    # The case: phone shown; move it to 先行调解 with a note, assign 司法所.
    await new_case.click()
    await expect(page.locator("h1")).to_contain_text(str(case["case_no"]))
    await expect(page.locator("#case-phone")).to_have_text("13800000000")
    await expect(page.locator("#case-description")).to_have_text("楼上漏水把我家天花板泡坏了")
    options = await page.locator("#step-form select option").all_text_contents()
    assert options == ["先行调解", "不予受理", "已撤回"]
    await page.locator("#step-form select").select_option(label="先行调解")
    await page.locator("#step-form textarea").fill("已安排调解员，明天上午电话联系您。")
    await page.get_by_role("button", name="确认转步骤").click()
    await expect(page.locator(".flash.ok")).to_contain_text("先行调解")
    await expect(page.locator("#case-step")).to_have_text("先行调解")
    await expect(page.locator("#case-note")).to_have_text("已安排调解员，明天上午电话联系您。")
    departments = await page.locator("#department-form select option").all_text_contents()
    assert departments == ["请选择", "法院", "检察院", "公安", "司法所", "信访", "人社", "住建", "其他"]
    await page.locator("#department-form select").select_option("司法所")
    await page.get_by_role("button", name="指派").click()
    await expect(page.locator("#case-department")).to_have_text("司法所")
    await expect(page.locator("#history li")).to_have_count(3)

    changes = (await api.get("/changes", params={"updated_since": changes_start})).json()["changes"]
    assert [(c["case_no"], c["step"], c["department"], c["public_note"]) for c in changes] == [
        (case["case_no"], "mediation", None, "已安排调解员，明天上午电话联系您。"),
        (case["case_no"], "mediation", "司法所", None),
    ]

    # The handoff: urgent first in the inbox; take it, reply, see the resident's answer arrive.
    await page.get_by_role("link", name=re.compile("转人工")).click()
    first = page.locator("#inbox-list li").first
    await expect(first).to_contain_text(escalation_text)
    await expect(first.locator(".tag")).to_have_text("紧急")
    await first.locator("a").click()
    await expect(page.locator(".alert")).to_contain_text("扬言伤人、持械")
    conversation = page.locator("#conversation")
    await expect(conversation.locator("li").nth(0)).to_contain_text("我受不了了")
    await expect(conversation.locator("li").nth(1)).to_contain_text("我马上请工作人员联系您")
    await page.get_by_role("button", name="接入").click()
    await expect(page.locator("#handoff-status")).to_contain_text("已接入（王调解员）")
    await page.locator("#reply-text").fill("您好，我是王调解员。请先冷静，您现在安全吗？")
    await page.get_by_role("button", name="发送").click()
    await expect(conversation.locator("li.staff")).to_contain_text("您好，我是王调解员")

    events = (await api.get("/handoff-events", params={"after": events_start})).json()["events"]
    assert [(e["type"], e["text"], e["staff"], e["resident_ref"]) for e in events] == [
        ("taken", None, "王调解员", "r-browser"),
        ("message", "您好，我是王调解员。请先冷静，您现在安全吗？", "王调解员", "r-browser"),
    ]

    handoff_id = events[0]["handoff_id"]
    relayed = await api.post(
        f"/handoffs/{handoff_id}/messages",
        json={"text": "我现在在家，安全"},
        headers={"Idempotency-Key": new_key()},
    )
    assert relayed.status_code == 201
    await expect(conversation.locator("li.resident.relayed")).to_contain_text("我现在在家，安全")  # polled

    await page.get_by_role("button", name="交还机器人").click()
    await expect(page).to_have_url(re.compile(r"/inbox$"))
    await expect(page.locator(".flash.ok")).to_have_text("已交还机器人")
    events = (await api.get("/handoff-events", params={"after": events_start})).json()["events"]
    assert [e["type"] for e in events] == ["taken", "message", "closed"]
    await page.goto("/queue")
    await expect(page.locator("#urgent-list .urgent-item", has_text=escalation_text)).to_have_count(0)


async def test_the_inbox_refreshes_itself(window: Window, page_desk: Desk, api: httpx.AsyncClient) -> None:
    page = window.page
    await signed_in(page, await page_desk.new_staff())
    await page.goto("/inbox")
    text = f"请人工帮我看看 {uuid.uuid4().hex[:6]}"
    await post(api, "/handoffs", {"channel": "wechat", "resident_ref": "r-poll", "text": text})
    item = page.locator("#inbox-list li", has_text=text)
    await expect(item).to_be_visible(timeout=10_000)  # no reload: the page polls every 3 s
    await expect(item).to_contain_text("等待接入")
    await expect(item).to_contain_text("微信")
    assert int(await page.locator("#waiting-badge").text_content() or "0") >= 1


async def test_five_wrong_passwords_lock_the_account(window: Window, page_desk: Desk) -> None:
    page = window.page
    window.expected_statuses.add(401)
    staff = await page_desk.new_staff()
    for attempt in range(4):
        await sign_in(page, staff.username, f"wrong password {attempt}")
        await expect(page.locator("#login-error")).to_have_text("用户名或密码错误")
    await sign_in(page, staff.username, "wrong password 4")
    await expect(page.locator("#login-error")).to_contain_text("账号已锁定")
    await sign_in(page, staff.username, PASSWORD)  # the right one, too late
    await expect(page.locator("#login-error")).to_contain_text("账号已锁定")
    await page.goto("/queue")
    await expect(page).to_have_url(re.compile(r"/login"))


async def test_a_forged_csrf_token_is_refused(
    window: Window, page_desk: Desk, api: httpx.AsyncClient
) -> None:
    page = window.page
    window.expected_statuses.add(403)
    case = await post(api, "/cases", case_body())
    await signed_in(page, await page_desk.new_staff())
    await page.goto(f"/case/{case['case_no']}")
    await page.locator("#step-form input[name=csrf]").evaluate(
        "input => { input.value = 'forged' + input.value }"
    )
    await page.locator("#step-form textarea").fill("不应生效")
    await page.get_by_role("button", name="确认转步骤").click()
    await expect(page.locator("#error-message")).to_contain_text("表单已过期或来源不明")
    assert (await api.get(f"/cases/{case['case_no']}")).json()["step"] == "accepted"


async def test_a_script_in_a_description_is_shown_as_text(
    window: Window, page_desk: Desk, api: httpx.AsyncClient
) -> None:
    page = window.page
    hostile = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>粗</b>'
    case = await post(api, "/cases", case_body(description=hostile, other_party="<i>对方</i>"))
    await signed_in(page, await page_desk.new_staff())
    await page.goto(f"/case/{case['case_no']}")
    description = page.locator("#case-description")
    await expect(description).to_have_text(hostile)
    assert await description.locator("script, img, b").count() == 0
    assert await page.evaluate("window.__pwned === undefined")
    await expect(page.get_by_text("<i>对方</i>")).to_be_visible()


async def test_the_pages_fit_a_phone(phone: Window, page_desk: Desk, api: httpx.AsyncClient) -> None:
    page = phone.page
    case = await post(api, "/cases", case_body(description="很长的描述" * 80, place="某某街道" * 30))
    await signed_in(page, await page_desk.new_staff())
    for path in ("/queue", f"/case/{case['case_no']}", "/inbox"):
        await page.goto(path)
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
    await page.goto(f"/case/{case['case_no']}")
    await page.locator("#step-form select").select_option(label="已撤回")
    await page.get_by_role("button", name="确认转步骤").tap()
    await expect(page.locator("#case-step")).to_have_text("已撤回")
    await expect(page.locator("#step-form")).to_have_count(0)  # final: nothing more to do


async def test_the_handoff_page_links_to_the_residents_case(
    window: Window, page_desk: Desk, api: httpx.AsyncClient
) -> None:
    page = window.page
    ref = f"r-{uuid.uuid4().hex[:8]}"
    case = await post(
        api,
        "/cases",
        case_body(
            channel="wechat", resident_ref=ref, dispute_type="property_mgmt", description="物业不修电梯"
        ),
    )
    other = await post(api, "/cases", case_body(channel="wechat", resident_ref=f"r-{uuid.uuid4().hex[:8]}"))
    text = f"我要找工作人员 {uuid.uuid4().hex[:6]}"
    await post(api, "/handoffs", {"channel": "wechat", "resident_ref": ref, "text": text})

    await signed_in(page, await page_desk.new_staff())
    await page.goto("/inbox")
    item = page.locator("#inbox-list li", has_text=text)
    await expect(item.locator(".cases")).to_have_text("1 件案件 · 138****0000")
    await item.locator("a").click()
    cases = page.locator("#resident-cases")
    await expect(cases.locator("h2")).to_have_text("该居民登记的案件")
    link = cases.get_by_role("link", name=re.compile(re.escape(str(case["case_no"]))))
    await expect(link).to_contain_text(str(case["reference"]))
    await expect(link).to_contain_text("物业纠纷")
    await expect(link).to_contain_text("登记受理")
    await expect(cases.locator(".phone")).to_have_text("联系电话 13800000000")
    await expect(cases).not_to_contain_text(str(other["case_no"]))
    await link.click()
    await expect(page).to_have_url(re.compile(rf"/case/{re.escape(str(case['case_no']))}$"))
    await expect(page.locator("h1")).to_contain_text(str(case["case_no"]))
    await expect(page.locator("#case-description")).to_have_text("物业不修电梯")
