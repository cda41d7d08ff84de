"""The case-system API of the reference desk, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import re
import struct
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest
import yaml

from casedesk.openapi import main
from casedesk.settings import PROJECT_ROOT
from tests.casedesk.conftest import CSRF, PASSWORD, Desk, StaffClient, case_body, new_key, sign_in, tail

CASE_NO = re.compile(r"^ZZ\d{4}-\d{6}$")


def png(width: int = 2, height: int = 2) -> bytes:
    """A real, valid PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def assert_problem(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert set(problem) == {"title", "status", "detail"}
    assert problem["status"] == status
    assert problem["title"]
    for word in words:
        assert word in (problem["detail"] or ""), problem


async def create_case(api: httpx.AsyncClient, **changes: object) -> dict[str, object]:
    response = await api.post("/cases", json=case_body(**changes), headers={"Idempotency-Key": new_key()})
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


# --- cases and idempotency ---


async def test_create_read_and_retry_a_case(desk: Desk, api: httpx.AsyncClient) -> None:
    body = case_body()
    key = new_key()
    created = await api.post("/cases", json=body, headers={"Idempotency-Key": key})
    assert created.status_code == 201, created.text
    case = created.json()
    assert CASE_NO.match(case["case_no"])
    assert case["reference"] == body["reference"]
    assert case["step"] == "accepted"
    assert case["department"] is None
    assert case["created_at"].endswith("Z") or case["created_at"].endswith("+00:00")

    read = await api.get(f"/cases/{case['case_no']}")
    assert read.status_code == 200
    assert read.json() == case

    retry = await api.post("/cases", json=body, headers={"Idempotency-Key": key})
    assert retry.status_code == 200
    assert retry.json() == case
    assert await desk.count("cases", reference=body["reference"]) == 1

    other = await api.post("/cases", json=case_body(), headers={"Idempotency-Key": key})
    assert_problem(other, 409, "Idempotency-Key", key)
    assert await desk.count("cases", reference=body["reference"]) == 1


async def test_case_numbers_count_up(api: httpx.AsyncClient) -> None:
    first = await create_case(api)
    second = await create_case(api)
    assert str(first["case_no"])[:7] == str(second["case_no"])[:7]
    assert int(str(second["case_no"])[-6:]) == int(str(first["case_no"])[-6:]) + 1


async def test_concurrent_creates_with_one_key_make_one_case(desk: Desk, api: httpx.AsyncClient) -> None:
    body = case_body()
    key = new_key()
    responses = await asyncio.gather(
        *(api.post("/cases", json=body, headers={"Idempotency-Key": key}) for _ in range(8))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [201], [r.text for r in responses]
    assert len({r.json()["case_no"] for r in responses}) == 1
    assert await desk.count("cases", reference=body["reference"]) == 1
    assert await desk.count("idempotency_keys", key=key) == 1


async def test_the_token_is_required(desk: Desk) -> None:
    for token in (None, "wrong-token", ""):
        async with desk.api(token) as client:
            assert_problem(await client.get("/changes"), 401, "bearer token")
            # Checked before the body is read: a bad body without a token is still a 401.
            response = await client.post("/cases", content=b"{not json", headers={"Idempotency-Key": "k"})
            assert_problem(response, 401)
            assert response.headers["www-authenticate"] == "Bearer"
    async with httpx.AsyncClient(base_url=desk.url) as client:
        response = await client.get(
            "/api/v1/changes", headers={"Authorization": f"Basic {desk.settings.token}"}
        )
        assert_problem(response, 401)


async def test_bad_requests_are_422_and_name_what_failed(api: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": new_key()}
    body = case_body()
    del body["place"]
    assert_problem(await api.post("/cases", json=body, headers=key), 422, "place", "required")
    short_phone = case_body()
    short_phone["reporter"]["phone"] = "12"  # a phone may be left out (null), never malformed
    assert_problem(await api.post("/cases", json=short_phone, headers=key), 422, "reporter.phone")
    assert_problem(
        await api.post("/cases", json=case_body(surprise=1), headers=key), 422, "surprise", "not permitted"
    )
    assert_problem(
        await api.post("/cases", json=case_body(description="x" * 5001), headers=key), 422, "description"
    )
    assert_problem(
        await api.post("/cases", content=b"{not json", headers={**key, "Content-Type": "application/json"}),
        422,
        "JSON",
    )
    assert_problem(await api.post("/cases", json=case_body()), 422, "Idempotency-Key")
    naive = case_body(consent_at="2026-11-22T10:00:00")
    assert_problem(await api.post("/cases", json=naive, headers=key), 422, "consent_at", "timezone")
    assert_problem(await api.get("/changes", params={"limit": 0}), 422, "limit")
    assert_problem(await api.get("/changes", params={"limit": 1001}), 422, "limit")
    assert_problem(await api.get("/changes", params={"updated_since": "abc"}), 422, "updated_since")
    assert_problem(await api.get("/handoff-events", params={"after": "-1"}), 422, "after")
    assert_problem(await api.post("/escalations", json={"channel": "web"}, headers=key), 422, "resident_ref")


async def test_unknown_things_are_404_problems(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/cases/ZZ1999-999999"), 404, "ZZ1999-999999")
    assert_problem(await api.get("/no-such-endpoint"), 404)
    assert_problem(
        await api.post(
            "/handoffs/999999/messages", json={"text": "hi"}, headers={"Idempotency-Key": new_key()}
        ),
        404,
        "999999",
    )
    assert_problem(await api.post("/handoffs/999999/close"), 404, "999999")
    assert_problem(await api.delete("/changes"), 405)


async def test_bodies_have_a_size_limit(api: httpx.AsyncClient) -> None:
    big = case_body(description="x" * (3 * 1024 * 1024))
    assert_problem(await api.post("/cases", json=big, headers={"Idempotency-Key": new_key()}), 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"description": "'
        for _ in range(48):
            yield b"x" * 65536
        yield b'"}'

    chunked = await api.post(
        "/cases", content=chunks(), headers={"Idempotency-Key": new_key(), "Content-Type": "application/json"}
    )
    assert "content-length" not in chunked.request.headers
    assert_problem(chunked, 413)


# --- the changes feed ---


async def test_changes_feed_pages_every_change_once(
    desk: Desk, api: httpx.AsyncClient, staff: StaffClient
) -> None:
    start = await tail(api, "changes")
    cases = [await create_case(api) for _ in range(20)]
    moved = str(cases[0]["case_no"])
    # Five staff changes among them: 20 creations + 5 changes = 25 events.
    for step, current in (("mediation", "accepted"), ("risk_assessment", "mediation")):
        response = await staff.post(
            f"/case/{moved}/step", {"step": step, "current": current, "note": f"到{step}"}
        )
        assert response.status_code == 303
    for department in ("司法所", "法院", "其他"):
        response = await staff.post(f"/case/{moved}/department", {"department": department})
        assert response.status_code == 303

    seen: list[dict[str, object]] = []
    cursors = [start]
    while True:
        response = await api.get("/changes", params={"updated_since": cursors[-1], "limit": 10})
        page = response.json()
        seen.extend(page["changes"])
        cursors.append(page["next_cursor"])
        if not page["has_more"]:
            break
    assert len(seen) == 25
    assert [len(seen[i : i + 10]) for i in range(0, 25, 10)] == [10, 10, 5]
    seqs = [int(str(change["seq"])) for change in seen]
    assert seqs == sorted(set(seqs))
    assert cursors[-1] == str(seqs[-1])
    assert [c["case_no"] for c in seen[:20]] == [c["case_no"] for c in cases]
    assert all(c["step"] == "accepted" and c["public_note"] is None for c in seen[:20])
    history = [(c["step"], c["department"], c["public_note"]) for c in seen[20:]]
    assert history == [
        ("mediation", None, "到mediation"),
        ("risk_assessment", None, "到risk_assessment"),
        ("risk_assessment", "司法所", None),
        ("risk_assessment", "法院", None),
        ("risk_assessment", "其他", None),
    ]

    # Resuming from any cursor gives the same events after it; the end is empty and stays put.
    again = await api.get("/changes", params={"updated_since": cursors[1], "limit": 1000})
    assert again.json()["changes"] == seen[10:]
    end = (await api.get("/changes", params={"updated_since": cursors[-1]})).json()
    assert end == {"changes": [], "next_cursor": cursors[-1], "has_more": False}

    case = (await api.get(f"/cases/{moved}")).json()
    assert (case["step"], case["department"], case["public_note"]) == (
        "risk_assessment",
        "其他",
        "到risk_assessment",
    )


async def test_staff_cannot_skip_steps_or_reopen(api: httpx.AsyncClient, staff: StaffClient) -> None:
    case_no = str((await create_case(api))["case_no"])
    start = await tail(api, "changes")
    skip = await staff.post(f"/case/{case_no}/step", {"step": "routing", "current": "accepted"})
    assert skip.status_code == 303
    stale = await staff.post(f"/case/{case_no}/step", {"step": "mediation", "current": "routing"})
    assert stale.status_code == 303
    assert (await api.get(f"/cases/{case_no}")).json()["step"] == "accepted"
    page = await staff.client.get(f"/case/{case_no}")
    assert "已被他人更新" in page.text  # the flash of the stale form

    closed = await staff.post(f"/case/{case_no}/close", {"current": "accepted", "note": "已调解成功"})
    assert closed.status_code == 303
    again = await staff.post(f"/case/{case_no}/step", {"step": "mediation", "current": "closed"})
    assert again.status_code == 303
    changes = (await api.get("/changes", params={"updated_since": start})).json()["changes"]
    assert [(c["step"], c["public_note"]) for c in changes] == [("closed", "已调解成功")]


# --- attachments ---


async def test_attachments(desk: Desk, api: httpx.AsyncClient, staff: StaffClient) -> None:
    case_no = str((await create_case(api))["case_no"])
    image = png()
    key = new_key()
    path = f"/cases/{case_no}/attachments"
    files = {"file": ("现场照片.png", image, "application/octet-stream")}
    created = await api.post(path, files=files, headers={"Idempotency-Key": key})
    assert created.status_code == 201, created.text
    attachment = created.json()
    assert attachment["case_no"] == case_no
    assert attachment["filename"] == "现场照片.png"
    assert attachment["content_type"] == "image/png"  # judged by the bytes, not the declared type
    assert attachment["size"] == len(image)
    stored = list((desk.settings.data_dir / "attachments").iterdir())
    assert image in [p.read_bytes() for p in stored]

    retry = await api.post(path, files=files, headers={"Idempotency-Key": key})
    assert (retry.status_code, retry.json()) == (200, attachment)
    assert await desk.count("attachments", sha256=hashlib.sha256(image).hexdigest()) == 1
    other = await api.post(
        path, files={"file": ("b.png", png(3, 3), "image/png")}, headers={"Idempotency-Key": key}
    )
    assert_problem(other, 409, "Idempotency-Key")

    for name, content in (
        ("notes.txt", b"just some text, not an image"),
        ("fake.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
        ("empty.jpg", b""),
    ):
        refused = await api.post(
            path, files={"file": (name, content, "image/png")}, headers={"Idempotency-Key": new_key()}
        )
        assert_problem(refused, 415, "file", "JPEG, PNG, GIF or WebP")

    huge = b"\x89PNG\r\n\x1a\n" + bytes(11 * 1024 * 1024)
    too_big = await api.post(
        path, files={"file": ("big.png", huge, "image/png")}, headers={"Idempotency-Key": new_key()}
    )
    assert_problem(too_big, 413)
    just_over = b"\x89PNG\r\n\x1a\n" + bytes(10 * 1024 * 1024 - 7)
    too_big = await api.post(
        path, files={"file": ("big.png", just_over, "image/png")}, headers={"Idempotency-Key": new_key()}
    )
    assert_problem(too_big, 413, "file", "10 MB")

    for head, content_type in (
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"GIF89a", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
    ):
        accepted = await api.post(
            path,
            files={"file": ("x", head + b"\x00" * 32, "text/plain")},
            headers={"Idempotency-Key": new_key()},
        )
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["content_type"] == content_type

    missing = await api.post(
        "/cases/ZZ1999-000000/attachments", files=files, headers={"Idempotency-Key": new_key()}
    )
    assert_problem(missing, 404, "ZZ1999-000000")
    no_file = await api.post(path, data={"other": "x"}, headers={"Idempotency-Key": new_key()})
    assert_problem(no_file, 422, "file")

    # Staff see the image on the case page (and only staff).
    page = await staff.client.get(f"/case/{case_no}")
    assert f"/case/{case_no}/attachment/{attachment['id']}" in page.text
    served = await staff.client.get(f"/case/{case_no}/attachment/{attachment['id']}")
    assert (served.status_code, served.content, served.headers["content-type"]) == (200, image, "image/png")
    async with httpx.AsyncClient(base_url=desk.url) as anonymous:
        refused_page = await anonymous.get(f"/case/{case_no}/attachment/{attachment['id']}")
        assert refused_page.status_code == 303


# --- escalations and handoffs ---


async def test_an_escalation_is_urgent_on_the_queue_and_in_the_inbox(
    api: httpx.AsyncClient, staff: StaffClient
) -> None:
    case = await create_case(api)
    plain = await api.post(
        "/handoffs",
        json={"channel": "web", "resident_ref": "r-plain", "text": "我想找人工"},
        headers={"Idempotency-Key": new_key()},
    )
    assert plain.status_code == 201
    key = new_key()
    body = {
        "channel": "wechat",
        "resident_ref": "r-urgent",
        "text": "他拿着刀在门口，说要砍人",
        "categories": ["weapon", "something_new"],
        "self_harm": False,
        "case_reference": case["reference"],
        "transcript": [{"at": "2026-11-22T10:00:00+08:00", "sender": "resident", "text": "救命"}],
    }
    created = await api.post("/escalations", json=body, headers={"Idempotency-Key": key})
    assert created.status_code == 201, created.text
    escalation = created.json()
    assert escalation["status"] == "open"
    retry = await api.post("/escalations", json=body, headers={"Idempotency-Key": key})
    assert (retry.status_code, retry.json()) == (200, escalation)

    queue = (await staff.client.get("/queue")).text
    urgent = queue.index('id="urgent-list"')
    assert urgent < queue.index('id="new-list"')
    assert queue.index("他拿着刀在门口") < queue.index('id="new-list"')
    assert str(case["case_no"]) in queue[urgent : queue.index('id="new-list"')]  # linked by reference

    inbox = (await staff.client.get("/inbox.json")).json()
    assert inbox["items"][0]["urgent"] is True
    assert inbox["items"][0]["text"] == body["text"]
    assert inbox["waiting"] >= 2
    urgent_ids = [item["id"] for item in inbox["items"] if item["urgent"]]
    plain_position = [item["id"] for item in inbox["items"]].index(plain.json()["id"])
    assert plain_position >= len(urgent_ids)

    page = await staff.client.get(inbox["items"][0]["url"])
    assert "救命" in page.text  # the transcript sent with it
    assert "持械、something_new" in page.text  # known categories in words, unknown ones as sent


async def test_handoff_events_feed(desk: Desk, api: httpx.AsyncClient, staff: StaffClient) -> None:
    start = await tail(api, "handoff-events")
    created = await api.post(
        "/handoffs",
        json={
            "channel": "web",
            "resident_ref": "r-42",
            "text": "转人工",
            "transcript": [
                {"at": "2026-11-22T10:00:00+08:00", "sender": "resident", "text": "我要找工作人员"},
                {"at": "2026-11-22T10:00:01+08:00", "sender": "bot", "text": "正在为您转接"},
            ],
        },
        headers={"Idempotency-Key": new_key()},
    )
    assert created.status_code == 201, created.text
    handoff = created.json()
    assert (handoff["status"], handoff["taken_by"]) == ("waiting", None)
    hid = handoff["id"]

    relay_key = new_key()
    relayed = await api.post(
        f"/handoffs/{hid}/messages", json={"text": "有人吗？"}, headers={"Idempotency-Key": relay_key}
    )
    assert relayed.status_code == 201
    again = await api.post(
        f"/handoffs/{hid}/messages", json={"text": "有人吗？"}, headers={"Idempotency-Key": relay_key}
    )
    assert again.status_code == 200
    assert await desk.count("handoff_messages", handoff_id=hid) == 1

    # Nothing staff did yet.
    assert (await api.get("/handoff-events", params={"after": start})).json()["events"] == []

    assert (await staff.post(f"/inbox/{hid}/take")).status_code == 303
    assert (await staff.post(f"/inbox/{hid}/reply", {"text": "您好，我是调解员，请讲。"})).status_code == 303
    first = (await api.get("/handoff-events", params={"after": start, "limit": 1})).json()
    assert first["has_more"] is True
    assert [e["type"] for e in first["events"]] == ["taken"]
    rest = (await api.get("/handoff-events", params={"after": first["next_cursor"]})).json()
    assert [e["type"] for e in rest["events"]] == ["message"]
    message = rest["events"][0]
    assert message["text"] == "您好，我是调解员，请讲。"
    assert (message["handoff_id"], message["resident_ref"], message["channel"]) == (hid, "r-42", "web")
    assert message["staff"] == staff.staff.display_name

    messages = (await staff.client.get(f"/inbox/{hid}/messages.json")).json()
    assert [(m["sender"], m["text"]) for m in messages["messages"]] == [
        ("resident", "有人吗？"),
        ("staff", "您好，我是调解员，请讲。"),
    ]
    assert messages["status"] == "taken"

    assert (await staff.post(f"/inbox/{hid}/close")).status_code == 303
    closed = (await api.get("/handoff-events", params={"after": rest["next_cursor"]})).json()
    assert [e["type"] for e in closed["events"]] == ["closed"]
    assert closed["has_more"] is False
    everything = (await api.get("/handoff-events", params={"after": start})).json()["events"]
    assert [e["type"] for e in everything] == ["taken", "message", "closed"]
    assert [e["seq"] for e in everything] == sorted({e["seq"] for e in everything})

    late = await api.post(
        f"/handoffs/{hid}/messages", json={"text": "还在吗"}, headers={"Idempotency-Key": new_key()}
    )
    assert_problem(late, 409, "closed")
    bot_close = await api.post(f"/handoffs/{hid}/close")
    assert (bot_close.status_code, bot_close.json()["status"]) == (200, "closed")


async def test_the_bot_closes_a_handoff(api: httpx.AsyncClient, staff: StaffClient) -> None:
    start = await tail(api, "handoff-events")
    hid = (
        await api.post(
            "/handoffs",
            json={"channel": "web", "resident_ref": "r-idle", "text": "转人工", "urgent": True},
            headers={"Idempotency-Key": new_key()},
        )
    ).json()["id"]
    for _ in range(2):
        closed = await api.post(f"/handoffs/{hid}/close")
        assert (closed.status_code, closed.json()["status"]) == (200, "closed")
    assert (await api.get("/handoff-events", params={"after": start})).json()["events"] == []
    assert hid not in [item["id"] for item in (await staff.client.get("/inbox.json")).json()["items"]]
    await staff.post(f"/inbox/{hid}/take")
    assert "该会话已结束" in (await staff.client.get(f"/inbox/{hid}")).text


async def test_two_staff_cannot_take_one_handoff(
    desk: Desk, api: httpx.AsyncClient, staff: StaffClient
) -> None:
    hid = (
        await api.post(
            "/handoffs",
            json={"channel": "web", "resident_ref": "r-2", "text": "转人工"},
            headers={"Idempotency-Key": new_key()},
        )
    ).json()["id"]
    start = await tail(api, "handoff-events")
    assert (await staff.post(f"/inbox/{hid}/take")).status_code == 303
    colleague = await desk.new_staff("李四")
    async with httpx.AsyncClient(base_url=desk.url) as client:
        assert (await sign_in(client, colleague.username, PASSWORD)).status_code == 303
        other = StaffClient(desk, client, colleague)
        await other.refresh_csrf()
        await other.post(f"/inbox/{hid}/take")
        assert f"已由 {staff.staff.display_name} 接入" in (await client.get(f"/inbox/{hid}")).text
    events = (await api.get("/handoff-events", params={"after": start})).json()["events"]
    assert [(e["type"], e["staff"]) for e in events] == [("taken", staff.staff.display_name)]


# --- staff sign-in, CSRF, sessions ---


async def test_staff_pages_need_a_session_and_a_csrf_token(
    desk: Desk, staff: StaffClient, api: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=desk.url) as anonymous:
        for path in ("/queue", "/inbox", "/case/ZZ2026-000001", "/inbox/1"):
            response = await anonymous.get(path)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/login?next=")
        assert (await anonymous.get("/inbox.json")).status_code == 401
        # The API's token is no way into the pages, nor a page session into the API.
        assert (
            await anonymous.get("/queue", headers={"Authorization": f"Bearer {desk.settings.token}"})
        ).status_code == 303
    assert_problem(await staff.client.get("/api/v1/changes"), 401)

    case_no = str((await create_case(api))["case_no"])
    forged = await staff.client.post(
        f"/case/{case_no}/step", data={"csrf": "forged-token", "step": "mediation", "current": "accepted"}
    )
    assert forged.status_code == 403
    assert "表单已过期或来源不明" in forged.text
    missing = await staff.client.post(
        f"/case/{case_no}/step", data={"step": "mediation", "current": "accepted"}
    )
    assert missing.status_code == 403
    assert (await api.get(f"/cases/{case_no}")).json()["step"] == "accepted"

    page = await staff.client.get("/queue")
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["cache-control"] == "no-store"

    assert (await staff.post("/logout")).status_code == 303
    assert (await staff.client.get("/queue")).status_code == 303


async def test_five_wrong_passwords_lock_an_account(desk: Desk) -> None:
    member = await desk.new_staff()
    async with httpx.AsyncClient(base_url=desk.url) as client:
        for attempt in range(5):
            response = await sign_in(client, member.username, f"wrong-{attempt}")
            assert response.status_code == 401
        assert "锁定" in response.text
        locked = await sign_in(client, member.username, PASSWORD)
        assert locked.status_code == 401
        assert "锁定" in locked.text
        unknown = await sign_in(client, "nobody-here", PASSWORD)
        assert "用户名或密码错误" in unknown.text


async def test_login_redirects_only_to_this_site(desk: Desk) -> None:
    member = await desk.new_staff()
    for target, expected in (
        ("/inbox", "/inbox"),
        ("//evil.example/x", "/queue"),
        ("https://evil.example", "/queue"),
    ):
        async with httpx.AsyncClient(base_url=desk.url) as client:
            page = await client.get("/login")
            match = CSRF.search(page.text)
            assert match
            response = await client.post(
                "/login",
                data={
                    "csrf": match.group(1),
                    "username": member.username,
                    "password": PASSWORD,
                    "next": target,
                },
            )
            assert (response.status_code, response.headers["location"]) == (303, expected)


# --- the schema ---


async def test_the_served_schema_is_the_committed_file(desk: Desk) -> None:
    committed = yaml.safe_load((PROJECT_ROOT / "docs" / "backend-api.yaml").read_text(encoding="utf-8"))
    async with httpx.AsyncClient(base_url=desk.url) as client:
        served = (await client.get("/openapi.json")).json()
    assert served == committed, "regenerate: python -m casedesk.openapi > docs/backend-api.yaml"
    assert all(path.startswith("/api/v1/") for path in served["paths"])
    assert set(served["paths"]) == {
        "/api/v1/cases",
        "/api/v1/cases/{case_no}",
        "/api/v1/changes",
        "/api/v1/cases/{case_no}/attachments",
        "/api/v1/escalations",
        "/api/v1/handoffs",
        "/api/v1/handoffs/{handoff_id}/messages",
        "/api/v1/handoffs/{handoff_id}/close",
        "/api/v1/handoff-events",
        "/api/v1/erasure-requests",
    }


def test_the_script_prints_the_committed_file(capsys: pytest.CaptureFixture[str]) -> None:
    main()
    out = capsys.readouterr().out
    assert out == (PROJECT_ROOT / "docs" / "backend-api.yaml").read_text(encoding="utf-8")
