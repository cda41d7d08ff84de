"""A handoff shows the resident's own cases (same channel and resident id): on the handoff page
in full, on the inbox and the queue's urgent items in a compact form with the phone masked."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.casedesk.conftest import PASSWORD, Desk, StaffClient, case_body, new_key, sign_in

PHONE = "13912345678"
MASKED = "139****5678"


def resident() -> str:
    return f"r-{uuid.uuid4().hex[:10]}"


async def created(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, json=body, headers={"Idempotency-Key": new_key()})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def ask_for_a_person(api: httpx.AsyncClient, channel: str, ref: str) -> int:
    handoff = await created(api, "/handoffs", {"channel": channel, "resident_ref": ref, "text": "转人工"})
    return int(handoff["id"])


def cases_section(html: str) -> str:
    match = re.search(r'<section class="card" id="resident-cases">(.*?)</section>', html, re.S)
    assert match, "no resident-cases section on the handoff page"
    return match.group(1)


def inbox_item(inbox: dict[str, Any], handoff_id: int) -> dict[str, Any]:
    items: list[dict[str, Any]] = [item for item in inbox["items"] if item["id"] == handoff_id]
    assert len(items) == 1
    return items[0]


async def test_a_handoff_shows_the_residents_cases_and_no_one_elses(
    api: httpx.AsyncClient, staff: StaffClient
) -> None:
    ref = resident()
    own = await created(
        api,
        "/cases",
        case_body(
            channel="wechat", resident_ref=ref, dispute_type="labor", reporter={"name": None, "phone": PHONE}
        ),
    )
    moved = await staff.post(f"/case/{own['case_no']}/step", {"step": "mediation", "current": "accepted"})
    assert moved.status_code == 303
    someone_else = await created(api, "/cases", case_body(channel="wechat", resident_ref=resident()))
    same_id_other_channel = await created(api, "/cases", case_body(channel="web", resident_ref=ref))
    unlinked = await created(api, "/cases", case_body(channel="wechat"))  # filed without a resident id
    handoff_id = await ask_for_a_person(api, "wechat", ref)

    page = await staff.client.get(f"/inbox/{handoff_id}")
    assert page.status_code == 200
    section = cases_section(page.text)
    assert "该居民登记的案件" in section
    links = re.findall(r'<a class="item" href="([^"]+)">', section)
    assert links == [f"/case/{own['case_no']}"]
    assert own["reference"] in section
    assert "劳动争议" in section
    assert "先行调解" in section
    filed = datetime.fromisoformat(own["created_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"登记于 {filed:%Y-%m-%d}" in section
    assert f"联系电话 {PHONE}" in section  # in full, as on the case page
    for other in (someone_else, same_id_other_channel, unlinked):
        assert other["case_no"] not in page.text
        assert other["reference"] not in page.text
    assert "该居民暂无登记案件" not in section

    # The link opens the case, which shows the same phone to the same staff member.
    case_page = await staff.client.get(links[0])
    assert case_page.status_code == 200
    assert f'<dd id="case-phone">{PHONE}</dd>' in case_page.text


async def test_a_resident_with_no_case_gets_the_empty_text(
    api: httpx.AsyncClient, staff: StaffClient
) -> None:
    await created(api, "/cases", case_body(channel="web", resident_ref=resident()))
    handoff_id = await ask_for_a_person(api, "web", resident())
    section = cases_section((await staff.client.get(f"/inbox/{handoff_id}")).text)
    assert "该居民暂无登记案件" in section
    assert "/case/" not in section
    item = inbox_item((await staff.client.get("/inbox.json")).json(), handoff_id)
    assert item["cases"] == {"count": 0, "label": "暂无登记案件", "phone": None}


async def test_lists_show_a_count_and_mask_the_phone(api: httpx.AsyncClient, staff: StaffClient) -> None:
    ref = resident()
    await created(
        api,
        "/cases",
        case_body(channel="wechat", resident_ref=ref, reporter={"name": "李四", "phone": PHONE}),
    )
    newest = await created(
        api, "/cases", case_body(channel="wechat", resident_ref=ref, reporter={"name": "李四", "phone": None})
    )
    handoff_id = await ask_for_a_person(api, "wechat", ref)
    escalation_text = f"他拿刀堵在门口 {uuid.uuid4().hex[:6]}"
    await created(
        api,
        "/escalations",
        {
            "channel": "wechat",
            "resident_ref": ref,
            "text": escalation_text,
            "categories": ["weapon"],
            "self_harm": False,
        },
    )

    inbox_json = await staff.client.get("/inbox.json")
    item = inbox_item(inbox_json.json(), handoff_id)
    assert item["cases"] == {"count": 2, "label": "2 件案件", "phone": MASKED}  # the newest phone left
    inbox = (await staff.client.get("/inbox")).text
    assert f"2 件案件 · {MASKED}" in inbox
    queue = (await staff.client.get("/queue")).text
    urgent = queue.split('id="urgent-list"', 1)[1].split("</ul>", 1)[0]
    [entry] = [li for li in urgent.split("<li>") if escalation_text in li]
    assert f"2 件案件 · {MASKED}" in entry
    for listing in (inbox_json.text, inbox, queue):
        assert PHONE not in listing

    # The handoff page: the newest case first, with no phone; the older one's phone in full.
    section = cases_section((await staff.client.get(f"/inbox/{handoff_id}")).text)
    assert section.index(newest["case_no"]) < section.index(PHONE)
    assert "未留电话" in section


async def test_phones_follow_the_case_pages_rule(desk: Desk, api: httpx.AsyncClient) -> None:
    """The desk has no roles: every signed-in staff member sees the full phone on the case page,
    and so on the handoff page; without a session there is no page at all."""
    ref = resident()
    case = await created(
        api, "/cases", case_body(channel="web", resident_ref=ref, reporter={"name": None, "phone": PHONE})
    )
    handoff_id = await ask_for_a_person(api, "web", ref)
    colleague = await desk.new_staff("值班员")
    async with httpx.AsyncClient(base_url=desk.url, timeout=30) as client:
        assert (await sign_in(client, colleague.username, PASSWORD)).status_code == 303
        case_page = (await client.get(f"/case/{case['case_no']}")).text
        assert f'<dd id="case-phone">{PHONE}</dd>' in case_page
        assert f"联系电话 {PHONE}" in cases_section((await client.get(f"/inbox/{handoff_id}")).text)
    async with httpx.AsyncClient(base_url=desk.url, timeout=30) as stranger:
        for path in (f"/inbox/{handoff_id}", "/inbox.json", f"/case/{case['case_no']}"):
            response = await stranger.get(path)
            assert response.status_code in (303, 401), path
            assert PHONE not in response.text
            assert MASKED not in response.text
