"""Repositories four-eyes approvals need (Protocols); ``store/approvals.py`` implements them on SQL."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from touchflow.domain.governance.approvals import ApprovalRequest

__all__ = ["ApprovalArtifact", "ApprovalRepository", "ContactDeletion"]


@dataclass(frozen=True)
class ApprovalArtifact:
    """What an executed request left for its requester to pick up: an export file or a new key's secret.

    Only ciphertext is stored: ``ciphertext`` is AES-GCM under a per-artifact data key, and ``sealed_key`` is
    that data key sealed by the database's key ring. Purging drops both (``purged_at`` keeps the fact).
    """

    request_id: str
    name: str  # the file name offered on download (carries the request id)
    media_type: str
    size: int  # plaintext bytes
    sha256: str  # of the plaintext, for the audit log
    produced_at: datetime
    expires_at: datetime
    sealed_key: str | None
    ciphertext: bytes | None
    downloads: int = 0
    purged_at: datetime | None = None
    one_time: bool = False  # a secret: purged on its first pickup


class ApprovalRepository(Protocol):
    def add(self, request: ApprovalRequest) -> None: ...
    def get(self, request_id: str, *, lock: bool = False) -> ApprovalRequest | None:
        """``lock``: hold the row until the transaction ends, so two deciders never both see it pending."""
        ...
    def save(self, request: ApprovalRequest) -> None: ...
    def find(self, *, states: Collection[str] | None, kind: str | None, limit: int) -> list[ApprovalRequest]:
        """Newest first."""
        ...
    def expire_pending(self, now: datetime) -> list[str]:
        """Mark pending requests past their ``expires_at`` expired; their ids."""
        ...
    def add_artifact(self, artifact: ApprovalArtifact) -> None: ...
    def artifact(self, request_id: str) -> ApprovalArtifact | None: ...
    def count_download(self, request_id: str, at: datetime) -> None: ...
    def purge_artifact(self, request_id: str, at: datetime) -> None: ...
    def artifacts_due(self, now: datetime) -> list[str]:
        """Requests whose artifact still holds ciphertext past its ``expires_at``."""
        ...
    def sealed_keys(self) -> list[tuple[str, str]]:
        """(request id, sealed data key) of every artifact not purged (a key rotation re-seals them)."""
        ...
    def set_sealed_key(self, request_id: str, sealed_key: str) -> None: ...


class ContactDeletion(Protocol):
    def delete_contacts(self, contact_ids: Collection[str]) -> dict[str, int]:
        """Delete the contacts and every row naming them (their merged-away records too); rows per table."""
        ...
