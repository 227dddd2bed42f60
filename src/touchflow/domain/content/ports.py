"""The asset library's records (C7, G5) and the repository the content use cases need. ``store`` implements it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from touchflow.domain.guardrails.compliance import REVIEW_CATEGORIES

__all__ = [
    "CHANNELS",
    "REVIEW_TAGS",
    "AssetRecord",
    "ContentRepository",
    "ReviewRecord",
    "ReviewStatus",
    "TemplateStatus",
    "TemplateVersion",
]

TemplateStatus = Literal["draft", "pending_review", "approved", "rejected"]
ReviewStatus = Literal["pending", "approved", "rejected"]
CHANNELS: tuple[str, ...] = ("email", "sms", "wecom", "wechat", "onsite", "webhook")  # wechat_mp: an alias
# Tags that put a template in front of a person before it may be sent (G5: 医疗 and 金融 content).
REVIEW_TAGS: frozenset[str] = frozenset({"medical", "finance", "医疗", "医药", "金融", "理财"})


@dataclass(frozen=True)
class TemplateVersion:
    name: str
    version: int
    channel: str
    subject: str
    body: str
    layout: str  # mjml | html | text
    status: TemplateStatus
    created_at: datetime
    created_by: str
    text_body: str | None = None
    tags: tuple[str, ...] = ()
    findings: tuple[dict[str, Any], ...] = field(default=())  # compliance findings at save, with their part

    @property
    def needs_review(self) -> bool:
        return bool(self.review_reasons)

    @property
    def review_reasons(self) -> list[str]:
        """Why a person must review this version (G5): a medical/finance tag, or copy the compliance scan
        classifies as medical or financial (年化收益, 治疗 …) even when nobody tagged it."""
        reasons = [f"tag {t}" for t in self.tags if t.lower() in REVIEW_TAGS]
        for f in self.findings:
            topic = REVIEW_CATEGORIES.get(str(f.get("category")))
            if topic is not None:
                reason = f"{topic} copy: {f.get('term')}"
                if reason not in reasons:
                    reasons.append(reason)
        return reasons

    @property
    def blocking_findings(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f.get("severity") == "block"]


@dataclass(frozen=True)
class ReviewRecord:
    id: str
    template_name: str
    template_version: int
    status: ReviewStatus
    requested_at: datetime
    requested_by: str
    decided_at: datetime | None = None
    reviewer: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class AssetRecord:
    id: str
    name: str
    version: int
    kind: str  # image | file
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    created_by: str
    metadata: dict[str, Any] = field(default_factory=dict)


class ContentRepository(Protocol):
    def add_template(self, template: TemplateVersion) -> None: ...
    def template(self, name: str, version: int | None = None) -> TemplateVersion | None:
        """One version, or the newest when ``version`` is None."""
        ...
    def latest_approved(self, name: str) -> TemplateVersion | None: ...
    def history(self, name: str) -> list[TemplateVersion]:
        """Every version, newest first."""
        ...
    def latest_templates(self, status: str | None = None) -> list[TemplateVersion]:
        """The newest version of every template (optionally only those whose newest has ``status``)."""
        ...
    def set_template_status(self, name: str, version: int, status: TemplateStatus) -> None: ...
    def add_review(self, review: ReviewRecord) -> None: ...
    def review(self, review_id: str) -> ReviewRecord | None: ...
    def reviews(self, status: ReviewStatus | None = None, template_name: str | None = None) -> list[ReviewRecord]: ...
    def decide_review(self, review_id: str, status: ReviewStatus, reviewer: str, comment: str | None,
                      at: datetime) -> bool:
        """Close a pending review; False when it was not pending any more (someone decided first)."""
        ...
    def add_asset(self, asset: AssetRecord, data: bytes) -> None: ...
    def asset(self, name: str, version: int | None = None) -> AssetRecord | None: ...
    def asset_data(self, asset_id: str) -> bytes | None: ...
    def assets(self) -> list[AssetRecord]:
        """The newest version of every asset."""
        ...
