"""The console's own words (for volunteers, in Chinese): labels, notices and errors the pages
show. The pages' fixed wording lives in the templates."""

from __future__ import annotations

from bot.faq.actors import Role

STATUS_LABELS = {
    "draft": "草稿",
    "review": "待审核",
    "published": "已发布",
    "retired": "已停用",
}

ROLE_LABELS = {
    Role.VOLUNTEER.value: "志愿者",
    Role.REVIEWER.value: "审核员",
}

AUDIT_LABELS = {
    "sign_in": "登录",
    "sign_in_failed": "登录失败",
    "locked": "账号锁定",
    "sign_out": "退出登录",
    "user_created": "创建账号",
    "user_changed": "修改账号",
    "create": "新建FAQ",
    "created": "新建FAQ",
    "save": "保存草稿",
    "saved": "保存草稿",
    "submit": "提交审核",
    "submitted": "提交审核",
    "publish": "发布",
    "published": "发布",
    "unpublish": "下线",
    "unpublished": "下线",
    "retire": "停用",
    "retired": "停用",
    "confirm_reviewed": "确认已复核",
    "reviewed": "确认已复核",
    "restore": "恢复旧版本",
    "restored": "恢复旧版本",
    "import": "导入YAML",
    "miss_dismissed": "忽略未解答问题",
    "dismiss": "忽略未解答问题",
    "dismiss_misses": "忽略未解答问题",
}

DIFF_KIND_LABELS = {"same": "", "added": "新增", "removed": "删除"}

# --- sign-in ---
SIGN_IN_MISSING = "请输入用户名和密码。"
SIGN_IN_WRONG = "用户名或密码错误。"
SIGN_IN_LOCKED = "登录失败次数过多，账号已暂时锁定，请于 {until} 后再试。"
SIGNED_OUT = "您已退出登录。"

# --- refusals ---
CSRF_REFUSED = "表单已过期或来源不明，操作未执行。请返回刷新页面后重试。"
REVIEWER_ONLY = "只有审核员可以进行此操作。"
NOT_FOUND = "没有找到这条FAQ，可能编号有误或已被删除。"

# --- the FAQ form ---
SAVED = "已保存为第{number}版草稿。"
CREATED = "已新建FAQ（第1版草稿）。"
SUBMITTED = "已提交审核，审核员发布后居民即可看到。"
PUBLISHED = "已发布：居民现在提问就会得到这条回答。"
UNPUBLISHED = "已下线：居民提问不会再得到这条回答。"
RETIRED = "已停用：这条FAQ不再回答居民。"
CONFIRMED = "已确认复核，复核时间已更新。"
RESTORED = "已把第{old}版恢复为第{number}版草稿。"
NOTHING_CHANGED = "内容没有变化，未生成新版本。"
CONFLICT = (
    "保存失败：在您编辑期间，{who}已保存了更新的版本（第{number}版）。为避免覆盖他人的修改，您的内容未保存。"
    "下方仍保留您填写的内容，请复制后刷新页面，在最新版本上重新修改。"
)
STALE_ACTION = "这条FAQ在您打开页面后已有新版本（第{number}版），请刷新页面确认内容后再操作。"
REFUSED = "未保存，请先修改以下问题："
FIELD_TOO_LONG = "{field}最多{limit}个字（现在{length}个字）。"
TOO_MANY_LINES = "{field}最多{limit}条（现在{count}条）。"
TOO_MANY_BASES = "法律依据最多{limit}条。"
BASIS_INCOMPLETE = "第{row}条法律依据需要同时填写法规名称和条号。"
UNKNOWN_TYPE = "请选择列表中的纠纷类型。"
BAD_ACTION = "无法识别的操作，请刷新页面后重试。"

# --- misses ---
DISMISSED = "已忽略{count}条未解答问题。"
DISMISS_NEEDS_REASON = "请填写忽略的原因。"
NOTHING_SELECTED = "没有选中任何问题，请刷新页面后重试。"

# --- accounts ---
USER_CREATED = "已创建账号“{username}”（{role}）。"
ROLE_CHANGED = "已把“{username}”的角色改为{role}。"
USER_DEACTIVATED = "已停用账号“{username}”，其登录会话随即失效。"
USER_ACTIVATED = "已恢复账号“{username}”。"
NOT_YOURSELF = "不能停用自己的账号。"
