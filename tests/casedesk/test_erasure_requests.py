"""The desk's side of a resident's deletion request (docs/backend-api.md, `POST /erasure-requests`):
a case nobody began to mediate loses its personal details and photos; a case in mediation is
kept for the archive and marked for staff; closed conversations with staff lose their texts."""

from __future__ import annotations

import httpx

from tests.casedesk.conftest import Desk, StaffClient, new_key
from tests.casedesk.test_api import create_case, png

PHONE = "13800000000"  # case_body's reporter phone


async def _erase(
    api: httpx.AsyncClient, case_nos: list[str], resident_ref: str = "r-erase"
) -> httpx.Response:
    body = {"channel": "web", "resident_ref": resident_ref, "case_nos": case_nos}
    return await api.post("/erasure-requests", json=body, headers={"Idempotency-Key": new_key()})


async def test_an_unmediated_case_is_erased_photos_included(
    desk: Desk, api: httpx.AsyncClient, staff: StaffClient
) -> None:
    case_no = str((await create_case(api))["case_no"])
    photo = await api.post(
        f"/cases/{case_no}/attachments",
        files={"file": ("现场.png", png(4, 4), "image/png")},
        headers={"Idempotency-Key": new_key()},
    )
    assert photo.status_code == 201
    before = {p.name for p in (desk.settings.data_dir / "attachments").iterdir()}

    answer = await _erase(api, [case_no])
    assert answer.status_code == 201, answer.text
    assert answer.json()["cases"] == [{"case_no": case_no, "outcome": "erased"}]
    page = (await staff.client.get(f"/case/{case_no}")).text
    assert PHONE not in page and "幸福里小区3栋" not in page and "张三" not in page
    assert "应居民要求已删除" in page
    after = {p.name for p in (desk.settings.data_dir / "attachments").iterdir()}
    assert len(before - after) == 1  # the photo's file is gone from the disk


async def test_a_case_in_mediation_is_kept_and_marked_for_staff(
    api: httpx.AsyncClient, staff: StaffClient
) -> None:
    case_no = str((await create_case(api))["case_no"])
    moved = await staff.post(f"/case/{case_no}/step", {"step": "mediation", "current": "accepted"})
    assert moved.status_code == 303
    answer = await _erase(api, [case_no, "ZZ-NO-SUCH"])
    assert answer.json()["cases"] == [
        {"case_no": case_no, "outcome": "kept"},
        {"case_no": "ZZ-NO-SUCH", "outcome": "unknown"},
    ]
    page = (await staff.client.get(f"/case/{case_no}")).text
    assert "要求删除个人信息" in page and "人民调解法第二十七条" in page
    assert PHONE in page  # the archive keeps it; staff see why it must not be used


async def test_closed_conversations_lose_their_texts(api: httpx.AsyncClient, staff: StaffClient) -> None:
    ref = f"r-{new_key()[:8]}"
    body = {"channel": "web", "resident_ref": ref, "text": "我家门锁被邻居撬了，想找人说说"}
    handoff = (await api.post("/handoffs", json=body, headers={"Idempotency-Key": new_key()})).json()
    await api.post(f"/handoffs/{handoff['id']}/close")
    answer = await _erase(api, [], resident_ref=ref)
    assert answer.json()["conversations_erased"] == 1
    page = (await staff.client.get(f"/handoff/{handoff['id']}")).text
    assert "门锁被邻居撬了" not in page
