"""Who may do what in the console, seen over HTTP against the bot's real app: signed-out visitors
get nothing, volunteers cannot publish or manage accounts, forged forms and tampered cookies are
refused, repeated wrong passwords lock an account — and every refusal changes nothing."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from sqlalchemy import func, select

from bot.faq.actors import Role
from bot.storage.models import AdminUser, AuditEvent, FaqEntry
from tests.admin.conftest import PASSWORD, Browserless, Console

pytestmark = pytest.mark.rasa

SEED_SLUG = "labor-unpaid-wages"


async def _seed_question(console: Console) -> str:
    return (await console.library.get(SEED_SLUG)).latest.draft.question


async def _entries(console: Console) -> int:
    async with console.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(FaqEntry)) or 0)


async def _users(console: Console) -> int:
    async with console.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AdminUser)) or 0)


def _draft_form(question: str, **extra: str) -> dict[str, str]:
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


async def _new_draft(visitor: Browserless, question: str) -> str:
    await visitor.get("/admin/faq/new")
    response = await visitor.post("/admin/faq/new", _draft_form(question))
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("/", 1)[-1]


async def test_a_signed_out_visitor_is_sent_to_sign_in_and_gets_nothing(console: Console) -> None:
    question = await _seed_question(console)
    visitor = Browserless(console.client())
    pages = [
        "/admin",
        "/admin/?q=工资",
        "/admin/faq/new",
        f"/admin/faq/{SEED_SLUG}",
        f"/admin/faq/{SEED_SLUG}/history",
        "/admin/misses",
        "/admin/audit",
        "/admin/users",
        "/admin/try?ask=老板拖欠工资怎么办",
        "/admin/try?ask=老板拖欠工资怎么办&fragment=1",
        "/admin/faq/no-such-faq",
    ]
    for path in pages:
        response = await visitor.http.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/admin/login?next=%2Fadmin"), path
        assert question not in response.text
        assert "工资" not in response.text
        assert (
            "set-cookie" not in response.headers or "admin_session=null" not in response.headers["set-cookie"]
        )

    before_entries, before_users = await _entries(console), await _users(console)
    # With a token from the sign-in page, even: being signed out is checked first.
    sign_in_page = await visitor.get("/admin/login")
    assert sign_in_page.status_code == 200
    assert question not in sign_in_page.text
    forms = {
        "/admin/faq/new": _draft_form("外人偷偷加的问题"),
        f"/admin/faq/{SEED_SLUG}": _draft_form("外人改的问题", base="1", action="publish"),
        f"/admin/faq/{SEED_SLUG}/unpublish": {"base": "1"},
        f"/admin/faq/{SEED_SLUG}/retire": {"base": "1"},
        f"/admin/faq/{SEED_SLUG}/confirm": {"base": "1"},
        f"/admin/faq/{SEED_SLUG}/restore": {"number": "1"},
        "/admin/misses/dismiss": {"ids": "1,2,3", "reason": "外人"},
        "/admin/users": {"username": "intruder-x", "password": "x" * 20, "role": "reviewer"},
        "/admin/users/anyone/role": {"role": "reviewer"},
        "/admin/users/anyone/active": {"active": "0"},
    }
    for path, data in forms.items():
        response = await visitor.post(path, data)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/admin/login"), path
        assert question not in response.text
    assert await _entries(console) == before_entries
    assert await _users(console) == before_users
    detail = await console.library.get(SEED_SLUG)
    assert detail.summary.status == "published"
    assert detail.latest.number == 1


async def test_console_pages_carry_security_headers_and_are_never_cached(console: Console) -> None:
    reviewer = await console.signed_in(Role.REVIEWER)
    for path in ["/admin", f"/admin/faq/{SEED_SLUG}", "/admin/misses", "/admin/users", "/admin/login"]:
        response = await reviewer.get(path)
        assert response.status_code in (200, 303), path
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
    # The session cookie: only for the console, not readable by scripts, not sent cross-site.
    visitor = console.client()
    await visitor.get("/admin/login")
    cookie = visitor.cookies.jar
    [session_cookie] = [c for c in cookie if c.name == "admin_session"]
    assert session_cookie.path == "/admin"
    login = await visitor.get("/admin/login")
    assert login.status_code == 200
    fresh = console.client()
    response = await fresh.get("/admin/login")
    raw = response.headers["set-cookie"].lower()
    assert "httponly" in raw
    assert "samesite=lax" in raw
    assert "path=/admin" in raw
    # The residents' chat never sets or reads the console's cookie.
    chat = await fresh.get("/chat")
    assert "admin_session" not in chat.headers.get("set-cookie", "")


async def test_a_volunteer_cannot_publish_even_by_posting_the_form(console: Console) -> None:
    volunteer = await console.signed_in(Role.VOLUNTEER)
    slug = await _new_draft(volunteer, f"志愿者草稿问题{uuid.uuid4().hex[:6]}")
    page = await volunteer.get(f"/admin/faq/{slug}")
    assert "提交审核" in page.text
    assert 'value="publish"' not in page.text
    assert "/unpublish" not in page.text
    assert "/retire" not in page.text
    assert "确认已复核" not in page.text

    publish = await volunteer.post(
        f"/admin/faq/{slug}", _draft_form("改过的问题", base="1", action="publish")
    )
    assert publish.status_code == 403
    assert "只有审核员" in publish.text
    detail = await console.library.get(slug)
    assert detail.published is None
    assert detail.summary.status == "draft"
    assert detail.latest.number == 1  # refused before anything was saved

    for action in ("unpublish", "retire", "confirm"):
        response = await volunteer.post(f"/admin/faq/{SEED_SLUG}/{action}", {"base": "1"})
        assert response.status_code == 403, action
    seed = await console.library.get(SEED_SLUG)
    assert seed.summary.status == "published"
    assert seed.published is not None


async def test_a_volunteer_cannot_manage_accounts_or_read_the_audit_log(console: Console) -> None:
    volunteer = await console.signed_in(Role.VOLUNTEER)
    other = await console.account(Role.REVIEWER)
    assert (await volunteer.get("/admin/users")).status_code == 403
    assert (await volunteer.get("/admin/audit")).status_code == 403
    page = await volunteer.get("/admin")
    assert "/admin/users" not in page.text
    users = await _users(console)
    created = await volunteer.post(
        "/admin/users",
        {"username": f"sneaky-{uuid.uuid4().hex[:6]}", "password": "a" * 12, "role": "reviewer"},
    )
    assert created.status_code == 403
    promoted = await volunteer.post(f"/admin/users/{volunteer.username}/role", {"role": "reviewer"})
    assert promoted.status_code == 403
    removed = await volunteer.post(f"/admin/users/{other}/active", {"active": "0"})
    assert removed.status_code == 403
    assert await _users(console) == users
    async with console.sessions() as session:
        me = await session.scalar(select(AdminUser).where(AdminUser.username == volunteer.username))
        them = await session.scalar(select(AdminUser).where(AdminUser.username == other))
        assert me is not None and me.role == "volunteer"
        assert them is not None and them.active


async def test_forged_or_missing_csrf_tokens_are_refused_and_change_nothing(console: Console) -> None:
    reviewer = await console.signed_in(Role.REVIEWER)
    other = await console.signed_in(Role.REVIEWER)
    slug = await _new_draft(reviewer, f"审核员草稿{uuid.uuid4().hex[:6]}")
    await reviewer.get(f"/admin/faq/{slug}")
    attempts = {
        "forged": "x" * 43,
        "missing": "",
        "another session's": other.csrf,
    }
    for what, token in attempts.items():
        response = await reviewer.post(
            f"/admin/faq/{slug}", _draft_form("被伪造的修改", base="1", action="publish"), csrf=token
        )
        assert response.status_code == 403, what
        assert "表单已过期或来源不明" in response.text
        retire = await reviewer.post(f"/admin/faq/{slug}/retire", {"base": "1"}, csrf=token)
        assert retire.status_code == 403, what
    detail = await console.library.get(slug)
    assert detail.latest.number == 1
    assert detail.summary.status == "draft"
    assert detail.published is None
    # Without the field at all.
    bare = await reviewer.http.post(f"/admin/faq/{slug}/retire", data={"base": "1"})
    assert bare.status_code == 403
    assert (await console.library.get(slug)).summary.status == "draft"
    # A sign-in form posted from elsewhere (no token of this visitor's session) is refused too.
    stranger = console.client()
    login = await stranger.post("/admin/login", data={"username": reviewer.username, "password": PASSWORD})
    assert login.status_code == 403
    # The real token still works.
    ok = await reviewer.post(f"/admin/faq/{slug}/retire", {"base": "1"})
    assert ok.status_code == 303
    assert (await console.library.get(slug)).summary.status == "retired"


async def test_one_accounts_session_cannot_act_as_another(console: Console) -> None:
    volunteer = await console.signed_in(Role.VOLUNTEER)
    reviewer = await console.signed_in(Role.REVIEWER)
    async with console.sessions() as session:
        reviewer_id = await session.scalar(
            select(AdminUser.id).where(AdminUser.username == reviewer.username)
        )

    # Rewriting the signed cookie to the reviewer's id breaks its signature: signed out.
    cookie = volunteer.http.cookies["admin_session"]
    payload, timestamp, signature = cookie.rsplit(".", 2)
    data = json.loads(base64.b64decode(payload))
    data["uid"] = reviewer_id
    forged = base64.b64encode(json.dumps(data).encode()).decode()
    intruder = console.client()
    intruder.cookies.set("admin_session", f"{forged}.{timestamp}.{signature}", path="/admin")
    response = await intruder.get("/admin/users")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login")

    # What a volunteer saves is theirs, whatever the form claims.
    slug = await _new_draft(volunteer, f"署名测试{uuid.uuid4().hex[:6]}")
    await volunteer.post(
        f"/admin/faq/{slug}",
        _draft_form("署名测试改", base="1", author=reviewer.username, actor=reviewer.username),
    )
    versions = await console.library.history(slug)
    assert [v.author for v in versions] == [volunteer.username, volunteer.username]

    # Deactivating an account ends its sessions at their next request.
    await reviewer.get("/admin/users")
    assert (
        await reviewer.post(f"/admin/users/{volunteer.username}/active", {"active": "0"})
    ).status_code == 303
    after = await volunteer.get("/admin")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/admin/login")
    again = await volunteer.sign_in(PASSWORD)
    assert again.status_code == 401
    assert "用户名或密码错误" in again.text


async def _audit(console: Console, username: str) -> list[tuple[str, str | None]]:
    async with console.sessions() as session:
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.detail)
            .where(AuditEvent.target == username)
            .order_by(AuditEvent.id)
        )
        return [(action, detail) for action, detail in rows]


async def test_five_wrong_passwords_lock_the_account_for_a_while(console: Console) -> None:
    username = await console.account(Role.VOLUNTEER)
    visitor = Browserless(console.client(), username)
    for attempt in range(1, 6):
        response = await visitor.sign_in("wrong password!")
        assert response.status_code == 401
        if attempt < 5:
            assert "用户名或密码错误" in response.text
    assert "账号已暂时锁定" in response.text
    # Locked: even the right password is refused.
    locked = await visitor.sign_in(PASSWORD)
    assert locked.status_code == 401
    assert "账号已暂时锁定" in locked.text
    assert (await visitor.get("/admin")).status_code == 303
    events = await _audit(console, username)
    assert [action for action, _ in events] == [
        "user_created",
        *["sign_in_failed"] * 5,
        "locked",
        "sign_in_failed",
    ]
    assert events[-1][1] == "locked"
    async with console.sessions() as session:
        row = await session.scalar(select(AdminUser).where(AdminUser.username == username))
        assert row is not None and row.locked_until is not None and row.locked_until.tzinfo is not None
    # The accounts page still opens while an account is locked, and shows which.
    users = await (await console.signed_in(Role.REVIEWER)).get("/admin/users")
    assert users.status_code == 200 and "已锁定至" in users.text

    # A success resets the count: four failures, a success, four more — never locked.
    other = await console.account(Role.VOLUNTEER)
    visitor = Browserless(console.client(), other)
    for _ in range(4):
        assert (await visitor.sign_in("nope, not it")).status_code == 401
    assert (await visitor.sign_in(PASSWORD)).status_code == 303
    await visitor.post("/admin/logout")
    for _ in range(4):
        assert (await visitor.sign_in("nope, not it")).status_code == 401
    assert (await visitor.sign_in(PASSWORD)).status_code == 303
    actions = [action for action, _ in await _audit(console, other)]
    assert actions.count("sign_in") == 2
    assert actions.count("sign_out") == 1
    assert "locked" not in actions

    # An unknown name is refused in the same words (and costs the same time).
    ghost = Browserless(console.client(), f"ghost-{uuid.uuid4().hex[:6]}")
    response = await ghost.sign_in(PASSWORD)
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert [action for action, _ in await _audit(console, ghost.username)] == ["sign_in_failed"]
