"""Check a JSON Lines file of labelled messages against docs/labelling.md's format.

Usage: python3 scripts/check_corpus.py FILE.jsonl   (prints counts per label, exits 1 on errors)
"""

from __future__ import annotations

import json
import sys
from collections import Counter

INTENTS = {
    "report_dispute", "ask_legal", "check_progress", "urgent_risk", "human_handoff", "greet",
    "goodbye", "thanks", "affirm", "deny", "cancel", "out_of_scope",
}  # fmt: skip
TYPES = {
    "neighbor", "family", "labor", "property_mgmt", "housing", "land", "debt", "consumer",
    "traffic", "medical", "demolition", "environment", "other",
}  # fmt: skip
RISKS = {"alarm", "check", "none"}


def problems(record: dict[str, object]) -> list[str]:
    found = []
    text, intent, dtype, risk = (record.get(k) for k in ("text", "intent", "dispute_type", "risk"))
    if not isinstance(text, str) or not text.strip():
        found.append("text missing")
    if intent not in INTENTS:
        found.append(f"unknown intent {intent!r}")
    if risk not in RISKS:
        found.append(f"unknown risk {risk!r}")
    if intent in ("report_dispute", "ask_legal"):
        if dtype not in TYPES:
            found.append(f"intent {intent} needs a dispute_type, got {dtype!r}")
    elif dtype is not None:
        found.append(f"intent {intent} takes dispute_type null, got {dtype!r}")
    if (intent == "urgent_risk") != (risk == "alarm"):
        found.append("intent urgent_risk goes with risk alarm, and only with it")
    return found


def main(path: str) -> int:
    errors = 0
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                print(f"{path}:{number}: not JSON: {exc}")
                errors += 1
                continue
            for problem in problems(record):
                print(f"{path}:{number}: {problem}")
                errors += 1
            if record.get("text") in seen:
                print(f"{path}:{number}: duplicate text")
                errors += 1
            seen.add(str(record.get("text")))
            label = record.get("intent")
            if record.get("dispute_type"):
                label = f"{label}+{record['dispute_type']}"
            counts[f"{label} [{record.get('risk')}]"] += 1
    for label, count in sorted(counts.items()):
        print(f"{count:5}  {label}")
    print(f"{sum(counts.values())} messages, {errors} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
