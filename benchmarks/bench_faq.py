"""`make bench-faq`: FAQ search latency and memory as the library grows to 1,000 FAQs.

The published FAQs are multiplied into a 1,000-FAQ library (each copy's question and paraphrases
get a distinct place word, so the copies are different documents, not exact duplicates), then
the dev set's questions are searched as the bot searches them (first stage, then the second
stage), single-threaded. Building the index (what a publish costs) is timed too. The figures go
to docs/faq-console.md ("bench-faq").
"""

from __future__ import annotations

import json
import time
import tracemalloc
from dataclasses import replace

from benchmarks.report import machine, percentile, write_section
from bot.faq.files import load_directory
from bot.faq.index import FaqIndex
from bot.faq.model import Faq
from bot.nlu.segment import make_tokenizer
from bot.settings import PROJECT_ROOT, Settings

SIZES = (201, 1000)
PLACES = ("城东", "城西", "城南", "城北", "河口", "山前", "湖畔", "新区")


def library(faqs: list[Faq], size: int) -> list[Faq]:
    out = list(faqs)
    copy = 0
    while len(out) < size:
        place = PLACES[copy % len(PLACES)] + str(copy // len(PLACES))
        for faq in faqs:
            if len(out) >= size:
                break
            out.append(
                replace(
                    faq,
                    id=f"{faq.id}-{copy}",
                    question=f"{place}{faq.question}",
                    paraphrases=tuple(f"{place}{p}" for p in faq.paraphrases),
                )
            )
        copy += 1
    return out


def main() -> None:
    settings = Settings()
    tokenizer = make_tokenizer(settings.nlu_project_dir / "jieba_dict")
    faqs = load_directory(settings.knowledge_dir / "faq")
    dev = PROJECT_ROOT / "tests" / "data" / "faq_dev.jsonl"
    questions = [json.loads(line)["text"] for line in dev.read_text(encoding="utf-8").splitlines() if line]
    rows = []
    for size in SIZES:
        pool = library(faqs, size)
        started = time.perf_counter()
        index = FaqIndex(pool, tokenizer, threshold=settings.faq_threshold)
        build = time.perf_counter() - started
        tracemalloc.start()  # a second build, traced (tracing slows it: not timed)
        traced = FaqIndex(pool, tokenizer, threshold=settings.faq_threshold)
        memory = tracemalloc.get_traced_memory()[0] / 2**20  # what the index holds while alive
        del traced
        tracemalloc.stop()
        for text in questions[:20]:  # warm the tokenizer
            index.search(text)
        samples = []
        for text in questions * 3:
            started = time.perf_counter()
            index.search(text)
            samples.append((time.perf_counter() - started) * 1000)
        rows.append(
            f"| {size:,} | {percentile(samples, 50):.1f} ms | {percentile(samples, 99):.1f} ms "
            f"| {build:.2f} s | {memory:.0f} MiB |"
        )
        print(rows[-1])
    body = "\n".join(
        [
            f"Measured {time.strftime('%Y-%m-%d')} on {machine()}, one thread, the dev set's "
            f"{len(questions)} questions three times, first and second stage:",
            "",
            "| FAQs | search p50 | search p99 | index build (a publish) | index memory |",
            "|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )
    write_section(PROJECT_ROOT / "docs" / "faq-console.md", "bench-faq", body)


if __name__ == "__main__":
    main()
