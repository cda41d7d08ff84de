"""The store's guarantees under concurrency, on SQLite and PostgreSQL: one thing per
Idempotency-Key even when both requests got past the first look-up, and feeds that a polling
reader sees completely while writers are busy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession

from backend_client.models import Case, CaseCreate
from casedesk.accounts import SignIn, sign_in
from casedesk.db import create_engine
from casedesk.errors import DeskError
from casedesk.store import Desk as Store
from casedesk.store import fingerprint
from tests.casedesk.conftest import PASSWORD, Desk, case_body, new_key, tail


@pytest_asyncio.fixture
async def store(desk: Desk) -> AsyncIterator[Store]:
    engine = create_engine(desk.settings)
    yield Store(desk.settings, engine)
    await engine.dispose()


async def test_one_key_one_case_when_both_requests_race_past_the_lookup(desk: Desk, store: Store) -> None:
    body = CaseCreate.model_validate(case_body())
    key = new_key()
    print_ = fingerprint("POST", "/api/v1/cases", body)
    entered = 0

    async def slow_create(session: AsyncSession) -> Case:
        nonlocal entered
        entered += 1
        await asyncio.sleep(0.3)  # hold the transaction: the other request is past its look-up
        return await store.create_case(session, body)

    results = await asyncio.gather(*(store.idempotent(key, print_, slow_create) for _ in range(3)))
    assert sorted(r.status for r in results) == [200, 200, 201]
    assert len({r.body for r in results}) == 1
    assert entered == 1  # the others stopped at the key's unique index, before creating anything
    assert await desk.count("cases", reference=body.reference) == 1

    other = CaseCreate.model_validate(case_body())
    with pytest.raises(DeskError) as refused:
        await store.idempotent(key, fingerprint("POST", "/api/v1/cases", other), slow_create)
    assert refused.value.status == 409


async def test_a_polling_reader_sees_every_change_while_writers_write(
    desk: Desk, api: httpx.AsyncClient
) -> None:
    start = await tail(api, "changes")
    writers = 24
    done = asyncio.Event()

    async def write() -> None:
        await asyncio.gather(
            *(
                api.post("/cases", json=case_body(), headers={"Idempotency-Key": new_key()})
                for _ in range(writers)
            )
        )
        done.set()

    seen: list[int] = []

    async def read() -> None:
        cursor = start
        for _ in range(2000):  # bounded: the writers finish long before
            page = (await api.get("/changes", params={"updated_since": cursor, "limit": 3})).json()
            seen.extend(change["seq"] for change in page["changes"])
            cursor = page["next_cursor"]
            if done.is_set() and not page["has_more"] and len(seen) >= writers:
                return
            if not page["changes"]:
                await asyncio.sleep(0.005)

    await asyncio.gather(write(), read())
    everything = (await api.get("/changes", params={"updated_since": start, "limit": 1000})).json()["changes"]
    assert seen == [change["seq"] for change in everything]
    assert len(seen) == writers


async def test_concurrent_wrong_passwords_all_count(desk: Desk, store: Store) -> None:
    member = await desk.new_staff()
    results = await asyncio.gather(*(sign_in(store.engine, member.username, f"wrong {i}") for i in range(5)))
    assert sorted(r.outcome for r in results) == sorted([SignIn.WRONG] * 4 + [SignIn.LOCKED])
    assert (await sign_in(store.engine, member.username, PASSWORD)).outcome is SignIn.LOCKED
