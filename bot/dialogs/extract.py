"""Details picked out of anything a resident writes: place, time, the other party, a name.

Small rules, because these spans are short and formulaic in Chinese (a place ends in 小区/村/栋…,
a time is 昨天/上个月/三个月了…) and must work when the NLU is down. Each function returns the
shortest faithful span, or None when the message does not say it. Phone numbers and case
references are read by ``bot.dialogs.parsing``.
"""

from __future__ import annotations

import re

_HAN = r"\u4e00-\u9fa5"
_NUM = r"0-9一二三四五六七八九十百两"

# --- place -------------------------------------------------------------------------------------

_PLACE_SUFFIX = (
    "小区|花园|家园|新村|新城|公寓|苑|庭|府|名都|名城|山庄|社区|村委会|村口|村|屯|庄|寨|街道|大街|大道|路|街|巷|胡同"
    "|镇|乡|县|开发区|大厦|广场|市场|商场|超市|菜场|夜市|工地|工业园|产业园|厂区|医院|学校|小学|中学|幼儿园|卫生院"
    "|驿站|配送站|宿舍"
)
_UNIT = (
    rf"(?:[{_NUM}A-Za-z]+(?:号楼|号院|栋|幢|座|单元|楼|层|号|室|组|队|排|户|期)|[0-9]{{3,4}}(?![0-9])"
    r"|入口|门口|南门|北门|东门|西门|大门)"
)
_PLACE = re.compile(rf"[{_HAN}A-Za-z0-9]{{1,12}}?(?:{_PLACE_SUFFIX})(?:{_UNIT}){{0,4}}")
_BUILDING = re.compile(rf"(?<![0-9])[0-9一二三四五六七八九十]{{1,3}}(?:号楼|栋|幢|单元)(?:{_UNIT}){{0,3}}")
# Words before a place name that are not part of it ("我住在阳光花园" → 阳光花园).
_PLACE_LEAD = re.compile(
    r"^.*(?:住在|位于|就在|是在|发生在|我们|我家|咱们|咱|俺们|俺家|俺|我|在|住|到|去|于|是|把|被|给|了|说|想|跳|弄|就|嗯|呃|，|,|\s)"
)
# Not places although they end like one: "一路", "马路上" alone, "出路", "套路", "跑路", "老乡".
_NOT_PLACE = re.compile(
    r"^(马路|道路|路|街|村|镇|乡|县|小区|社区|医院|学校|公司|厂|宿舍|村里|广场)$|(?:一路|出路|套路|走路|跑路|修路|铺路|让路|带路|开路|挡路|老乡|家乡|下乡|回乡|同乡)$"
)


def place(text: str) -> str | None:
    for match in _PLACE.finditer(text):
        span = _PLACE_LEAD.sub("", match.group(0))
        if len(span) >= 2 and not _NOT_PLACE.search(span):
            return span
    building = _BUILDING.search(text)
    return building.group(0) if building else None


# --- time --------------------------------------------------------------------------------------

_DAY = "一二三四五六日天1-7"
_CLOCK = (
    rf"(?:凌晨|早上|早晨|上午|中午|下午|傍晚|晚上|半夜|夜里|深夜|后半夜|晚|早)?"
    rf"(?:[{_NUM}]{{1,3}}点(?:多|半|左右)?)"
)
_TIME_TOKEN = (
    rf"大前天|前天|昨天|昨日|今天|今日|今早|今晚|昨晚|昨夜|前晚|前几天|这几天|这两天|这段时间|这阵子|最近|近来|刚才|刚刚"
    rf"|上(?:个)?(?:周|星期|礼拜)[{_DAY}]?|这(?:个)?(?:周|星期|礼拜)[{_DAY}]?|(?:周|星期|礼拜)[{_DAY}]"
    rf"|上个?月|这个月|本月|上半年|下半年|去年|前年|今年|年初|年底|年前|年后|春节(?:前|后)?|过年(?:前|后)?"
    rf"|[0-9]{{4}}年(?:[0-9]{{1,2}}月(?:[0-9]{{1,2}}[日号])?)?|[{_NUM}]{{1,3}}月(?:份)?(?:[{_NUM}]{{1,3}}[日号])?(?:初|中|底|中旬|下旬|上旬)?"
    rf"|(?:连续|持续|已经|都)?(?:[{_NUM}]+|几|好几|半)(?:个)?(?:天|周|星期|礼拜|月|年)(?:多)?(?:了|前|以前|之前|以来)"
    rf"|(?<=了)(?:[{_NUM}]+|几|好几|半)(?:个)?(?:天|周|星期|礼拜|月|年)多?"
    rf"|(?:好几|几|[{_NUM}]+)次了|(?:从|自从|自)[{_HAN}0-9]{{1,6}}?(?:开始|以来|起)"
    rf"|天天|每天|每晚|每天晚上|经常|老是|总是|一直|整天|整晚|天天晚上|每到晚上"
    rf"|凌晨|早上|早晨|上午|中午|下午|傍晚|晚上|半夜|夜里|深夜|后半夜|{_CLOCK}"
)
_TIME = re.compile(rf"(?:{_TIME_TOKEN})(?:[的 ]?(?:{_TIME_TOKEN}))*")
# Words that are times only inside a longer expression ("一直" alone is not when it happened).
_WEAK_TIME = frozenset({"一直", "经常", "老是", "总是", "早", "晚", "刚才", "刚刚", "最近"})


def occurred(text: str) -> str | None:
    weak: str | None = None
    for match in _TIME.finditer(text):
        span = match.group(0).strip()
        if span in _WEAK_TIME:
            weak = weak or span
            continue
        return span
    return weak if weak in ("最近",) else None


# --- the other party ---------------------------------------------------------------------------

_NEIGHBOUR = re.compile(
    rf"(?:楼上|楼下|隔壁|对门|对面|邻居|隔壁村)(?:[0-9]{{3,4}}|[{_NUM}]+(?:楼|号|室))?(?:的)?"
    r"(?:住户|邻居|那家|那户|人家|一家|大爷|大妈|阿姨|老太太|老头|小伙子|男的|女的|老人|租户)?"
)
_ORGANISATION = re.compile(
    rf"[{_HAN}A-Za-z0-9]{{0,10}}?(?:物业公司|物业|公司|工厂|厂家|厂子|厂|医院|诊所|中介|开发商|驾校|培训机构|补课机构|机构|商家|网店|店家"
    rf"|超市|商场|饭店|4S店|门店|店|银行|平台|村委会|居委会|拆迁办|施工队|装修队|装饰|烘焙|健身|快递站|驿站|物流|酒店|宾馆|网吧)"
)
_PERSON = re.compile(
    r"(?:包工头|工头|老板|老板娘|房东|租客|房客|二房东|前夫|前妻|老公|丈夫|老婆|妻子|媳妇|婆婆|公公|岳父|岳母|丈母娘|儿子|女儿|儿媳|女婿"
    r"|哥哥|弟弟|姐姐|妹妹|大哥|二哥|大伯|叔叔|舅舅|姑姑|小叔子|亲戚|朋友|同事|同学|合伙人|债主|借款人|司机|车主|对方司机|卖家|商贩|医生"
    r"|村干部|村长|村主任|村支书|组长|邻村|舍友|室友|学长|学姐|前男友|前女友|男朋友|女朋友|嫂子|弟媳|姐夫|妹夫|保安|城管|车间主任|主任|站长"
    r"|经理|主管|顾客|客户|开车的|摊主|店主|我哥|我姐|我弟|我妹)(?:[\u4e00-\u9fa5]{0,1}[老小][\u4e00-\u9fa5]|[\u4e00-\u9fa5]某)?"
)
_ORG_LEAD = re.compile(r"^.*?(?:我们|我在|在|被|跟|和|与|给|找|告|那个|这个|家|的)")


# Addressing the bot ("姐姐 我想问下…") is not naming the other party.
_VOCATIVE = re.compile(r"^(姐姐|大姐|大哥|师傅|同志|老师|领导|美女|帅哥)[，,。 !！]")


def other_party(text: str) -> str | None:
    text = _VOCATIVE.sub("", text)
    found: list[tuple[int, str]] = []
    for pattern in (_NEIGHBOUR, _PERSON):
        match = pattern.search(text)
        if match:
            found.append((match.start(), match.group(0).removesuffix("的")))
    match = _ORGANISATION.search(text)
    if match:
        span = _ORG_LEAD.sub("", match.group(0)) or match.group(0)
        if span not in ("公司", "店", "厂") or not found:  # "我们公司" alone says little
            found.append((match.start(), span))
    if not found:
        return None
    return min(found)[1]


# --- money ------------------------------------------------------------------------------------

_AMOUNT = re.compile(
    rf"(?:[0-9]+(?:\.[0-9]+)?|[{_NUM}千万亿]+)(?:多|余|来)?\s*(?:万|千|百)?(?:多|余)?\s*(?:元|块钱|块|万元|万块)"
    rf"|(?:[0-9]+(?:\.[0-9]+)?|[{_NUM}]+)(?:多|余)?\s*万(?![一-龥]{{0,1}}[人户家里])"
)


def amount(text: str) -> str | None:
    """The sum a dispute is about ("欠了我三万多块", "工资8000元"): the first one told."""
    match = _AMOUNT.search(text)
    return match.group(0).strip() if match else None


# --- the resident's name -----------------------------------------------------------------------

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦"
    "付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_HONORIFIC = r"女士|先生|小姐|阿姨|大爷|大妈|奶奶|爷爷|大姐|大哥|师傅|老师|大叔|大婶|婆婆|老太|老汉"
# "我叫陈浩", "叫我小吴就行", "我是退休教师吴秀兰", "我是桂花村的刘奶奶", "免贵姓张".
_SURNAME_ONLY = re.compile(rf"(?:我姓|免贵姓|本人姓|俺姓)([{_SURNAMES}])")
_CALLED = re.compile(
    rf"(?:我叫|我的名字是|我名字叫|名字叫|叫我|俺叫|我是|俺是|本人)([{_HAN}0-9A-Za-z]{{0,12}})"
)
_NAME_IN = re.compile(
    rf"([老小][{_SURNAMES}]|[{_SURNAMES}](?:{_HONORIFIC})|[{_SURNAMES}][{_HAN}]{{1,2}})(?={_HONORIFIC}|$|[，,。.！!\s]|就行|就好|吧)"
)


def name(text: str) -> str | None:
    """The name a resident introduces themselves with ("我姓王" → 王, "叫我老李就行" → 老李)."""
    surname = _SURNAME_ONLY.search(text)
    if surname:
        return surname.group(1)
    for called in _CALLED.finditer(text):
        rest = re.split(r"就行|就好|就可以|吧|[，,。.！!\s]", called.group(1))[0]
        rest = re.sub(r"^.*的", "", rest)  # "桂花村的刘奶奶" → 刘奶奶
        match = _NAME_IN.search(rest)
        # After "我是", only a name that ends the phrase and is a full name or starts it
        # ("我是环卫工" is a job, not 卫工).
        named = called.group(0).startswith(("我叫", "叫我", "俺叫", "我的名字", "我名字", "名字"))
        if match and (
            named or (match.end() == len(rest) and (match.start() == 0 or len(match.group(1)) >= 3))
        ):
            value = match.group(1)
            honorific = re.match(rf"(?:{_HONORIFIC})", rest[match.end() :])
            return value + (honorific.group(0) if honorific else "")
    return None
