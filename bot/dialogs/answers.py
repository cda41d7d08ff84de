"""Answers from the FAQs, shared by every flow: the legal flow, a side question inside a form,
the answer given with an alarm or a safety question."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import NamedTuple

from bot.dialogs.messages import Outbound
from bot.dialogs.turn import Turn
from bot.dialogs.work import FaqMiss
from bot.faq.model import Faq


class Answered(NamedTuple):
    replies: tuple[Outbound, ...]
    #: The answering FAQ's dispute type (or the NLU's), None when not sure.
    dispute_type: str | None
    #: When not sure: the question for the volunteers' queue.
    miss: FaqMiss | None
    #: The FAQ that answered (its id), for "没用" feedback.
    faq_id: str | None = None
    #: When not sure: the FAQs offered as "您是不是想问" (ids, in the order shown).
    suggested: tuple[str, ...] = ()


def answer_replies(turn: Turn, *, brief: bool = False) -> Answered:
    """The answer to the turn's question, the FAQ's dispute type, and a miss when not sure.

    ``brief``: the answer is given in passing (inside a report, after an alarm), so it offers
    nothing further: no "需要帮您登记求助吗？" and no buttons that would start something new.
    """
    result = turn.svc.faqs.index().search(turn.text, dispute_type=turn.nlu.dispute_type)
    faq = result.best
    if faq is None:
        miss = FaqMiss(turn.text, turn.nlu.dispute_type, tuple(c.faq.id for c in result.candidates))
        if brief:
            return Answered((turn.say("faq.not_sure_in_report"),), None, miss)
        offered = result.suggestions()
        if offered:
            items = "\n".join(f"{i}. {f.question}" for i, f in enumerate(offered, 1))
            choices = (*(str(i) for i in range(1, len(offered) + 1)), "都不是")
            reply = replace(turn.say("faq.suggest", items=items, where=where_to_call(turn)), options=choices)
            return Answered((reply,), None, miss, None, tuple(f.id for f in offered))
        return Answered((turn.say("faq.not_sure", where=where_to_call(turn)),), None, miss)
    return answer_with(turn, faq, brief=brief)


def answer_with(turn: Turn, faq: Faq, *, brief: bool = False) -> Answered:
    key = "faq.brief" if brief else "faq.answer"
    reply = turn.say(key, answer=faq.answer, basis=faq.basis_text() or "—")
    return Answered((reply,), faq.dispute_type or turn.nlu.dispute_type, None, faq.id)


def where_to_call(turn: Turn, dispute_type: str | None = None) -> str:
    """The numbers for this kind of question (``dispute_type``, else the NLU's): the type's own
    hotline (12333 for labour…), and the centre's."""
    centre = turn.svc.replies.centre.hotline
    code = dispute_type or turn.nlu.dispute_type
    kind = turn.svc.catalog.get(code) if code and code in turn.svc.catalog else None
    return f"{kind.hotline}或{centre}" if kind and kind.hotline else centre


def confident_answer(turn: Turn) -> Faq | None:
    """An FAQ that clearly answers the message, even when the NLU did not call it a legal question."""
    return turn.svc.faqs.index().search(turn.text, dispute_type=turn.nlu.dispute_type).confident


# A question asked about one's own problem, and words that ask someone to act.
_QUESTION = re.compile(r"[?？]|吗$|吗[,，。 ]|怎么|如何|能不能|可不可以|是否|有没有|多久|哪里可以|违法")
_ACT = re.compile(r"帮我|帮忙|帮帮|调解|处理|登记|投诉|反映|管管|解决|求助|上门|来看")


def asks_what_to_do(text: str) -> bool:
    """A question about one's own problem ("拖欠工资怎么办？") that does not ask anyone to act."""
    return bool(_QUESTION.search(text)) and not _ACT.search(text)
