"""The built-in approval kinds (P4). Importing this module registers them (``services.approvals`` does, on first
use of the registry):

- ``export``: contacts or a segment's members as CSV/XLSX/JSON (``services.exports``), approver: contacts.export;
- ``contacts_delete``: delete contacts in bulk, approver: contacts.delete;
- ``apikey_export_scope``: an API key that may export, its secret picked up once by the requester, approver:
  apikeys.manage;
- ``role_admin``: make an account an administrator (``services.accounts.set_role``, the accounts area), approver:
  users.manage.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.accounts import normalise_email
from touchflow.domain.governance.approvals import ApprovalRequest
from touchflow.domain.governance.permissions import PERMISSIONS, ROLE_NAMES
from touchflow.services.accounts import set_role
from touchflow.services.apikeys import SITE_KEY_PREFIX, new_key
from touchflow.services.approval_files import Pickup, pick_up, store_artifact
from touchflow.services.approvals import register_kind, request_approval
from touchflow.services.contacts import ContactNotFound, resolve_contact_id
from touchflow.services.context import ServiceContext
from touchflow.services.exports import EXPORT_KIND, frozen_reason, produce_export, validate_export

__all__ = [
    "APIKEY_KIND",
    "DELETE_KIND",
    "MAX_DELETE",
    "ROLE_ADMIN_KIND",
    "execute_apikey",
    "execute_contacts_delete",
    "execute_role_admin",
    "pick_up_key",
    "request_contacts_delete",
    "validate_apikey",
    "validate_contacts_delete",
    "validate_role_admin",
]

DELETE_KIND = "contacts_delete"
APIKEY_KIND = "apikey_export_scope"
ROLE_ADMIN_KIND = "role_admin"
MAX_DELETE = 50_000  # per request: the approver reads the count, and one transaction deletes them all


# --- bulk deletion of contacts -----------------------------------------------------------------------------------

def validate_contacts_delete(ctx: ServiceContext, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve the segment or the references to contact ids now: the approver approves exactly these."""
    segment = str(payload.get("segment") or "").strip()
    refs = payload.get("contacts") or []
    if bool(segment) == bool(refs):
        raise FieldError("contacts", "name a segment or contact references (ids, email:…, phone:…), not both")
    if not isinstance(refs, list | tuple):
        raise FieldError("contacts", "a list of contact references")
    ids: list[str] = []
    with ctx.reader() as uow:
        if segment:
            record = uow.segments.get(segment)
            if record is None or record.status != "active":
                raise FieldError("segment", f"no active segment {segment!r}")
            after: str | None = None
            while page := [cid for cid, _ in uow.segments.members(record.id, after, 1000)]:
                after = page[-1]
                ids.extend(page)
                if len(ids) > MAX_DELETE:
                    break
        else:
            for ref in refs:
                try:
                    ids.append(resolve_contact_id(uow, str(ref)))
                except ContactNotFound as exc:
                    raise FieldError("contacts", f"no contact matches {str(ref)[:100]!r}") from exc
    ids = sorted(set(ids))
    if not ids:
        raise FieldError("contacts", "no contact to delete")
    if len(ids) > MAX_DELETE:
        raise FieldError("contacts", f"more than {MAX_DELETE} contacts in one request: split it")
    clean: dict[str, Any] = {"contact_ids": ids, "count": len(ids)}
    if segment:
        clean["segment"] = segment
    return clean


def request_contacts_delete(ctx: ServiceContext, actor: Actor, *, segment: str | None = None,
                            contacts: list[str] | None = None, reason: str) -> ApprovalRequest:
    payload: dict[str, Any] = {"segment": segment, "contacts": list(contacts or [])}
    subject = f"segment:{segment}" if segment else f"{len(contacts or [])} contact(s)"
    return request_approval(ctx, actor, DELETE_KIND, subject, payload, reason=reason)


def execute_contacts_delete(ctx: ServiceContext, request: ApprovalRequest) -> dict[str, Any]:
    """Delete the approved contacts still there, in one transaction with its audit row."""
    wanted = [str(i) for i in request.payload.get("contact_ids", [])]
    now = ctx.clock.now()
    with ctx.uow() as uow:
        live = [cid for cid, state in uow.contacts.load(wanted).items() if state.merged_into is None]
        counts = uow.contact_deletion.delete_contacts(live)
        uow.audit.record(request.decided_by_label or "system", "contact.delete_bulk", f"approval:{request.id}", {
            "requested_by": request.requested_by_label, "approved": len(wanted), "deleted": len(live),
            "rows": dict(counts)}, now)
        uow.commit()
    return {"approved": len(wanted), "deleted": len(live), "already_gone": len(wanted) - len(live),
            "rows": dict(counts)}


# --- API keys with the export scope ------------------------------------------------------------------------------

def validate_apikey(ctx: ServiceContext, payload: Mapping[str, Any]) -> dict[str, Any]:
    name = str(payload.get("name") or "").strip()
    if not name or len(name) > 100:
        raise FieldError("name", "1 to 100 characters")
    if name.lower().startswith(SITE_KEY_PREFIX):
        raise FieldError("name", "site:… keys belong to a site")
    clean: dict[str, Any] = {"name": name}
    role = payload.get("role")
    if role is not None:
        if str(role) not in ROLE_NAMES:
            raise FieldError("role", f"one of {', '.join(ROLE_NAMES)}")
        clean["role"] = str(role)
    scopes = payload.get("scopes")
    if scopes is not None:
        if not isinstance(scopes, list | tuple) or not all(str(s) in PERMISSIONS for s in scopes):
            raise FieldError("scopes", "a list of permission names")
        clean["scopes"] = sorted({str(s) for s in scopes})
    owner = payload.get("owner")
    if owner is not None:
        clean["owner"] = str(owner).strip()[:200]
    return clean


def execute_apikey(ctx: ServiceContext, request: ApprovalRequest) -> dict[str, Any]:
    """Create the key and keep its secret sealed for the requester's one pickup, in one transaction.

    Owner, role and scopes are recorded in the audit row and the result; the key store of this build has no
    columns for them yet (the key-owner area adds them: the integrator passes them to the record here).
    """
    now = ctx.clock.now()
    with ctx.uow() as uow:
        if (existing := uow.approvals.artifact(request.id)) is not None:
            return {"produced": False, "file": existing.name}
        record, secret = new_key(str(request.payload["name"]), now)
        uow.api_keys.add(record)
        data = json.dumps({"id": record.id, "name": record.name, "secret": secret}).encode()
        store_artifact(ctx, uow, request, name=f"touchflow-apikey-{request.id}.json", media_type="application/json",
                       data=data, one_time=True)
        grant = {k: request.payload[k] for k in ("role", "scopes", "owner") if k in request.payload}
        uow.audit.record(request.decided_by_label or "system", "apikey.create", record.id,
                         {"name": record.name, "approval": request.id, **grant}, now)
        uow.commit()
    return {"key_id": record.id, "name": record.name, **grant, "secret": "sealed until the requester picks it up"}


def pick_up_key(ctx: ServiceContext, actor: Actor, request_id: str) -> dict[str, Any]:
    """The new key (id, name, secret), once, for the requester."""
    pickup: Pickup = pick_up(ctx, actor, request_id)
    value = json.loads(pickup.data)
    assert isinstance(value, dict)
    return value


# --- role change to administrator --------------------------------------------------------------------------------

def validate_role_admin(ctx: ServiceContext, payload: Mapping[str, Any]) -> dict[str, Any]:
    email = str(payload.get("user_email") or "").strip()
    if not email:
        raise FieldError("user_email", "name the account by its email")
    if str(payload.get("role") or "admin") != "admin":
        raise FieldError("role", "only a change to admin needs an approval")
    with ctx.reader() as uow:
        user = uow.accounts.user_by_email(normalise_email(email))
    if user is None:
        raise FieldError("user_email", f"no account {email!r}")
    return {"user_email": user.email, "user_id": user.id, "role": "admin"}


def execute_role_admin(ctx: ServiceContext, request: ApprovalRequest) -> dict[str, Any]:
    """Make an account an administrator through the accounts service (``services.accounts.set_role``, from the
    accounts area: imported lazily, the integrator wires its exact signature here)."""
    email = str(request.payload.get("user_email") or "")
    by = Actor(request.decided_by or "system", f"approval {request.id}")
    user = set_role(ctx, email, "admin", actor=by)
    return {"user": user.email, "user_id": user.id, "role": user.role}


register_kind(EXPORT_KIND, permission="contacts.export", label_zh="导出客户数据",
              label_en="export of customer data", execute=produce_export, validate=validate_export,
              hold=frozen_reason)
register_kind(DELETE_KIND, permission="contacts.delete", label_zh="批量删除联系人",
              label_en="bulk deletion of contacts", execute=execute_contacts_delete,
              validate=validate_contacts_delete)
register_kind(APIKEY_KIND, permission="apikeys.manage", label_zh="可导出数据的 API 密钥",
              label_en="API key with the export scope", execute=execute_apikey, validate=validate_apikey)
register_kind(ROLE_ADMIN_KIND, permission="users.manage", label_zh="设为管理员",
              label_en="role change to administrator", execute=execute_role_admin, validate=validate_role_admin)
