"""Drop training messages (NLU and move corpora) that nearly copy an evaluation or sealed message.

Writers of training batches never see the evaluation sets, but short everyday messages
("车祸赔偿谈不拢") come out alike by chance. An evaluation message the model was trained on
measures memory, not understanding, so such training lines are removed (never the other way
round). Sealed texts are never printed: only counts.

    python scripts/decontaminate_corpus.py [--dry-run]
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.nlu.dedupe import NearDuplicates, skeleton  # noqa: E402
from bot.nlu.normalize import normalize_text  # noqa: E402

_YAML_EXAMPLE = re.compile(r"^\s+- (.+)$")
_ENTITY = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def _evaluation_texts(prefixes: tuple[str, ...] = ("nlu_", "public_")) -> list[str]:
    texts = []
    for path in sorted((ROOT / "tests" / "data").rglob("*.jsonl")):
        if path.name.startswith(prefixes):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    texts.append(normalize_text(json.loads(line)["text"]))
    return texts


def _index(texts: list[str]) -> NearDuplicates:
    near = NearDuplicates()
    for text in texts:
        if len(skeleton(text)) >= 6:
            near.seen(text)
    return near


def _clean_jsonl(paths: list[Path], near: NearDuplicates, removed: Counter[str], dry_run: bool) -> None:
    for path in paths:
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            text = normalize_text(json.loads(line)["text"]) if line.strip() else ""
            if text and len(skeleton(text)) >= 6 and near.seen(text, remember=False):
                removed[path.name] += 1
                continue
            kept.append(line)
        if removed[path.name] and not dry_run:
            path.write_text("\n".join(kept) + "\n", encoding="utf-8")


def main(dry_run: bool) -> None:
    near = _index(_evaluation_texts())
    removed: Counter[str] = Counter()
    _clean_jsonl(sorted((ROOT / "bot" / "nlu" / "data" / "corpus").glob("*.jsonl")), near, removed, dry_run)
    # The first hand-written set: one "    - example" line each, entities marked [value](entity).
    for path in sorted((ROOT / "bot" / "nlu" / "data" / "nlu").glob("*.yml")):
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            example = _YAML_EXAMPLE.match(line)
            if example:
                text = normalize_text(_ENTITY.sub(r"\1", example.group(1)))
                if len(skeleton(text)) >= 6 and near.seen(text, remember=False):
                    removed[path.name] += 1
                    continue
            kept.append(line)
        if removed[path.name] and not dry_run:
            path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    # The move corpus against the move sets (replies of six characters or more: "上一步", "对"
    # and "转人工" are the language's fixed formulae, not copies).
    moves = _index(_evaluation_texts(("moves_",)))
    _clean_jsonl(sorted((ROOT / "bot" / "dialogs" / "move_corpus").glob("*.jsonl")), moves, removed, dry_run)
    for name, count in sorted(removed.items()):
        print(f"{name}: {count} removed")
    print(f"total: {sum(removed.values())}")


if __name__ == "__main__":
    main("--dry-run" in sys.argv)
