"""The console in a real browser (headless Chromium driven by Playwright) against the bot's app on
loopback: a volunteer drafts an FAQ and submits it, a reviewer publishes it, and a resident asking
in the web chat of the same app is answered with it at once; retired, it answers no more."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from bot.faq.actors import Role
from tests.admin.conftest import PASSWORD, Console
from tests.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

require_chromium()

pytestmark = pytest.mark.rasa
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 30_000

QUESTION = "邻居在阳台上养的孔雀天天半夜叫，吵得睡不着怎么办？"
PARAPHRASES = "邻居家孔雀半夜叫太吵了\n楼上养孔雀叫声扰民怎么办\n孔雀叫得人睡不着能管吗"
ANSWER = (
    "在住宅区饲养孔雀等动物，不得妨碍邻居正常休息。可以先和邻居当面沟通，请对方把孔雀挪到不扰民的地方；"
    "沟通不成，可以请物业、居委会或人民调解委员会出面调解，也可以向公安机关反映噪声扰民。"
)
RESIDENT_ASKS = "我邻居养的孔雀半夜一直叫，吵得我睡不着，该怎么办"


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


class Session:
    """A browser context with the page's script and console errors collected (a CSP violation
    is one): none may occur."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.context = context
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)


async def _open(browser: Browser, base_url: str, **options: Any) -> Session:
    context = await browser.new_context(base_url=base_url, locale="zh-CN", **options)
    context.set_default_timeout(TIMEOUT_MS)
    return Session(context, await context.new_page())


async def _sign_in(session: Session, username: str) -> Page:
    page = session.page
    await page.goto("/admin")
    await expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    await page.locator("[name=username]").fill(username)
    await page.locator("[name=password]").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(re.compile(r"/admin$"))
    await expect(page.locator("#who")).to_contain_text(username)
    return page


async def _fits_width(page: Page) -> None:
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


async def _resident_asks(browser: Browser, base_url: str, text: str) -> str:
    """A new resident opens the web chat, picks 法律咨询 and asks; the bot's answer."""
    session = await _open(browser, base_url, viewport=PHONE, is_mobile=True, has_touch=True)
    page = session.page
    try:
        await page.goto("/chat")
        await expect(page.locator(".bubble.bot")).to_have_count(1)
        await page.locator("#options button", has_text="法律咨询").tap()
        await expect(page.locator(".bubble.bot")).to_have_count(2)
        await page.locator("#input").fill(text)
        await page.locator("#input").press("Enter")
        await expect(page.locator(".bubble.bot").nth(2)).to_be_visible()
        await expect(page.locator("#messages")).to_have_attribute("aria-busy", "false")
        # The answer, and whatever follows it (a question the danger model worries about gets the
        # caring safety question after the answer).
        answer = "\n".join((await page.locator(".bubble.bot").all_text_contents())[2:])
        assert session.errors == []
        return answer
    finally:
        await session.context.close()


async def test_a_volunteers_draft_published_by_a_reviewer_answers_residents_at_once(
    browser: Browser, console: Console
) -> None:
    volunteer_name = await console.account(Role.VOLUNTEER)
    reviewer_name = await console.account(Role.REVIEWER)
    before = await _resident_asks(browser, console.url, RESIDENT_ASKS)
    assert ANSWER not in before

    # The volunteer, on a laptop, writes the draft and submits it.
    volunteer = await _open(browser, console.url, viewport=LAPTOP)
    page = await _sign_in(volunteer, volunteer_name)
    await page.get_by_role("link", name="新建FAQ").click()
    await page.locator("[name=slug]").fill(f"neighbor-peacock-{uuid.uuid4().hex[:6]}")
    await page.locator("[name=question]").fill(QUESTION)
    await page.locator("[name=paraphrases]").fill(PARAPHRASES)
    await page.locator("[name=answer]").fill(ANSWER)
    await expect(page.locator("#answer-count")).to_have_text(f"{len(ANSWER)} / 1000 字")
    await page.locator("[name=statute]").first.fill("中华人民共和国民法典")
    await page.locator("[name=article]").first.fill("第一千二百五十一条")
    await page.locator("[name=statute]").nth(1).fill("中华人民共和国民法典")
    await page.locator("[name=article]").nth(1).fill("第二百九十四条")
    await page.locator("[name=dispute_type]").select_option("neighbor")
    # The phone-sized preview: the bubble the resident will see, with the bot's 依据 line.
    preview = page.locator("#preview-answer")
    await expect(preview).to_contain_text(ANSWER)
    await expect(preview).to_contain_text("依据：《民法典》第一千二百五十一条、第二百九十四条")
    await expect(page.locator("#preview-question")).to_have_text(QUESTION)
    await page.get_by_role("button", name="保存草稿").click()
    await expect(page.locator(".flash.ok")).to_contain_text("已新建FAQ")
    slug = page.url.rsplit("/", 1)[-1]
    await expect(page.get_by_role("button", name="发布")).to_have_count(0)

    # 试问 on the edit page: answered in place, and only the drafts would answer it.
    await page.locator("#try [name=ask]").fill(RESIDENT_ASKS)
    await page.locator("#try").get_by_role("button", name="试问").click()
    results = page.locator("#try-results .try-side")
    await expect(results).to_have_count(2)
    await expect(results.nth(1).locator(".pick")).to_contain_text(QUESTION)
    await expect(results.nth(0).locator(".pick")).not_to_contain_text(QUESTION)
    assert page.url.endswith(f"/admin/faq/{slug}")

    await page.get_by_role("button", name="提交审核").click()
    await expect(page.locator(".flash.ok")).to_contain_text("已提交审核")
    await expect(page.locator("#status")).to_have_text("待审核")
    assert volunteer.errors == []
    # Submitted is not published: residents still do not get it.
    assert ANSWER not in await _resident_asks(browser, console.url, RESIDENT_ASKS)

    # The reviewer, on a phone, finds it among those waiting and publishes it.
    reviewer = await _open(browser, console.url, viewport=PHONE, is_mobile=True, has_touch=True)
    page = await _sign_in(reviewer, reviewer_name)
    await page.locator("[name=status]").select_option("review")
    await page.get_by_role("button", name="筛选").click()
    await page.get_by_role("link", name=QUESTION).click()
    await expect(page).to_have_url(re.compile(f"/admin/faq/{slug}$"))
    await _fits_width(page)
    await page.get_by_role("button", name="发布").click()
    await expect(page.locator(".flash.ok")).to_contain_text("已发布")
    await expect(page.locator("#status")).to_have_text("已发布")
    await _fits_width(page)

    answered = await _resident_asks(browser, console.url, RESIDENT_ASKS)
    assert ANSWER in answered
    assert "依据：《民法典》第一千二百五十一条、第二百九十四条" in answered

    # Retired: the very next resident is no longer answered with it.
    await page.get_by_role("button", name="停用").click()
    await expect(page.locator(".flash.ok")).to_contain_text("已停用")
    assert ANSWER not in await _resident_asks(browser, console.url, RESIDENT_ASKS)

    # History shows both authors.
    await page.get_by_role("link", name="历史版本").click()
    await expect(page.locator("#versions")).to_contain_text(volunteer_name)
    assert reviewer.errors == []
    await volunteer.context.close()
    await reviewer.context.close()


async def test_a_published_seed_faq_retired_in_the_browser_stops_answering(
    browser: Browser, console: Console
) -> None:
    reviewer_name = await console.account(Role.REVIEWER)
    question = "被别人家的狗咬伤了谁来赔"
    answering = (await console.library.try_question(question)).published.best
    assert answering is not None
    seed = await console.library.get(answering.id)
    assert seed.latest.draft.answer in await _resident_asks(browser, console.url, question)

    reviewer = await _open(browser, console.url, viewport=LAPTOP)
    page = await _sign_in(reviewer, reviewer_name)
    await page.goto(f"/admin/faq/{answering.id}")
    await page.get_by_role("button", name="停用").click()
    await expect(page.locator(".flash.ok")).to_contain_text("已停用")
    assert seed.latest.draft.answer not in await _resident_asks(browser, console.url, question)

    # Published again, it answers again.
    await page.get_by_role("button", name="发布").click()
    await expect(page.locator(".flash.ok")).to_contain_text("已发布")
    assert seed.latest.draft.answer in await _resident_asks(browser, console.url, question)
    assert reviewer.errors == []
    await reviewer.context.close()
