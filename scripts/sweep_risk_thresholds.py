"""Sweep the danger model's question thresholds (BOT_NLU_ASK_THRESHOLD, BOT_NLU_CHECK_THRESHOLD)
on the two dev sets, through the bot's own classifier (rules and model), and print, for each
pair, the dangerous messages caught and the calm messages asked "您现在安全吗？" or alarmed.

Never reads a sealed set or the public questions: thresholds are chosen on the dev sets only.
Each message is parsed by Rasa once; the settings are then replayed over the same parses.

    python scripts/sweep_risk_thresholds.py
"""

from __future__ import annotations

import asyncio
from itertools import product
from pathlib import Path

from bot.nlu.classifier import Classifier, Parser, RiskThresholds
from bot.nlu.client import ParseResult
from bot.nlu.evaluation import Gold, read_gold
from bot.nlu.runtime import nlu_runtime
from bot.nlu.urgent import UrgentRules
from bot.settings import Settings

DEV_SETS = (Path("tests/data/nlu_dev.jsonl"), Path("tests/data/nlu_dev_risk.jsonl"))
ASK = (0.08, 0.11, 0.14, 0.17, 0.2, 0.25, 0.3)
CHECK = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


class Remembered:
    """Rasa's parse of each text, asked once."""

    def __init__(self, parser: Parser) -> None:
        self._parser = parser
        self._parses: dict[str, ParseResult] = {}

    async def parse(self, text: str) -> ParseResult:
        if text not in self._parses:
            self._parses[text] = await self._parser.parse(text)
        return self._parses[text]


async def main() -> None:
    settings = Settings()
    gold: list[Gold] = [g for path in DEV_SETS for g in read_gold(path)]
    async with nlu_runtime(settings, start_if_unreachable=True) as nlu:
        remembered = Remembered(nlu.client)
        rules = UrgentRules.load(settings.knowledge_dir)
        dangerous = [g for g in gold if g.risk != "none"]
        calm = [g for g in gold if g.risk == "none"]
        print(f"{len(dangerous)} dangerous and {len(calm)} calm messages in {', '.join(map(str, DEV_SETS))}")
        print("ask  check  danger caught  calm asked  calm alarmed")
        for ask, check in product(ASK, CHECK):
            classifier = Classifier(
                remembered,
                rules,
                max_chars=settings.max_message_chars,
                thresholds=RiskThresholds(alarm=settings.nlu_alarm_threshold, ask=ask, check=check),
                unsure_below=settings.nlu_unsure_below,
            )
            risks = {g.text: (await classifier.classify(g.text)).risk.value for g in gold}
            caught = sum(risks[g.text] != "none" for g in dangerous)
            asked = sum(risks[g.text] == "check" for g in calm)
            alarmed = sum(risks[g.text] == "alarm" for g in calm)
            print(
                f"{ask:.2f} {check:.2f}   {caught}/{len(dangerous)} ({caught / len(dangerous):.1%})"
                f"   {asked / len(calm):.1%}   {alarmed / len(calm):.1%}"
            )


if __name__ == "__main__":
    asyncio.run(main())
