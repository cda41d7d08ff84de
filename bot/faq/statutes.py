"""The statute index (``knowledge/statutes.tsv``): which laws exist, whether they are in force,
and which article numbers each has. Every legal basis an FAQ cites is checked against it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_ARTICLE = re.compile(r"^第([零一二两三四五六七八九十百千]+)条$")

#: Laws repealed by the Civil Code (2021-01-01) and others replaced since; never cite them.
REPEALED = {
    "中华人民共和国合同法": "2021年1月1日民法典施行时废止",
    "中华人民共和国婚姻法": "2021年1月1日民法典施行时废止",
    "中华人民共和国继承法": "2021年1月1日民法典施行时废止",
    "中华人民共和国收养法": "2021年1月1日民法典施行时废止",
    "中华人民共和国担保法": "2021年1月1日民法典施行时废止",
    "中华人民共和国物权法": "2021年1月1日民法典施行时废止",
    "中华人民共和国侵权责任法": "2021年1月1日民法典施行时废止",
    "中华人民共和国民法通则": "2021年1月1日民法典施行时废止",
    "中华人民共和国民法总则": "2021年1月1日民法典施行时废止",
    "中华人民共和国环境噪声污染防治法": "2022年6月5日被噪声污染防治法取代",
}

#: Laws revised after the statute texts were collected, with renumbered articles: the index marks
#: them ``renumbered`` (citations need review; cite no article number) as long as the texts still
#: hold the version named here. The texts' own ``note`` flags some too; a newer text lifts the flag.
#: law -> (version_date of the text we have, why)
REVISED_AFTER_TEXTS = {
    "中华人民共和国仲裁法": (
        "2017-09-01",
        "法规库为2017年文本；修订后的仲裁法2025年9月12日通过、2026年3月1日施行，条文重新编号",
    ),
    "中华人民共和国治安管理处罚法": (
        "2012-10-26",
        "法规库为2012年文本；修订后的治安管理处罚法2026年1月1日施行，条文重新编号",
    ),
}


def chinese_number(text: str) -> int:
    """一千零八十四 -> 1084, 十七 -> 17."""
    total, digit = 0, 0
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        else:
            total += (digit or 1) * _UNITS[ch]
            digit = 0
    return total + digit


def article_number(article: str) -> int | None:
    """第一千零八十四条 -> 1084; None for 第十七条之一 and anything else."""
    match = _ARTICLE.match(article)
    return chinese_number(match.group(1)) if match else None


def format_ranges(numbers: set[int]) -> str:
    """{1,2,3,5} -> "1-3,5"."""
    parts: list[str] = []
    ordered = sorted(numbers)
    start = prev = None
    for n in [*ordered, None]:
        if start is None:
            start = prev = n
        elif n is not None and prev is not None and n == prev + 1:
            prev = n
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = n
    return ",".join(parts)


def _parse_ranges(text: str) -> set[int]:
    numbers: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        numbers.update(range(int(low), int(high or low) + 1))
    return numbers


@dataclass(frozen=True, slots=True)
class Statute:
    law: str
    status: str  # in_force, renumbered (cite without article numbers), repealed
    numbers: frozenset[int]
    extra_articles: frozenset[str]
    note: str


def _short(law: str) -> str:
    return law.removeprefix("中华人民共和国")


class StatuteIndex:
    def __init__(self, statutes: dict[str, Statute]) -> None:
        self._statutes = statutes
        self._by_short = {_short(name): s for name, s in statutes.items()}

    @classmethod
    def load(cls, knowledge_dir: Path) -> StatuteIndex:
        statutes: dict[str, Statute] = {}
        lines = (knowledge_dir / "statutes.tsv").read_text(encoding="utf-8").splitlines()[1:]
        for line in lines:
            law, _version, _category, status, articles, extra, note = line.split("\t")
            statutes[law] = Statute(
                law,
                status,
                frozenset(_parse_ranges(articles)),
                frozenset(filter(None, extra.split(","))),
                note,
            )
        return cls(statutes)

    def find(self, law: str) -> Statute | None:
        name = law.strip().strip("《》")
        return self._statutes.get(name) or self._by_short.get(_short(name))

    def check(self, law: str, article: str) -> str | None:
        """None when the citation is sound; otherwise the reason (in Chinese, for volunteers)."""
        statute = self.find(law)
        if statute is None:
            return f"法规库中没有《{law}》，请核对法规全称"
        if statute.status == "repealed":
            return f"《{_short(statute.law)}》已失效（{statute.note}），不能引用"
        if statute.status == "renumbered":
            return (
                f"《{_short(statute.law)}》在法规库文本之后已修订、条文序号已变（{statute.note}）："
                "引用需复核，请不要引用具体条号，只描述规则，或改引其他现行法律"
            )
        number = article_number(article.strip())
        if number is None:
            if article.strip() in statute.extra_articles:
                return None
            return f"条号“{article}”的写法不对，应为“第X条”"
        if number not in statute.numbers:
            return f"《{_short(statute.law)}》没有{article}"
        return None
