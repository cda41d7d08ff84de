"""What a reply does in the middle of a form, besides answering: the repair moves.

A resident at "对方是谁？" may correct an earlier answer ("地址说错了，是6栋"), change their mind
("算了不登记了"), say they only want to ask, decline an optional detail ("电话就不留了"), ask
something on the side, go back a step, or ask for a person. ``read_move`` tells which, so that
the text of a move is never stored as an answer. Rules read first (the usual wordings); the
learned model of ``move_model`` then keeps or vetoes what they saw and catches the wordings no
rule lists. Both run in this process, so the form works when the NLU is down; the NLU's intent
is used where it is given. The labelling rules are docs/labelling-moves.md; the dev and sealed
sets score this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from bot.dialogs import move_model, parsing
from bot.dialogs.extract import occurred, other_party, place
from bot.dialogs.move_model import ANSWER, MoveModel
from bot.nlu.labels import Intent


class MoveKind(StrEnum):
    CORRECTION = "correction"
    CANCEL = "cancel"
    ONLY_ASK = "only_ask"
    DECLINE = "decline"
    SIDE_QUESTION = "side_question"
    BACK = "back"
    HANDOFF = "handoff"


@dataclass(frozen=True, slots=True)
class Move:
    kind: MoveKind
    #: For a correction: which detail (None: not said), and its new value (None: not given).
    slot: str | None = None
    value: str | None = None
    #: "不是602，是702": the part of the old value that the new one replaces.
    replaced: str | None = None
    #: "我想补一句…": the value is added to what was said, not put in its place.
    appended: bool = False


#: Words that name each detail in a correction ("地址说错了" → place).
SLOT_WORDS: dict[str, str] = {
    "dispute_type": r"类型|类别|纠纷种类|分类",
    "description": r"经过|情况|事情|描述|内容|事由|说明|刚才说的|前面说的|之前说的|上面说的",
    "place": r"地址|地点|位置|地方|小区|门牌|楼号|几栋|单元|房号|村名|厂名|店名|在哪",
    "occurred": r"时间|日期|哪天|几号|几月|什么时候|月份|年份",
    "other_party": r"对方|对象|当事人|被投诉人|那个人",
    "name": r"名字|姓名|称呼|我姓|我叫|叫我",
    "phone": r"电话|手机|号码|联系方式|手机号|座机",
    "amount": r"金额|钱数|数额|多少钱",
}
_SLOT_WORD = {slot: re.compile(words) for slot, words in SLOT_WORDS.items()}

_WRONG = (
    r"说错了?|写错了?|打错了?|填错了?|搞错了?|弄错了?|记错了?|输错了?|讲错了?|选错了?|错了|有误|不对|不准确|有点问题|有问题"
    r"|更正|纠正|修改一下|改一下|改成|改为|换成|应该是|其实是|重新填|重填|要改|想改|改下|改改|重新说|口误"
)
_CORRECTION = re.compile(_WRONG)
# Words that say only "I made a mistake" (never "that's not it" about the bot's proposal).
_STRONG_WRONG = re.compile(r"说错|写错|打错|填错|搞错|弄错|记错|输错|讲错|更正|纠正|口误")
# "我想补一句…": an addition to what was told (to the description unless a detail is named).
_ADDITION = re.compile(r"补充|补一句|补一下|再补|还要补|漏了|忘了说|还有一点|另外还有")
# "对方写前夫的妈吧", "电话换成…": a detail named with a new value, no word of error.
_RENAME = re.compile(
    rf"(?:{SLOT_WORDS['place']}|{SLOT_WORDS['occurred']}|{SLOT_WORDS['other_party']}|{SLOT_WORDS['name']}|{SLOT_WORDS['phone']}|{SLOT_WORDS['dispute_type']})(?:那里|那一项|那栏|那块|一栏)?(?:就)?(?:写|填|改|换|记)(?:成|为|作)?(?!得)"
)
# "改5 对方是老汤烧烤", "改3": the summary's numbered form with or without the new value.
_FIX_NUMBER = re.compile(r"^(?:改|修改|更改|改一下|改第)\s*([1-9])\s*(?:项|个|条)?")
# "对方不是602，是702" / "不是5栋是6栋": a swap with both values.
_SWAP = re.compile(r"不是(?P<old>[^，,。；;是]{1,20})[，,。 ；;]*(?:而)?是(?P<new>[^，,。；;！!?？]{1,30})")
# "是6栋不是5栋": the same swap, the new value first.
_SWAP_BACK = re.compile(
    r"是(?P<new>[^，,。；;是不]{1,20})[，,。 ；;]*(?:而)?不是(?P<old>[^，,。；;！!?？]{1,30})"
)
_NEW_VALUE = re.compile(
    r"(?:应该是|其实是|改成|改为|换成|更正为|更正成|改到|写成|写|填|是|为|叫|在)[:：]?\s*(?P<value>[^，,。；;！!?？]{1,40})"
)
_CORRECTED_VALUE = re.compile(
    r"(?:应该是|其实是|改成|改为|换成|更正为|更正成|改到|写成)[:：]?\s*(?P<value>[^，,。；;！!?？]{1,40})"
)
_NUMBERED = re.compile(r"第\s*([1-9])\s*(?:条|项|个|点|行|处)")

_NOT_REGISTER = re.compile(
    r"(?:不是|不想|不用|不要|没想|没打算|不打算|不需要|并不是|我不|不必)(?:要|想|打算|准备|是要|正式)?"
    r"(?:登记|立案|报案|投诉|申请|反映|调解)|(?:只是|就是|只|就|单纯|仅仅|主要是)(?:来)?(?:想)?(?:问问|问一下|咨询|了解|打听|请教|问下|问个|问)"
)
_CAME_FOR_ELSE = re.compile(r"不是(?:要|来|想)(?:登记|立案|投诉)")
_ASK_WORDS = re.compile(r"问|咨询|了解|请教|打听|知道|想听听|法律上")
_CANCEL = re.compile(
    r"不(?:想|要|用|打算|准备|必|需要)?(?:再)?(?:登记|报|反映|投诉|办|弄|搞|填|立案|提交|申请|调解)了"
    r"|(?:不|别)(?:登记|报|弄|搞|填|办|调解|反映|投诉)了|先不(?:弄|搞|登记|报|办|填)了?"
    r"|算了吧?[，, ]*(?:不|别|先)|撤回|撤销|取消(?:登记|吧|掉|了)|不登了|不报了|不办了|不弄了|不搞了|不填了"
    r"|结束登记|停止登记|不用帮我登记|我再想想|再考虑考虑|不想继续|不继续了|就这样算了|以后再说"
    r"|改天再(?:说|弄|登记|报)|回头再(?:说|弄|登记|报)"
)
_DECLINE = re.compile(
    r"不(?:想|愿|愿意|方便|能|好|便|用)(?:留|说|告诉|透露|给|写|填|提供)|(?:就|先)?不(?:留|说|讲|给|写|填)(?:了|吧|啦)|(?:名字|姓名|电话|号码|手机)(?:我)?(?:就)?不报"
    r"|^不(?:留|说|讲|给|写|填)$|能不能不|可以不|能不|不给(?:电话|号码)|不留(?:电话|号码|手机|名字|姓名|名)|保密"
    r"|(?:电话|号码|手机|名字|姓名|时间|对方)(?:就|是谁就)?(?:不留|不说|不给|不写|不填|不提供|算了|免了|就算了|不用了|不必了)"
    r"|这个(?:我)?(?:就)?(?:先)?不(?:想|方便)?(?:说|讲|给|写|填)|没有?(?:电话|手机)|不用了吧|就不用了"
    r"|跳过|略过|下一个|下一项|下一步"
)
_BACK = re.compile(
    r"^(?:请)?(?:返回|回退|后退|上一步|上一个|上一项|上一题|退回)|返回上一|回到(?:上一|刚才|前面)|回上一|退回上一|上一步"
    r"|上一个问题|刚才那(?:步|个问题)|返回$"
)
_HANDOFF = re.compile(
    r"转人工|找人工|人工客服|人工服务|真人|找(?:个)?人(?:跟我)?(?:说|聊|谈)|叫(?:个)?人|派(?:个)?人(?:跟|给|和)我(?:说|讲|念|打)"
    r"|(?:跟|和|找|让|请)(?:你们)?(?:的)?(?:工作人员|客服|调解员|人工|领导|负责人|真人)"
    r"|(?:工作人员|调解员|客服)(?:直接)?(?:跟我|和我|给我)?(?:说|聊|谈|打电话|打个电话|联系)|跟人说|不跟机器|不想跟机器|机器人"
)
_QUESTION = re.compile(
    r"[?？]|吗[。.!！啊]?$|吗[,，。 ]|怎么|如何|能不能|能否|可不可以|是否|有没有|多久|多长时间|哪里可以"
    r"|有啥|啥区别|什么区别"
    r"|会不会|要不要|违法|犯法|算不算|赔多少|多少钱|给谁|谁能看|(?:来|去|行|能|可以|会|是|有)不[?？。!！]*$"
)
#: The question ends the message: "选错了类型会影响处理吗" asks, it does not correct.
_ENDS_AS_QUESTION = re.compile(r"(?:[?？]|吗|呢|么|不)[?？。.!！啊]*$")
#: Short answers that look like moves but answer a yes/no question (at the type or the consent).
_YES_NO_PENDING = frozenset({"dispute_type", "consent", "summary", "phone_offer"})
OPTIONAL_SLOTS = frozenset({"occurred", "other_party", "name", "phone"})
_DECLINABLE = OPTIONAL_SLOTS | {"place", "description"}
_EXTRACTORS = {"place": place, "occurred": occurred, "other_party": other_party}


def _swap_value(text: str) -> tuple[str | None, str | None]:
    match = _SWAP.search(text) or _SWAP_BACK.search(text)
    if not match:
        return None, None
    return match.group("old").strip(), match.group("new").strip()


def _slot_named(text: str, pending: str | None) -> str | None:
    numbered = _NUMBERED.search(text) or _FIX_NUMBER.search(text)
    if numbered:
        return f"#{numbered.group(1)}"
    positions = []
    for slot, pattern in _SLOT_WORD.items():
        match = pattern.search(text)
        if match:
            positions.append((match.start(), slot))
    if positions:
        return min(positions)[1]
    if parsing.find_phones(text):
        return "phone"
    if pending in _EXTRACTORS and _EXTRACTORS[pending](text):
        return pending  # "不是邻居，是邻村的李德贵" at "对方是谁？" corrects that answer
    for slot, read in _EXTRACTORS.items():
        if read(text):
            return slot
    return None


def _new_value(text: str, slot: str | None) -> str | None:
    _, swapped = _swap_value(text)
    if swapped:
        return swapped
    if slot == "phone":
        phones = parsing.find_phones(text)
        return phones[-1] if phones else None
    fixed = _FIX_NUMBER.match(text)
    tail = text[fixed.end() :] if fixed else text
    parts = _CORRECTION.split(tail, maxsplit=1)
    tail = parts[-1] if len(parts) > 1 else tail
    renamed = _RENAME.search(tail)
    if renamed:
        tail = tail[renamed.end() :]
    tail = tail.strip(" ：:，,。.")
    # "应改为邻里纠纷，主要是…": a word of correcting carries the new value; else the last "是…"
    # ("写得不太对，少了单元号，是5号楼2单元").
    later = None
    if not (renamed or fixed):
        later = _CORRECTED_VALUE.search(tail) or next(reversed(list(_NEW_VALUE.finditer(tail))), None)
    match = _NEW_VALUE.match(tail) or later
    value = match.group("value") if match else tail
    value = re.sub(r"^(?:的|了|啊|呀|哈|是)+|(?:吧|啊|呀|哈)$", "", value.strip(" ：:，,。."))
    return value or None


def _not_register(text: str) -> MoveKind | None:
    if not _NOT_REGISTER.search(text):
        return None
    # "我不是要登记" says they came for something else: ask what (the report is kept aside).
    asks = _ASK_WORDS.search(text) or _CAME_FOR_ELSE.search(text)
    return MoveKind.ONLY_ASK if asks else MoveKind.CANCEL


def read_move(
    text: str,
    pending: str | None,
    intent: Intent | None = None,
    *,
    learned: MoveModel | Literal["shipped"] | None = "shipped",
    known: Mapping[str, object] | None = None,
) -> Move | None:
    """The repair move a reply makes at the question ``pending`` (a slot name, "consent" or
    "summary"), or None when it is (or may be) an answer.

    The rules read first; the learned model (``move_model``) then keeps or vetoes what they
    saw, and catches the moves worded in ways the rules do not know."""
    stripped = text.strip()
    if not stripped:
        return None
    if pending in _YES_NO_PENDING and (parsing.is_yes(stripped) or parsing.is_no(stripped)):
        return None  # "不是" / "不同意" answer the question
    rule = rule_move(stripped, pending, intent)
    model = move_model.shipped() if learned == "shipped" else learned
    judged = (
        model.judge(stripped, pending, rule.kind.value if rule else ANSWER) if model and pending else None
    )
    if model is None or judged is None:
        move = rule
    elif rule is not None:
        move = None if judged[ANSWER] >= model.veto else rule
    else:
        kind, likelihood = max(((k, p) for k, p in judged.items() if k != ANSWER), key=lambda kp: kp[1])
        move = _learned_move(MoveKind(kind), stripped, pending) if likelihood >= model.threshold else None
    return _placed(move, known or {})


def _placed(move: Move | None, known: Mapping[str, object]) -> Move | None:
    """ "是东头那家，不是西头": the detail that held the replaced words is the one corrected, when
    no detail was named."""
    if move is None or move.kind is not MoveKind.CORRECTION or not move.replaced:
        return move
    if move.slot not in (None, "description"):
        return move
    holders = [slot for slot, value in known.items() if isinstance(value, str) and move.replaced in value]
    details = [slot for slot in holders if slot != "description"]
    if len(details) == 1:
        return replace(move, slot=details[0])
    # Only the story holds them: the form changes just those words in it.
    return replace(move, slot="description") if holders == ["description"] else move


def _learned_move(kind: MoveKind, text: str, pending: str | None) -> Move | None:
    """A move the model saw and the rules did not: the same readers find its detail and value."""
    if kind is MoveKind.DECLINE and pending not in _DECLINABLE:
        return None  # nothing to decline at the type, the consent or the summary
    if kind is not MoveKind.CORRECTION:
        return Move(kind)
    slot = _slot_named(text, pending)
    value = _new_value(text, slot if slot and not slot.startswith("#") else None)
    # No detail named: ``_placed`` may find the one holding the replaced words; otherwise the
    # form shows the summary and asks which to change (never a guess over the resident's story).
    return Move(MoveKind.CORRECTION, slot, value, _swap_value(text)[0])


def rule_move(stripped: str, pending: str | None, intent: Intent | None = None) -> Move | None:
    """What the rules alone make of a reply (also a feature of the learned model)."""
    if _BACK.search(stripped) and len(stripped) <= 12:
        return Move(MoveKind.BACK)
    not_register = _not_register(stripped)
    if not_register is not None:
        return Move(not_register)
    question = bool(_QUESTION.search(stripped))
    if _HANDOFF.search(stripped):
        return Move(MoveKind.HANDOFF)
    correction = _correction(stripped, pending, question)
    if correction is not None:
        return correction
    declines = pending in _DECLINABLE and _DECLINE.search(stripped) and not parsing.find_phones(stripped)
    if declines and _named_slot_word(stripped):
        return Move(MoveKind.DECLINE)  # "时间就不填了吧": that detail, not the whole report
    if _CANCEL.search(stripped):
        return Move(MoveKind.CANCEL)
    if declines:
        return Move(MoveKind.DECLINE)  # (the form tells a required detail is needed)
    if question and _is_side_question(stripped, pending, intent):
        return Move(MoveKind.SIDE_QUESTION)
    # Last, the NLU's word for short replies the rules did not place.
    if intent is Intent.HUMAN_HANDOFF and len(stripped) <= 15:
        return Move(MoveKind.HANDOFF)
    if intent is Intent.CANCEL and len(stripped) <= 12:
        return Move(MoveKind.CANCEL)
    return None


def _correction(text: str, pending: str | None, question: bool) -> Move | None:
    if pending == "summary" and _FIX_NUMBER.match(text):
        slot = _slot_named(text, pending)
        return Move(MoveKind.CORRECTION, slot, _new_value(text, None))
    wrong = _CORRECTION.search(text)
    addition = _ADDITION.search(text)
    renamed = _RENAME.search(text)
    swap = _SWAP.search(text) or _SWAP_BACK.search(text)
    numbered = _NUMBERED.search(text)
    if not (wrong or addition or renamed or swap or numbered):
        return None
    if question and _ENDS_AS_QUESTION.search(text) and not numbered:
        return None  # "选错了类型会影响处理吗": a question, read as such
    strong = _STRONG_WRONG.search(text)
    if pending == "description" and not (
        numbered or renamed or (wrong and _named_slot_word(text)) or (strong and _slot_named(text, None))
    ):
        return None  # a story tells of things "不是…是…" and "错了": it is the description
    if pending == "dispute_type" and not (
        numbered or _named_slot_word(text, exclude="dispute_type") or (strong and _slot_named(text, None))
    ):
        return None  # "不对，是工资的事": rejects the proposed type, an answer
    slot = _slot_named(text, pending)
    if addition and not wrong and slot in (None, pending):
        return Move(MoveKind.CORRECTION, "description", _addition_value(text), appended=True)
    if slot is None and not wrong and not numbered:
        return None
    value = _new_value(text, slot if slot and not slot.startswith("#") else None)
    if slot is None and value and pending != "summary":
        slot = "description"  # "写错了，是扣了五百": the story's facts
    return Move(MoveKind.CORRECTION, slot, value, _swap_value(text)[0])


def _named_slot_word(text: str, *, exclude: str | None = None) -> str | None:
    for slot, pattern in _SLOT_WORD.items():
        if slot != exclude and pattern.search(text):
            return slot
    return None


def _addition_value(text: str) -> str | None:
    parts = _ADDITION.split(text, maxsplit=1)
    value = parts[-1].strip(" ：:，,。.") if len(parts) > 1 else ""
    return value or None


def _is_side_question(text: str, pending: str | None, intent: Intent | None) -> bool:
    if pending is None:
        return False
    if pending in ("description", "dispute_type"):
        # The story may be told as a question ("邻居占我家地怎么办？"): only short questions or
        # questions to us are asides there.
        return "你们" in text or (len(text) <= 16 and intent is not Intent.REPORT_DISPUTE)
    return intent in (Intent.ASK_LEGAL, None) or "你们" in text or len(text) > 6
