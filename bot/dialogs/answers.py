"""Answers from the FAQs, shared by every flow: the legal flow, a side question inside a form,
the answer given with an alarm or a safety question."""

from __future__ import annotations

import re

from bot.dialogs.messages import Outbound
from bot.dialogs.turn import Turn
from bot.dialogs.work import FaqMiss
from bot.faq.model import Faq

#: How far above the threshold an FAQ must score to answer a message the NLU did not see as a
#: legal question (out of scope, or unsure).
CONFIDENT_MARGIN = 1.3


def answer_replies(
    turn: Turn, *, brief: bool = False
) -> tuple[tuple[Outbound, ...], str | None, FaqMiss | None]:
    """The answer to the turn's question, the FAQ's dispute type, and a miss when not sure.

    ``brief``: the answer is given in passing (inside a report, after an alarm), so it offers
    nothing further: no "需要帮您登记求助吗？" and no buttons that would start something new.
    """
    result = turn.svc.faqs.index().search(turn.text, dispute_type=turn.nlu.dispute_type)
    faq = result.best
    if faq is None:
        miss = FaqMiss(turn.text, turn.nlu.dispute_type, tuple(c.faq.id for c in result.candidates))
        return (turn.say("faq.not_sure_in_report" if brief else "faq.not_sure"),), None, miss
    key = "faq.brief" if brief else "faq.answer"
    reply = turn.say(key, answer=faq.answer, basis=faq.basis_text() or "—")
    return (reply,), faq.dispute_type or turn.nlu.dispute_type, None


def confident_answer(turn: Turn) -> Faq | None:
    """An FAQ that clearly answers the message, even when the NLU did not call it a legal question."""
    result = turn.svc.faqs.index().search(turn.text, dispute_type=turn.nlu.dispute_type)
    best = result.candidates[0] if result.candidates else None
    if result.best is None or best is None or best.score < result.threshold * CONFIDENT_MARGIN:
        return None
    return best.faq


# A question asked about one's own problem, and words that ask someone to act.
_QUESTION = re.compile(r"[?？]|吗$|吗[,，。 ]|怎么|如何|能不能|可不可以|是否|有没有|多久|哪里可以|违法")
_ACT = re.compile(r"帮我|帮忙|帮帮|调解|处理|登记|投诉|反映|管管|解决|求助|上门|来看")


def asks_what_to_do(text: str) -> bool:
    """A question about one's own problem ("拖欠工资怎么办？") that does not ask anyone to act."""
    return bool(_QUESTION.search(text)) and not _ACT.search(text)
