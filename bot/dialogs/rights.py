"""A resident asking about their own personal data (个人信息保护法 第四十四至四十七条): to see what
the bot holds, or to have it deleted. Told in plain words ("你们存了我哪些信息", "把我的资料都删了",
"我要求删除你们保存的我的数据"), it is recognised by rules here, before the NLU and the FAQs: such
a request must never become a legal question in the volunteers' queue, nor wait for staff.
"""

from __future__ import annotations

import re
from enum import StrEnum


class DataRequest(StrEnum):
    VIEW = "view"
    ERASE = "erase"


_MINE = r"(?:我的|我|本人的?|我个人的?)"
_DATA = r"(?:个人)?(?:信息|数据|资料|隐私|记录|聊天记录|电话号码|电话|号码)"
_ERASE_VERB = r"(?:删除|删掉|删了|删去|删|清除|清空|清掉|销毁|抹掉|注销)"
_KEEPER = r"(?:你们|你|平台|系统|机器人|中心)?(?:这边|这里)?"
_STORED = r"(?:保存|存|留|记录|收集|掌握|登记)?(?:着|了|下)?的?"

#: How a request opens ("请", "麻烦你们", "我要求", "能不能"): the verb must come first, so a
#: story ("他把我的聊天记录删了") is not taken for a request.
_LEAD = (
    r"(?:请|麻烦|帮我|帮忙|给我|我要求|我要|我想|我希望|我需要|我申请|要求|申请|希望"
    r"|能不能|能否|可不可以|可以|你们|你|现在|马上|立即)*"
)

_ERASE = (
    # 删除你们保存的我的数据 / 我要求删掉我的信息 / 请清除本人个人资料
    re.compile(rf"^{_LEAD}{_ERASE_VERB}(?:一下|掉)?{_KEEPER}{_STORED}{_MINE}的?(?:所有|全部)?的?{_DATA}"),
    # 把我的信息都删了 / 我的资料全部删除 / 麻烦把你们存的我的数据删掉
    re.compile(
        rf"^{_LEAD}把?{_KEEPER}{_STORED}{_MINE}的?{_DATA}(?:都|全部|全都|统统|给我|帮我|一起)*{_ERASE_VERB}"
    ),
    # 不要再保存我的信息了 / 别留着我的电话
    re.compile(rf"^{_LEAD}(?:不要|别|不准|不许)(?:再)?(?:保存|存|留)(?:着)?{_MINE}的?{_DATA}"),
)
_VIEW = (
    # 我的信息 / 查看我的数据 / 看看我的个人资料
    re.compile(rf"^{_LEAD}(?:查看|查询|查一下|看看|看一下|调取|导出|复制)?{_MINE}的?{_DATA}[吧呢啊]?$"),
    re.compile(rf"^{_LEAD}(?:查看|查询|查一下|看看|看一下|调取|导出|复制){_MINE}的?{_DATA}"),
    # 你们存了我哪些信息 / 你们保存了我什么资料
    re.compile(
        rf"(?:你们|你|平台|系统|机器人){_STORED}{_MINE}(?:哪些|什么|多少|啥)(?:个人)?(?:信息|数据|资料)"
    ),
    # 你们会删除我的信息吗 / 会不会删我的记录
    re.compile(rf"会(?:不会)?{_ERASE_VERB}.{{0,6}}{_MINE}的?{_DATA}"),
    # 我的信息你们存了哪些 / 我的资料保存多久
    re.compile(rf"^{_MINE}的?(?:个人)?(?:信息|数据|资料).{{0,6}}(?:哪些|什么|多久|多长时间|几年)"),
)
#: "不要删除我的信息", "别删我的记录": the opposite of a request.
_DONT = re.compile(rf"(?<!能)(?:不要|别|不用|不能|不必|千万别){_ERASE_VERB}")
#: "你们会删除我的信息吗", "我的信息什么时候删": a question about the policy, answered by
#: showing what is kept, for how long, and how to have it deleted.
_POLICY_QUESTION = re.compile(rf"会(?:不会)?{_ERASE_VERB}|什么时候{_ERASE_VERB}")
_PUNCTUATION = re.compile(r"[\s，,。.！!～~、]+")


def data_request(text: str) -> DataRequest | None:
    """What a resident's message asks about their own data, if anything."""
    plain = _PUNCTUATION.sub("", text)
    if not plain or len(plain) > 60:  # a long story that mentions its data is not a request
        return None
    if any(p.search(plain) for p in _ERASE):
        if _DONT.search(plain):
            return None
        return DataRequest.VIEW if _POLICY_QUESTION.search(plain) else DataRequest.ERASE
    if any(p.search(plain) for p in _VIEW):
        return DataRequest.VIEW
    return None
