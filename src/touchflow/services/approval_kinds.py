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
from dataclasses import replace
from typing import Any

from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.accounts import normalise_email
from touchflow.domain.governance.approvals import ApprovalRequest
from touchflow.services.accounts import set_role
from touchflow.services.apikeys import KeySpec, check_key_spec, new_key, owner_account
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
    """The key as it will be made: a person's key (``owner``: their email; their role unless ``role`` narrows it)
    or a service account's (``service``, default the key's name); checked as ``apikey create`` checks."""
    scopes = payload.get("scopes")
    if scopes is not None and (not isinstance(scopes, list | tuple) or not all(isinstance(s, str) for s in scopes)):
        raise FieldError("scopes", "a list of permission names")
    owner = payload.get("owner")
    account = owner_account(ctx, str(owner)) if owner else None
    role = payload.get("role") or (account.role if account else None) or "admin"
    spec = check_key_spec(KeySpec(str(payload.get("name") or ""), str(role),
                                  frozenset(scopes) if scopes is not None else None,
                                  owner_user_id=account.user_id if account else None,
                                  service_account=None if account else
                                  str(payload.get("service") or payload.get("name") or "").strip()[:100]))
    return {"name": spec.name, "role": spec.role, "scopes": sorted(spec.scopes) if spec.scopes is not None else None,
            "owner_user_id": spec.owner_user_id, "service_account": spec.service_account}


def execute_apikey(ctx: ServiceContext, request: ApprovalRequest) -> dict[str, Any]:
    """Create the key and keep its secret sealed for the requester's one pickup, in one transaction."""
    now = ctx.clock.now()
    payload = request.payload
    with ctx.uow() as uow:
        if (existing := uow.approvals.artifact(request.id)) is not None:
            return {"produced": False, "file": existing.name}
        record, secret = new_key(str(payload["name"]), now, role_name=str(payload["role"]))
        scopes = payload.get("scopes")
        record = replace(record, scopes=frozenset(scopes) if scopes is not None else None,
                         owner_user_id=payload.get("owner_user_id"), service_account=payload.get("service_account"))
        uow.api_keys.add(record)
        data = json.dumps({"id": record.id, "name": record.name, "secret": secret}).encode()
        store_artifact(ctx, uow, request, name=f"touchflow-apikey-{request.id}.json", media_type="application/json",
                       data=data, one_time=True)
        grant = {k: payload.get(k) for k in ("role", "scopes", "owner_user_id", "service_account")}
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
