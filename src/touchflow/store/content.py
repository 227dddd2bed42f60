"""The content library on SQL: template versions, assets (素材库) and compliance reviews."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Row, func, insert, select, update

from touchflow.domain.content.ports import (
    AssetRecord,
    ReviewRecord,
    ReviewStatus,
    TemplateStatus,
    TemplateVersion,
)
from touchflow.store.tables import assets, content_reviews, templates

__all__ = ["SqlContentRepository"]

_ASSET_COLUMNS = [c for c in assets.c if c.name != "data"]


def _template(row: Row[Any]) -> TemplateVersion:
    return TemplateVersion(
        name=row.name, version=row.version, channel=row.channel, subject=row.subject, body=row.body,
        layout=row.layout, status=cast(TemplateStatus, row.status), created_at=row.created_at,
        created_by=row.created_by, text_body=row.text_body, tags=tuple(row.tags or ()),
        findings=tuple(row.findings or ()))


def _review(row: Row[Any]) -> ReviewRecord:
    return ReviewRecord(row.id, row.template_name, row.template_version, cast(ReviewStatus, row.status),
                        row.requested_at, row.requested_by, row.decided_at, row.reviewer, row.comment)


def _asset(row: Row[Any]) -> AssetRecord:
    return AssetRecord(row.id, row.name, row.version, row.kind, row.content_type, row.size, row.sha256,
                       row.created_at, row.created_by, dict(row._mapping["metadata"] or {}))


class SqlContentRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    # --- templates ---

    def add_template(self, template: TemplateVersion) -> None:
        self._c.execute(insert(templates).values(
            name=template.name, version=template.version, channel=template.channel, subject=template.subject,
            body=template.body, text_body=template.text_body, layout=template.layout, tags=list(template.tags),
            status=template.status, findings=list(template.findings), created_at=template.created_at,
            created_by=template.created_by))

    def template(self, name: str, version: int | None = None) -> TemplateVersion | None:
        query = select(templates).where(templates.c.name == name)
        if version is None:
            query = query.order_by(templates.c.version.desc()).limit(1)
        else:
            query = query.where(templates.c.version == version)
        row = self._c.execute(query).first()
        return None if row is None else _template(row)

    def latest_approved(self, name: str) -> TemplateVersion | None:
        row = self._c.execute(select(templates).where(templates.c.name == name, templates.c.status == "approved")
                              .order_by(templates.c.version.desc()).limit(1)).first()
        return None if row is None else _template(row)

    def history(self, name: str) -> list[TemplateVersion]:
        rows = self._c.execute(select(templates).where(templates.c.name == name)
                               .order_by(templates.c.version.desc()))
        return [_template(r) for r in rows]

    def latest_templates(self, status: str | None = None) -> list[TemplateVersion]:
        newest = (select(templates.c.name, func.max(templates.c.version).label("version"))
                  .group_by(templates.c.name).subquery())
        query = (select(templates).join(newest, (templates.c.name == newest.c.name)
                                        & (templates.c.version == newest.c.version))
                 .order_by(templates.c.name))
        if status is not None:
            query = query.where(templates.c.status == status)
        return [_template(r) for r in self._c.execute(query)]

    def set_template_status(self, name: str, version: int, status: TemplateStatus) -> None:
        self._c.execute(update(templates).where(templates.c.name == name, templates.c.version == version)
                        .values(status=status))

    # --- reviews ---

    def add_review(self, review: ReviewRecord) -> None:
        self._c.execute(insert(content_reviews).values(
            id=review.id, template_name=review.template_name, template_version=review.template_version,
            status=review.status, requested_at=review.requested_at, requested_by=review.requested_by,
            decided_at=review.decided_at, reviewer=review.reviewer, comment=review.comment))

    def review(self, review_id: str) -> ReviewRecord | None:
        row = self._c.execute(select(content_reviews).where(content_reviews.c.id == review_id)).first()
        return None if row is None else _review(row)

    def reviews(self, status: ReviewStatus | None = None, template_name: str | None = None) -> list[ReviewRecord]:
        query = select(content_reviews).order_by(content_reviews.c.requested_at, content_reviews.c.id)
        if status is not None:
            query = query.where(content_reviews.c.status == status)
        if template_name is not None:
            query = query.where(content_reviews.c.template_name == template_name)
        return [_review(r) for r in self._c.execute(query)]

    def decide_review(self, review_id: str, status: ReviewStatus, reviewer: str, comment: str | None,
                      at: datetime) -> bool:
        result = self._c.execute(update(content_reviews)
                                 .where(content_reviews.c.id == review_id, content_reviews.c.status == "pending")
                                 .values(status=status, reviewer=reviewer, comment=comment, decided_at=at))
        return bool(result.rowcount)

    # --- assets ---

    def add_asset(self, asset: AssetRecord, data: bytes) -> None:
        self._c.execute(insert(assets).values({
            "id": asset.id, "name": asset.name, "version": asset.version, "kind": asset.kind,
            "content_type": asset.content_type, "size": asset.size, "sha256": asset.sha256, "data": data,
            "metadata": dict(asset.metadata), "created_at": asset.created_at, "created_by": asset.created_by}))

    def asset(self, name: str, version: int | None = None) -> AssetRecord | None:
        query = select(*_ASSET_COLUMNS).where(assets.c.name == name)
        if version is None:
            query = query.order_by(assets.c.version.desc()).limit(1)
        else:
            query = query.where(assets.c.version == version)
        row = self._c.execute(query).first()
        return None if row is None else _asset(row)

    def asset_data(self, asset_id: str) -> bytes | None:
        data = self._c.execute(select(assets.c.data).where(assets.c.id == asset_id)).scalar()
        return None if data is None else bytes(data)

    def assets(self) -> list[AssetRecord]:
        newest = select(assets.c.name, func.max(assets.c.version).label("version")).group_by(assets.c.name).subquery()
        query = (select(*_ASSET_COLUMNS).join(newest, (assets.c.name == newest.c.name)
                                              & (assets.c.version == newest.c.version))
                 .order_by(assets.c.name))
        return [_asset(r) for r in self._c.execute(query)]
