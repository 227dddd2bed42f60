"""Breach response (P7) as data: the three clocks an incident starts, what each clock shows, the kill switch.

The clocks run from the moment the incident is opened: isolate within 1 h, report to the regulator within 4 h,
notify the people affected within 24 h. A clock is done when a person marks its step done; until then it shows
the time left, or how long it is overdue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

__all__ = [
    "KILL_SWITCH_KEY",
    "NOTICE_TEMPLATES",
    "STEPS",
    "Clock",
    "clock_of",
    "format_left",
    "kill_switch_document",
    "kill_switch_on",
]

KILL_SWITCH_KEY = "incident.kill_switch"  # a workspace setting: the dispatcher reads it before each batch

# step -> (deadline after opening, what it means)
STEPS: Mapping[str, tuple[timedelta, str]] = {
    "isolate": (timedelta(hours=1), "isolate: stop the leak (kill switch, revoke access)"),
    "report": (timedelta(hours=4), "report to the regulator (网信部门)"),
    "notify": (timedelta(hours=24), "notify the people affected"),
}

# The notice per channel, in Chinese (PIPL Art. 57: what happened, what data, what we did, what to do, contact).
NOTICE_TEMPLATES: Mapping[str, str] = {
    "sms": ("【安全通知】您好，我们于{opened}发现一起可能涉及您个人信息的安全事件（{summary}）。我们已采取隔离措施，"
            "并已向监管部门报告。请警惕冒充我方的电话或短信，如有疑问请联系客服。"),
    "email": ("尊敬的用户：\n\n我们于{opened}发现一起可能涉及您个人信息的安全事件：{summary}。\n"
              "我们已立即隔离相关系统、撤销访问权限，并已向监管部门报告。\n"
              "建议您警惕冒充我方的来电、短信或邮件，不要透露验证码。\n如有疑问，请回复本邮件联系我们。"),
    "wecom": "您好，我们于{opened}发现一起可能涉及您个人信息的安全事件（{summary}），已隔离处理并报告监管部门。",
    "wechat": "您好，我们于{opened}发现一起可能涉及您个人信息的安全事件（{summary}），已隔离处理并报告监管部门。",
}

State = Literal["done", "open", "overdue", "done_late"]


@dataclass(frozen=True)
class Clock:
    step: str
    due_at: datetime
    done_at: datetime | None
    state: State
    left: timedelta  # negative when overdue (or, once done, how early/late it was done)

    def document(self) -> dict[str, Any]:
        return {"step": self.step, "due_at": self.due_at, "done_at": self.done_at, "state": self.state,
                "left_s": int(self.left.total_seconds()), "left": format_left(self.left),
                "meaning": STEPS[self.step][1] if self.step in STEPS else self.step}


def clock_of(step: str, due_at: datetime, done_at: datetime | None, now: datetime) -> Clock:
    if done_at is not None:
        return Clock(step, due_at, done_at, "done" if done_at <= due_at else "done_late", due_at - done_at)
    left = due_at - now
    return Clock(step, due_at, None, "open" if left >= timedelta(0) else "overdue", left)


def format_left(left: timedelta) -> str:
    """``2h 05m left`` / ``overdue by 0h 30m``."""
    seconds = int(abs(left.total_seconds()))
    text = f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{text} left" if left >= timedelta(0) else f"overdue by {text}"


def kill_switch_document(on: bool, incident_id: str | None, at: datetime, by: str) -> dict[str, Any]:
    return {"on": on, "incident": incident_id, "at": at.isoformat(), "by": by}


def kill_switch_on(setting: Mapping[str, Any] | None) -> bool:
    return bool(setting and setting.get("on") is True)
