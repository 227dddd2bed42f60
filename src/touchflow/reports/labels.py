"""What a report says in each language: one dict catalog per language (zh-CN first; a Babel catalog later)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LANGUAGES", "catalog", "label"]

LANGUAGES = ("zh-CN", "en")

_ZH: dict[str, str] = {
    "title.daily": "营销自动化日报", "title.weekly": "营销自动化周报", "title.monthly": "营销自动化月报",
    "title.review": "流程季度复盘", "period": "统计周期", "previous": "对比周期", "generated": "生成时间",
    "zone": "时区", "section.kpis": "核心指标", "section.trend": "每日趋势", "section.funnels": "各流程转化漏斗",
    "section.templates": "模板表现", "section.best": "表现最佳", "section.worst": "表现最差",
    "section.skips": "护栏拦截（按原因）", "section.compliance": "合规检查（广告法）", "section.goals": "目标进度",
    "section.anomalies": "异常", "none": "无", "not_measured": "未测量", "at_risk": "有风险", "on_track": "正常",
    "no_trend": "趋势数据不足",
    "met": "已达成",
    "col.metric": "指标", "col.value": "本期", "col.previous": "上期", "col.change": "变化", "col.journey": "流程",
    "col.template": "模板", "col.channel": "渠道", "col.open_rate": "打开率", "col.click_rate": "点击率",
    "col.reason": "原因", "col.count": "次数", "col.version": "版本", "col.status": "状态",
    "col.findings": "发现", "col.goal": "关键结果", "col.owner": "负责人", "col.deadline": "截止日期",
    "col.target": "目标", "col.progress": "进度", "col.time": "时间", "col.message": "说明",
    "col.published": "发布时间", "col.by": "发布人", "col.before": "发布前 14 天（转化/进入）",
    "col.after": "发布后 14 天（转化/进入）",
    "kpi.entered": "进入流程人数", "kpi.sent": "发送量", "kpi.converted": "转化数", "kpi.delivery_rate": "送达率",
    "kpi.open_rate": "打开率", "kpi.click_rate": "点击率", "kpi.conversion_rate": "转化率",
    "kpi.unsubscribe_rate": "退订率",
    "stage.entered": "进入", "stage.sent": "发送", "stage.delivered": "送达", "stage.opened": "打开",
    "stage.clicked": "点击", "stage.converted": "转化", "chart.count": "数量", "chart.day": "日期",
    "pp": "个百分点",
    "skip.frequency_cap": "频次上限", "skip.quiet_hours": "免打扰时段", "skip.consent": "未授权/已撤回",
    "skip.fatigue": "疲劳度（只开不点）", "skip.complaint_freeze": "投诉冻结", "skip.suppressed": "抑制名单",
    "skip.no_address": "无联系地址", "skip.invalid_address": "地址无效",
    "status.approved": "已通过", "status.pending_review": "待审核", "status.rejected": "已驳回", "status.draft": "草稿",
    "review.performance": "本季度表现", "review.goal": "转化目标", "review.no_goal": "未设置转化目标",
    "review.conversion": "转化率", "review.prev_quarter": "上季度", "review.versions": "版本历史与变更效果",
    "review.lint": "流程检查警告", "review.skip_share": "被护栏拦截的比例", "review.recommendations": "建议",
    "review.decision": "复盘结论", "review.pending": "待复盘", "decision.keep": "保留", "decision.change": "调整",
    "decision.retire": "下线", "review.conv_change": "转化率变化", "review.open_change": "打开率变化",
    "rec.no_entrants": "本季度无人进入：检查触发条件，或考虑下线。", "rec.inactive": "流程未运行，无数据。",
    "rec.no_goal": "未设置转化目标：无法衡量效果，请为流程设置 goal。",
    "rec.skips_high": "护栏拦截了 {0} 的进入者：检查频次上限、免打扰时段与受众条件。",
    "rec.open_low": "打开率仅 {0}：用 A/B 测试优化主题与发送时间。",
    "rec.click_low": "打开后点击率仅 {0}：优化正文内容与行动号召。",
    "rec.conversion_down": "转化率较上季度下降（{0}）：复查最近的改动。",
    "rec.version_hurt": "{0} 发布后转化率下降：考虑回滚该版本的改动。",
    "rec.lint": "流程检查有 {0} 条警告：修复后重新发布。", "rec.keep": "表现稳定，建议保持。",
    "goals.title": "目标拆解表", "goals.launch": "启动日期",
}

_EN: dict[str, str] = {
    "title.daily": "Marketing automation daily report", "title.weekly": "Marketing automation weekly report",
    "title.monthly": "Marketing automation monthly report", "title.review": "Quarterly flow review",
    "period": "Period", "previous": "Compared with", "generated": "Generated", "zone": "Time zone",
    "section.kpis": "KPIs", "section.trend": "Daily trend", "section.funnels": "Journey funnels",
    "section.templates": "Templates", "section.best": "Best", "section.worst": "Worst",
    "section.skips": "Guardrail skips by reason", "section.compliance": "Compliance (Advertising Law)",
    "section.goals": "Goal progress", "section.anomalies": "Anomalies", "none": "none",
    "not_measured": "not measured", "at_risk": "at risk", "on_track": "on track", "no_trend": "too little history",
    "met": "met",
    "col.metric": "Metric", "col.value": "This period", "col.previous": "Previous", "col.change": "Change",
    "col.journey": "Journey", "col.template": "Template", "col.channel": "Channel", "col.open_rate": "Open rate",
    "col.click_rate": "Click rate", "col.reason": "Reason", "col.count": "Count", "col.version": "Version",
    "col.status": "Status", "col.findings": "Findings", "col.goal": "Key result", "col.owner": "Owner",
    "col.deadline": "Deadline", "col.target": "Target", "col.progress": "Progress", "col.time": "Time",
    "col.message": "Note", "col.published": "Published", "col.by": "By",
    "col.before": "14 days before (converted/entered)",
    "col.after": "14 days after (converted/entered)",
    "kpi.entered": "Entered journeys", "kpi.sent": "Messages sent", "kpi.converted": "Conversions",
    "kpi.delivery_rate": "Delivery rate", "kpi.open_rate": "Open rate", "kpi.click_rate": "Click rate",
    "kpi.conversion_rate": "Conversion rate", "kpi.unsubscribe_rate": "Unsubscribe rate",
    "stage.entered": "Entered", "stage.sent": "Sent", "stage.delivered": "Delivered", "stage.opened": "Opened",
    "stage.clicked": "Clicked", "stage.converted": "Converted", "chart.count": "Count", "chart.day": "Day",
    "pp": "pp",
    "skip.frequency_cap": "frequency cap", "skip.quiet_hours": "quiet hours", "skip.consent": "no consent",
    "skip.fatigue": "fatigue (opens without clicks)", "skip.complaint_freeze": "complaint freeze",
    "skip.suppressed": "suppressed", "skip.no_address": "no address", "skip.invalid_address": "invalid address",
    "status.approved": "approved", "status.pending_review": "in review", "status.rejected": "rejected",
    "status.draft": "draft",
    "review.performance": "This quarter", "review.goal": "Goal", "review.no_goal": "no goal set",
    "review.conversion": "Conversion", "review.prev_quarter": "previous quarter",
    "review.versions": "Version history and measured effect", "review.lint": "Lint warnings",
    "review.skip_share": "Entrants skipped by guardrails", "review.recommendations": "Recommendations",
    "review.decision": "Decision", "review.pending": "awaiting review", "decision.keep": "keep",
    "decision.change": "change", "decision.retire": "retire", "review.conv_change": "Conversion change",
    "review.open_change": "Open-rate change",
    "rec.no_entrants": "Nobody entered this quarter: check the trigger, or retire the journey.",
    "rec.inactive": "The journey did not run; no data.",
    "rec.no_goal": "No goal set: its effect cannot be measured; give the journey a goal.",
    "rec.skips_high": "Guardrails skipped {0} of entrants: check frequency caps, quiet hours and the audience.",
    "rec.open_low": "Open rate only {0}: A/B test subject lines and send times.",
    "rec.click_low": "Click-to-open only {0}: improve the copy and the call to action.",
    "rec.conversion_down": "Conversion fell against last quarter ({0}): review the latest changes.",
    "rec.version_hurt": "Conversion fell after {0} was published: consider rolling that change back.",
    "rec.lint": "{0} lint warnings: fix them and publish again.", "rec.keep": "Stable: keep as is.",
    "goals.title": "Goal decomposition", "goals.launch": "Launch",
}

_CATALOGS: Mapping[str, Mapping[str, str]] = {"zh-CN": _ZH, "en": _EN}


def catalog(lang: str) -> Mapping[str, str]:
    if lang not in _CATALOGS:
        raise ValueError(f"lang: {lang!r} is not one of {', '.join(LANGUAGES)}")
    return _CATALOGS[lang]


def label(lang: str, key: str, *args: object) -> str:
    """The text for ``key`` (the key itself when the catalog has none), with ``{0}`` … filled in."""
    text = catalog(lang).get(key, key.split(".", 1)[-1])
    return text.format(*args) if args else text
