"""Build knowledge/statutes.tsv, the statute index FAQ citations are checked against, from the
statute texts in ../shared/laws/articles.jsonl (which stay out of this repository: only the
facts are kept — law names, version dates, which article numbers exist, whether in force).

Run: .venv/bin/python scripts/build_statute_index.py [path/to/articles.jsonl [path/to/statutes.tsv]]

A law is marked ``renumbered`` (cite it without article numbers) when the texts carry a ``note`` on
it, or when REVISED_AFTER_TEXTS in bot/faq/statutes.py names the version the texts hold.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.faq.statutes import REPEALED, REVISED_AFTER_TEXTS, article_number, format_ranges

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "laws" / "articles.jsonl"
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "knowledge" / "statutes.tsv"
    numbers: dict[str, set[int]] = defaultdict(set)
    extras: dict[str, list[str]] = defaultdict(list)
    meta: dict[str, tuple[str, str, str]] = {}
    for line in source.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        law, article = row["law"], row["article"]
        meta[law] = (row.get("version_date") or "", row.get("category") or "", row.get("note") or "")
        number = article_number(article)
        if number is None:
            extras[law].append(article)
        else:
            numbers[law].add(number)
    lines = ["law\tversion_date\tcategory\tstatus\tarticles\textra_articles\tnote"]
    for law in sorted(meta):
        version, category, note = meta[law]
        revised_version, why = REVISED_AFTER_TEXTS.get(law, ("", ""))
        if revised_version and revised_version == version:
            note = why  # ours, in Chinese: volunteers read it when a draft is refused
        status = "renumbered" if note else "in_force"
        note = note.replace("\t", " ").replace("\n", " ")
        lines.append(
            f"{law}\t{version}\t{category}\t{status}\t{format_ranges(numbers[law])}\t{','.join(extras[law])}\t{note}"
        )
    for law, reason in sorted(REPEALED.items()):
        if law not in meta:
            lines.append(f"{law}\t\t\trepealed\t\t\t{reason}")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(meta)} laws in force or renumbered, {len(REPEALED)} repealed -> {target}")


if __name__ == "__main__":
    main()
