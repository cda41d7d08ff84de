"""Real residents' messages from a government message board (../shared/data, not committed):
every one gets a sensible answer, nothing crashes, and administrative matters are pointed to
12345 rather than registered as disputes."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from bot.dialogs.engine import DialogEngine
from bot.settings import PROJECT_ROOT
from tests.conftest import Resident

pytestmark = pytest.mark.rasa

MESSAGES = PROJECT_ROOT.parent / "shared" / "data" / "gov_platform_messages.jsonl"
SAMPLE = 300
SENSIBLE_FIRST_REPLIES = {
    "report.confirm_type", "admin_redirect", "faq.answer", "faq.suggest", "faq.not_sure", "out_of_scope",
    "urgent.alert", "urgent.self_harm", "too_long", "progress.ask_lookup", "progress.list",
    "handoff.requested", "greet", "not_understood", "urgent.unclear", "safety.ask",
}  # fmt: skip


@pytest.mark.skipif(not MESSAGES.exists(), reason="the shared message set is not beside the repository")
async def test_every_real_message_gets_a_sensible_answer(dialog_engine: DialogEngine) -> None:
    rows = [json.loads(line) for line in MESSAGES.read_text(encoding="utf-8").splitlines() if line.strip()]
    sample = random.Random(20261122).sample(rows, SAMPLE)
    first_keys: Counter[str] = Counter()
    for row in sample:
        resident = Resident(dialog_engine, channel="web")
        replies = await resident.say(f"{row.get('title', '')} {row.get('text', '')}")
        assert replies, row["title"]
        assert all(r.text.strip() for r in replies)
        key = replies[1].key if replies[0].key == "too_long" and len(replies) > 1 else replies[0].key
        assert key in SENSIBLE_FIRST_REPLIES, (key, row["title"])
        first_keys[key] += 1
    # Mostly administrative requests: a good share must be sent to 12345, not registered.
    assert first_keys["admin_redirect"] >= SAMPLE * 0.25, first_keys
    # Angry, but almost never in danger: a safety question is rare, an alarm rarer still.
    assert first_keys["safety.ask"] <= SAMPLE * 0.05, first_keys
    alarms = first_keys["urgent.alert"] + first_keys["urgent.self_harm"] + first_keys["urgent.unclear"]
    assert alarms <= SAMPLE * 0.02, first_keys
