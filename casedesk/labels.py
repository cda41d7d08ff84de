"""The words the staff pages show for the contract's codes."""

from __future__ import annotations

from backend_client.models import Step

STEP_LABELS: dict[Step, str] = {
    Step.ACCEPTED: "登记受理",
    Step.MEDIATION: "先行调解",
    Step.RISK_ASSESSMENT: "风险研判",
    Step.ROUTING: "分类流转",
    Step.SUPERVISION: "跟踪督办",
    Step.CLOSED: "案结事了",
    Step.REJECTED: "不予受理",
    Step.WITHDRAWN: "已撤回",
}

#: The handling departments staff can assign (a select on the case page).
DEPARTMENTS: tuple[str, ...] = ("法院", "检察院", "公安", "司法所", "信访", "人社", "住建", "其他")

#: The bot's dispute-type codes (knowledge/dispute_types.yml); an unknown code is shown as is.
DISPUTE_TYPES: dict[str, str] = {
    "neighbor": "邻里纠纷",
    "family": "婚姻家庭纠纷",
    "labor": "劳动争议",
    "property_mgmt": "物业纠纷",
    "housing": "房屋租赁买卖纠纷",
    "land": "土地宅基地山林纠纷",
    "debt": "债务借贷纠纷",
    "consumer": "消费纠纷",
    "traffic": "交通事故纠纷",
    "medical": "医疗纠纷",
    "demolition": "征地拆迁纠纷",
    "environment": "环境污染纠纷",
    "other": "其他纠纷",
}

#: The bot's urgent-risk categories (knowledge/urgent_patterns.yml).
URGENT_CATEGORIES: dict[str, str] = {
    "self_harm": "自伤自杀风险",
    "weapon": "持械",
    "violence_threat": "扬言伤人",
    "fighting_now": "正在冲突",
    "domestic_violence": "家庭暴力",
}

HANDOFF_STATUS_LABELS = {"waiting": "等待接入", "taken": "已接入", "closed": "已交还机器人"}
SENDER_LABELS = {"resident": "居民", "bot": "机器人", "staff": "工作人员"}
CHANNEL_LABELS = {"web": "网页", "wechat": "微信", "telegram": "Telegram", "console": "控制台"}

#: A resident's own cases beside their handoff (the handoff page; the inbox and queue items).
RESIDENT_CASES = {
    "title": "该居民登记的案件",
    "none": "该居民暂无登记案件",
    "filed": "登记于",
    "phone": "联系电话",
    "no_phone": "未留电话",
}


def step_label(step: str) -> str:
    try:
        return STEP_LABELS[Step(step)]
    except ValueError:
        return step


def dispute_label(code: str) -> str:
    return DISPUTE_TYPES.get(code, code)


def categories_label(codes: list[str]) -> str:
    return "、".join(URGENT_CATEGORIES.get(code, code) for code in codes)


def cases_count_label(count: int) -> str:
    """The compact form on an inbox or queue item."""
    return f"{count} 件案件" if count else "暂无登记案件"
