"""The console's pages over HTTP against the bot's real app: the FAQ list (search, filters, the
12-month flag), 试问, editing with conflicts and refusals, history and restore, the unanswered
questions, accounts and the audit log — and hostile text shown as text everywhere."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.faq.actors import Role
from bot.storage.models import AdminUser, FaqEntry, FaqMiss
from tests.admin.conftest import PASSWORD, Browserless, Console

pytestmark = pytest.mark.rasa

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
ESCAPED = html.escape(HOSTILE)


def _form(question: str, **extra: str) -> dict[str, str]:
    return {
        "question": question,
        "paraphrases": "",
        "answer": "先和对方协商，协商不成可以申请人民调解。",
        "statute": "中华人民共和国人民调解法",
        "article": "第十七条",
        "dispute_type": "neighbor",
        "action": "save",
        **extra,
    }


def _slug(location: str) -> str:
    return location.rsplit("/", 1)[-1]


async def _create(visitor: Browserless, question: str, **extra: str) -> str:
    await visitor.get("/admin/faq/new")
    response = await visitor.post("/admin/faq/new", _form(question, **extra))
    assert response.status_code == 303, response.text
    return _slug(response.headers["location"])


async def _entries(console: Console) -> int:
    async with console.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(FaqEntry)) or 0)


def _assert_escaped(page: str, where: str) -> None:
    assert HOSTILE not in page, where
    assert ESCAPED in page, where


async def test_script_tags_in_every_field_come_back_as_text_on_every_page(console: Console) -> None:
    reviewer = await console.signed_in(Role.REVIEWER)
    marker = uuid.uuid4().hex[:6]

    # Refused (the statute does not exist): the form comes back with everything as typed, escaped.
    await reviewer.get("/admin/faq/new")
    refused = await reviewer.post(
        "/admin/faq/new",
        _form(
            f"{HOSTILE}问题{marker}",
            paraphrases=f"{HOSTILE}\n邻居{marker}",
            answer=f"{HOSTILE}回答",
            statute=HOSTILE,
            article=HOSTILE,
            slug=HOSTILE,
        ),
    )
    assert refused.status_code == 422
    assert refused.text.count(ESCAPED) >= 5  # question, paraphrases, answer, preview, statute, reason
    _assert_escaped(refused.text, "refused form")

    slug = await _create(
        reviewer, f"{HOSTILE}问题{marker}", paraphrases=f"{HOSTILE}\n邻居{marker}", answer=f"{HOSTILE}回答"
    )
    edit = await reviewer.get(f"/admin/faq/{slug}")
    _assert_escaped(edit.text, "edit page")
    assert edit.text.count(ESCAPED) >= 4  # question, paraphrases, answer, both preview bubbles
    saved = await reviewer.post(
        f"/admin/faq/{slug}", _form(f"{HOSTILE}问题{marker}", answer=f"新{HOSTILE}", note=HOSTILE, base="1")
    )
    assert saved.status_code == 303
    _assert_escaped((await reviewer.get(f"/admin/faq/{slug}/history")).text, "history")
    _assert_escaped((await reviewer.get("/admin", q=HOSTILE)).text, "search box")
    _assert_escaped((await reviewer.get("/admin", q=marker)).text, "list")
    _assert_escaped((await reviewer.get("/admin/try", ask=f"{HOSTILE}邻居{marker}")).text, "try page")
    fragment = await reviewer.get("/admin/try", ask=f"邻居{marker}问题", fragment="1")
    _assert_escaped(fragment.text, "try fragment")

    # Residents' words in the unanswered queue, a prefilled draft from them, a dismissal reason.
    async with console.sessions.begin() as session:
        miss = FaqMiss(text=f"{HOSTILE}怎么办{marker}", dispute_type="neighbor", candidates=[HOSTILE])
        session.add(miss)
        await session.flush()
        miss_id = miss.id
    _assert_escaped((await reviewer.get("/admin/misses")).text, "misses")
    _assert_escaped((await reviewer.get("/admin/faq/new", miss=str(miss_id))).text, "prefilled draft")
    dismissed = await reviewer.post("/admin/misses/dismiss", {"ids": str(miss_id), "reason": HOSTILE})
    assert dismissed.status_code == 303
    _assert_escaped((await reviewer.get("/admin/audit")).text, "audit log")

    # Typed into the sign-in and account forms.
    stranger = Browserless(console.client(), HOSTILE)
    _assert_escaped((await stranger.sign_in("whatever it is")).text, "sign-in page")
    await reviewer.get("/admin/users")
    account = await reviewer.post(
        "/admin/users", {"username": HOSTILE, "password": "x" * 12, "role": "volunteer"}
    )
    assert account.status_code == 422
    _assert_escaped(account.text, "users page")


async def test_a_huge_answer_is_refused_with_a_message_and_nothing_is_saved(console: Console) -> None:
    reviewer = await console.signed_in(Role.REVIEWER)
    huge = "请先保存好证据，再和对方协商。" * 600  # 9,000 characters
    entries = await _entries(console)
    await reviewer.get("/admin/faq/new")
    response = await reviewer.post("/admin/faq/new", _form(f"很长的回答{uuid.uuid4().hex[:6]}", answer=huge))
    assert response.status_code == 422
    assert "回答有9000个字，超过了1000字的上限" in response.text
    assert huge in response.text  # kept in the form to shorten, not lost
    assert await _entries(console) == entries

    slug = await _create(reviewer, f"正常的回答{uuid.uuid4().hex[:6]}")
    await reviewer.get(f"/admin/faq/{slug}")
    edit = await reviewer.post(f"/admin/faq/{slug}", _form("正常的问题", answer=huge, base="1"))
    assert edit.status_code == 422
    assert "超过了1000字的上限" in edit.text
    assert (await console.library.get(slug)).latest.number == 1


async def test_a_stale_edit_is_not_saved_over_a_newer_one(console: Console) -> None:
    first = await console.signed_in(Role.VOLUNTEER)
    second = await console.signed_in(Role.REVIEWER)
    slug = await _create(first, f"两人同时编辑{uuid.uuid4().hex[:6]}")
    await first.get(f"/admin/faq/{slug}")
    await second.get(f"/admin/faq/{slug}")
    mine = await first.post(f"/admin/faq/{slug}", _form("第一位的修改", answer="第一位写的回答。", base="1"))
    assert mine.status_code == 303
    theirs = await second.post(
        f"/admin/faq/{slug}", _form("第二位的修改", answer="第二位写的回答。", base="1", action="publish")
    )
    assert theirs.status_code == 409
    assert "在您编辑期间" in theirs.text
    assert first.username in theirs.text
    assert "第二位写的回答。" in theirs.text  # their text is still on the page to copy
    detail = await console.library.get(slug)
    assert detail.latest.number == 2
    assert detail.latest.draft.answer == "第一位写的回答。"
    assert detail.published is None


async def test_list_search_filters_and_the_twelve_month_flag(console: Console) -> None:
    volunteer = await console.signed_in(Role.VOLUNTEER)
    found = await volunteer.get("/admin", q="老板拖欠工资")
    assert found.status_code == 200
    assert "/admin/faq/labor-unpaid-wages" in found.text
    assert "/admin/faq/family-divorce-agreement" not in found.text

    labor = await volunteer.get("/admin", type="labor")
    slugs = set(re.findall(r'href="/admin/faq/([a-z0-9_-]+)"', labor.text)) - {"new"}
    assert slugs
    assert all(slug.startswith("labor-") for slug in slugs), slugs

    # An answer nobody confirmed for over a year is flagged, and can be listed alone.
    async with console.sessions.begin() as session:
        await session.execute(
            update(FaqEntry)
            .where(FaqEntry.slug == "consumer-online-seven-day-return")
            .values(reviewed_at=datetime.now(UTC) - timedelta(days=400))
        )
    stale = await volunteer.get("/admin", stale="1")
    assert "超过12个月未复核" in stale.text
    assert "/admin/faq/consumer-online-seven-day-return" in stale.text
    assert "/admin/faq/labor-unpaid-wages" not in stale.text
    page = await volunteer.get("/admin/faq/consumer-online-seven-day-return")
    assert "超过12个月未复核" in page.text

    reviewer = await console.signed_in(Role.REVIEWER)
    await reviewer.get("/admin/faq/consumer-online-seven-day-return")
    base = str((await console.library.get("consumer-online-seven-day-return")).latest.number)
    confirmed = await reviewer.post("/admin/faq/consumer-online-seven-day-return/confirm", {"base": base})
    assert confirmed.status_code == 303
    assert (
        "/admin/faq/consumer-online-seven-day-return" not in (await volunteer.get("/admin", stale="1")).text
    )

    drafts = await volunteer.get("/admin", status="draft")
    assert "/admin/faq/labor-unpaid-wages" not in drafts.text


async def test_try_shows_the_published_answer_and_the_effect_of_a_draft(console: Console) -> None:
    volunteer = await console.signed_in(Role.VOLUNTEER)
    question = "小区里的孔雀半夜叫得人睡不着怎么办"
    before = await volunteer.get("/admin/try", ask=question)
    assert before.status_code == 200
    slug = await _create(
        volunteer,
        "邻居养的孔雀半夜叫怎么办",
        paraphrases="小区孔雀半夜叫睡不着\n孔雀叫声太吵了",
        answer="饲养动物不得干扰他人正常生活，可以先和邻居协商，也可以找居委会调解。",
        statute="中华人民共和国民法典",
        article="第一千二百五十一条",
    )
    tried = await volunteer.get("/admin/try", ask=question, slug=slug)
    published_side, draft_side = tried.text.split("含草稿（发布后的效果）", 1)
    assert f"/admin/faq/{slug}" not in published_side
    assert f'机器人会回答：<a href="/admin/faq/{slug}">' in draft_side
    assert "得分" in draft_side


async def test_submit_then_publish_then_retire(console: Console) -> None:
    volunteer = await console.signed_in(Role.VOLUNTEER)
    reviewer = await console.signed_in(Role.REVIEWER)
    slug = await _create(volunteer, f"提交审核流程{uuid.uuid4().hex[:6]}")
    await volunteer.get(f"/admin/faq/{slug}")
    submitted = await volunteer.post(f"/admin/faq/{slug}", _form("提交审核流程", base="1", action="submit"))
    assert submitted.status_code == 303
    page = await volunteer.get(f"/admin/faq/{slug}")
    assert "已提交审核" in page.text
    assert "待审核" in page.text
    assert "/admin/faq/" + slug in (await volunteer.get("/admin", status="review")).text

    page = await reviewer.get(f"/admin/faq/{slug}")
    assert 'value="publish"' in page.text
    published = await reviewer.post(f"/admin/faq/{slug}", _form("提交审核流程", base="2", action="publish"))
    assert published.status_code == 303
    detail = await console.library.get(slug)
    assert detail.summary.status == "published"
    assert detail.published is not None and detail.published.number == 2

    await reviewer.get(f"/admin/faq/{slug}")
    retired = await reviewer.post(f"/admin/faq/{slug}/retire", {"base": "2"})
    assert retired.status_code == 303
    assert (await console.library.get(slug)).summary.status == "retired"
    assert "已停用" in (await reviewer.get(f"/admin/faq/{slug}")).text


async def test_history_shows_who_changed_what_and_restores_an_old_version(console: Console) -> None:
    volunteer = await console.signed_in(Role.VOLUNTEER)
    slug = await _create(volunteer, f"历史版本{uuid.uuid4().hex[:6]}", answer="最初的回答。")
    await volunteer.get(f"/admin/faq/{slug}")
    await volunteer.post(
        f"/admin/faq/{slug}", _form("历史版本", answer="改过的回答。", base="1", note="改了回答")
    )
    history = await volunteer.get(f"/admin/faq/{slug}/history")
    assert history.status_code == 200
    assert "第2版" in history.text and "第1版" in history.text
    assert volunteer.username in history.text
    assert "说明：改了回答" in history.text
    assert re.search(r'class="added"><span class="field">回答</span>改过的回答。', history.text)
    assert re.search(r'class="removed"><span class="field">回答</span>最初的回答。', history.text)

    restored = await volunteer.post(f"/admin/faq/{slug}/restore", {"number": "1"})
    assert restored.status_code == 303
    detail = await console.library.get(slug)
    assert detail.latest.number == 3
    assert detail.latest.draft.answer == "最初的回答。"
    assert "已把第1版恢复为第3版草稿" in (await volunteer.get(f"/admin/faq/{slug}")).text


async def test_unanswered_questions_grouped_written_up_and_dismissed(console: Console) -> None:
    volunteer = await console.signed_in(Role.VOLUNTEER)
    marker = uuid.uuid4().hex[:4]
    similar = [
        f"楼下烧烤店油烟熏到我家{marker}怎么办",
        f"楼下烧烤店的油烟熏到我家了{marker}",
        f"楼下烧烤店油烟太大熏到我家{marker}",
    ]
    async with console.sessions.begin() as session:
        rows = [FaqMiss(text=text, dispute_type="environment", candidates=[]) for text in similar]
        other = FaqMiss(text=f"养老保险断缴{marker}以后还能补吗", dispute_type="labor", candidates=[])
        session.add_all([*rows, other])
        await session.flush()
        ids = [row.id for row in rows]
        other_id = other.id
    page = await volunteer.get("/admin/misses")
    assert page.status_code == 200
    group = next(
        part for part in page.text.split('class="card miss-group"') if "烧烤店" in part and marker in part
    )
    assert "3 次" in group
    link = re.search(r'href="(/admin/faq/new\?miss=[0-9,]+)"', group)
    assert link is not None
    assert sorted(int(i) for i in link.group(1).split("=")[1].split(",")) == sorted(ids)

    prefilled = await volunteer.get(link.group(1))
    assert "烧烤店" in prefilled.text
    assert 'value="environment" selected' in prefilled.text
    written = await volunteer.post(
        "/admin/faq/new",
        _form(
            f"楼下烧烤店油烟熏到我家{marker}怎么办",
            answer="可以向生态环境部门或城管部门反映，也可以申请调解。",
            statute="",
            article="",
            dispute_type="environment",
            miss=",".join(map(str, ids)),
        ),
    )
    assert written.status_code == 303
    page = await volunteer.get("/admin/misses")
    assert f"烧烤店油烟熏到我家{marker}" not in page.text  # answered by the new FAQ

    no_reason = await volunteer.post("/admin/misses/dismiss", {"ids": str(other_id), "reason": "  "})
    assert no_reason.status_code == 303
    page = await volunteer.get("/admin/misses")
    assert "请填写忽略的原因" in page.text
    assert f"养老保险断缴{marker}" in page.text
    await volunteer.post(
        "/admin/misses/dismiss", {"ids": str(other_id), "reason": "属于社保政策咨询，已转12345"}
    )
    page = await volunteer.get("/admin/misses")
    assert f"养老保险断缴{marker}" not in page.text
    async with console.sessions() as session:
        row = await session.get(FaqMiss, other_id)
        assert row is not None and row.dismiss_reason == "属于社保政策咨询，已转12345"
        assert row.dismissed_by == volunteer.username


async def test_reviewers_manage_accounts_and_read_the_audit_log(console: Console) -> None:
    reviewer = await console.signed_in(Role.REVIEWER)
    newcomer = f"newcomer-{uuid.uuid4().hex[:6]}"
    page = await reviewer.get("/admin/users")
    assert reviewer.username in page.text
    weak = await reviewer.post(
        "/admin/users", {"username": newcomer, "password": "short", "role": "volunteer"}
    )
    assert weak.status_code == 422
    assert "密码至少需要10个字符" in weak.text
    made = await reviewer.post(
        "/admin/users", {"username": newcomer, "password": PASSWORD, "role": "volunteer"}
    )
    assert made.status_code == 303
    again = await reviewer.post(
        "/admin/users", {"username": newcomer, "password": PASSWORD, "role": "volunteer"}
    )
    assert again.status_code == 422
    assert "已存在" in again.text

    visitor = Browserless(console.client(), newcomer)
    assert (await visitor.sign_in(PASSWORD)).status_code == 303
    assert (await visitor.get("/admin/users")).status_code == 403
    await reviewer.get("/admin/users")
    assert (await reviewer.post(f"/admin/users/{newcomer}/role", {"role": "reviewer"})).status_code == 303
    assert (await visitor.get("/admin/users")).status_code == 303  # a role change ends the sessions
    assert (await visitor.sign_in(PASSWORD)).status_code == 303
    assert (await visitor.get("/admin/users")).status_code == 200  # the new role, from the new sign-in
    await reviewer.post(f"/admin/users/{newcomer}/active", {"active": "0"})
    assert (await visitor.get("/admin")).status_code == 303
    # Nobody deactivates themselves.
    own = await reviewer.post(f"/admin/users/{reviewer.username}/active", {"active": "0"})
    assert own.status_code == 303
    async with console.sessions() as session:
        me = await session.scalar(select(AdminUser).where(AdminUser.username == reviewer.username))
        assert me is not None and me.active

    audit = await reviewer.get("/admin/audit")
    assert audit.status_code == 200
    rows = [row for row in audit.text.split("<tr>") if newcomer in row]
    labels = [
        label for row in rows for label in ("创建账号", "修改账号", "登录") if f"<td>{label}</td>" in row
    ]
    # newest first: deactivated, signed in again (a role change ended the session), role, signed in
    assert labels[:4] == ["修改账号", "登录", "修改账号", "登录"]


def _awaiting(page: str) -> int:
    link = re.search(r'id="awaiting-review"[^>]*>待审核(?: <span class="count">(\d+)</span>)?</a>', page)
    assert link is not None, "the reviewer's menu has no 待审核 entry"
    return int(link.group(1) or 0)


async def test_the_reviewers_menu_counts_the_faqs_waiting_for_review(console: Console) -> None:
    volunteer = await console.signed_in(Role.VOLUNTEER)
    reviewer = await console.signed_in(Role.REVIEWER)
    before = _awaiting((await reviewer.get("/admin/misses")).text)
    slug = await _create(volunteer, f"待审核计数{uuid.uuid4().hex[:6]}")
    await volunteer.get(f"/admin/faq/{slug}")
    await volunteer.post(f"/admin/faq/{slug}", _form("待审核计数", base="1", action="submit"))
    assert 'id="awaiting-review"' not in (await volunteer.get("/admin")).text  # reviewers' work only
    assert _awaiting((await reviewer.get("/admin/misses")).text) == before + 1
    waiting = await reviewer.get("/admin", status="review")
    assert f"/admin/faq/{slug}" in waiting.text
    await reviewer.get(f"/admin/faq/{slug}")
    await reviewer.post(f"/admin/faq/{slug}", _form("待审核计数", base="2", action="publish"))
    assert _awaiting((await reviewer.get("/admin")).text) == before
