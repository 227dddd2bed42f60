"""What an executed approval leaves for its requester (an export file, a new key's secret): stored as ciphertext
only, handed to the requester alone, every pickup audited, purged 24 h after it was produced (a secret: on its
first pickup).

Encryption is envelope encryption (``security.envelope``): a fresh data key per artifact, sealed by the
database's key ring with ``approval:<request id>`` bound, so ciphertext copied onto another request does not
open, and purging the sealed key is enough to make a leaked copy unreadable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from touchflow.domain.actors import Actor
from touchflow.domain.governance.approval_ports import ApprovalArtifact
from touchflow.domain.governance.approvals import ApprovalRequest
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.security.crypto import SecretBox, SecretError
from touchflow.security.envelope import open_blob, reseal_key, seal_blob
from touchflow.services.approvals import ApprovalNotFound, expire_requests
from touchflow.services.context import ServiceContext
from touchflow.services.periodic import Every

__all__ = ["ARTIFACT_TTL", "ApprovalSweeper", "Pickup", "PickupRefused", "artifact_of", "pick_up", "purge_artifacts",
           "reseal_artifacts", "store_artifact"]

ARTIFACT_TTL = timedelta(hours=24)


class PickupRefused(Exception):
    """``code``: not_ready (nothing produced yet) | gone (purged or past 24 h) | frozen (incident kill switch)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Pickup:
    request_id: str
    name: str
    media_type: str
    data: bytes


def _box(ctx: ServiceContext) -> SecretBox:
    if ctx.secret_box is None:
        raise RuntimeError("no key ring is wired into the services (bootstrap sets ServiceContext.secret_box)")
    return ctx.secret_box()


def _context(request_id: str) -> str:
    return f"approval:{request_id}"


def store_artifact(ctx: ServiceContext, uow: UnitOfWork, request: ApprovalRequest, *, name: str, media_type: str,
                   data: bytes, one_time: bool = False) -> ApprovalArtifact:
    """Seal ``data`` and keep it for the requester, in the caller's transaction."""
    now = ctx.clock.now()
    sealed_key, ciphertext = seal_blob(_box(ctx), data, _context(request.id))
    artifact = ApprovalArtifact(request.id, name, media_type, len(data), hashlib.sha256(data).hexdigest(), now,
                                now + ARTIFACT_TTL, sealed_key, ciphertext, one_time=one_time)
    uow.approvals.add_artifact(artifact)
    return artifact


def artifact_of(ctx: ServiceContext, request_id: str) -> ApprovalArtifact | None:
    with ctx.reader() as uow:
        return uow.approvals.artifact(request_id)


def pick_up(ctx: ServiceContext, actor: Actor, request_id: str,
            frozen: Callable[[UnitOfWork], str | None] | None = None) -> Pickup:
    """The artifact's plaintext, for the requester only (anyone else: ``ApprovalNotFound``, as if there were
    none, and the attempt is audited). ``frozen`` says why pickups of this kind are stopped (the incident kill
    switch), or None."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        request = uow.approvals.get(request_id)
        if request is None:
            raise ApprovalNotFound(request_id)
        subject = f"approval:{request_id}"
        if request.requested_by != actor.id:
            uow.audit.record(actor.label, "approval.download_refused", subject,
                             {"kind": request.kind, "why": "not the requester"}, now)
            uow.commit()
            raise ApprovalNotFound(request_id)
        artifact = uow.approvals.artifact(request_id)
        if artifact is None:
            raise PickupRefused("not_ready", f"request {request_id} is {request.state}: nothing to download")
        why = frozen(uow) if frozen else None
        if why:
            uow.audit.record(actor.label, "approval.download_refused", subject, {"kind": request.kind, "why": why},
                             now)
            uow.commit()
            raise PickupRefused("frozen", why)
        if artifact.ciphertext is None or artifact.sealed_key is None or now >= artifact.expires_at:
            when = (artifact.purged_at or artifact.expires_at).isoformat()
            raise PickupRefused("gone", f"the file of request {request_id} is gone (kept 24 h or until the first "
                                        f"pickup of a secret; since {when}): request it again")
        data = open_blob(_box(ctx), artifact.sealed_key, artifact.ciphertext, _context(request_id))
        uow.approvals.count_download(request_id, now)
        if artifact.one_time:
            uow.approvals.purge_artifact(request_id, now)
        uow.audit.record(actor.label, "approval.download", subject, {
            "kind": request.kind, "file": artifact.name, "sha256": artifact.sha256, "bytes": artifact.size,
            "download": artifact.downloads + 1, "purged": artifact.one_time}, now)
        uow.commit()
    return Pickup(request_id, artifact.name, artifact.media_type, data)


def purge_artifacts(ctx: ServiceContext) -> list[str]:
    """Drop the ciphertext and sealed key of every artifact past its 24 h (the worker or
    ``touchflow approval purge`` calls this); the row stays as the record that it existed."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        due = uow.approvals.artifacts_due(now)
        for request_id in due:
            uow.approvals.purge_artifact(request_id, now)
            uow.audit.record("system", "approval.purge", f"approval:{request_id}", {}, now)
        uow.commit()
    return due


def reseal_artifacts(uow: UnitOfWork, old: SecretBox, new: SecretBox) -> tuple[list[str], list[str]]:
    """Re-seal the data keys of live artifacts with the new current key (in the rotation's transaction), so a
    rotation with a grace shorter than 24 h does not lock a requester out. (resealed, unopened) contexts."""
    resealed: list[str] = []
    unopened: list[str] = []
    for request_id, sealed in uow.approvals.sealed_keys():
        context = _context(request_id)
        try:
            uow.approvals.set_sealed_key(request_id, reseal_key(old, new, sealed, context))
        except SecretError:
            unopened.append(context)
            continue
        resealed.append(context)
    return resealed, unopened


class ApprovalSweeper:
    """What the worker's tick calls: at most every ``every``, expire lapsed requests and purge files past their
    24 h. A read first, so an idle workspace costs no write transaction. (Downloads are refused by time anyway:
    the purge is about what stays at rest.)"""

    def __init__(self, ctx: ServiceContext, every: timedelta = timedelta(minutes=10)) -> None:
        self.ctx = ctx
        self.gate = Every(ctx.clock, every)

    def __call__(self) -> int:
        now = self.gate.due()
        if now is None:
            return 0
        with self.ctx.reader() as uow:
            files = bool(uow.approvals.artifacts_due(now))
            lapsed = any(r.expires_at <= now for r in uow.approvals.find(states=("pending",), kind=None, limit=1000))
        done = len(purge_artifacts(self.ctx)) if files else 0
        if lapsed:
            done += len(expire_requests(self.ctx))
        return done
