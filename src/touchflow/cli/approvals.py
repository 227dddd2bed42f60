"""``touchflow approval list|show|approve|reject|purge|request-key|pickup``: four-eyes approvals (P4).

You act as your operating-system account (``cli.common.local_actor``), with local administrator power. The
four-eyes rule compares that account with the requester: the account that asked cannot approve. A second
administrator approves from their own OS account on this machine, or over the API with their own key
(``POST /v1/approvals/{id}/approve``); there is no option to say who you are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from touchflow.cli.common import (
    console,
    fail,
    id_column,
    local_actor,
    local_time,
    open_app,
    print_json,
    workspace_zone,
)
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.principals import Principal
from touchflow.services.approval_files import PickupRefused, purge_artifacts
from touchflow.services.approval_kinds import APIKEY_KIND, pick_up_key
from touchflow.services.approvals import (
    ApprovalNotFound,
    ApprovalRefused,
    ApprovalRequest,
    approve,
    expire_requests,
    get_request,
    kinds,
    list_requests,
    reject,
    request_approval,
)

__all__ = ["approval_json", "guarded", "register"]

approval_app = typer.Typer(help="Four-eyes approvals: list, approve or reject what others asked for.",
                           no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on standard output.")]
T = TypeVar("T")


def approval_json(r: ApprovalRequest) -> dict[str, Any]:
    payload = {k: (f"{len(v)} ids" if isinstance(v, list) and len(v) > 20 else v) for k, v in r.payload.items()}
    return {"id": r.id, "kind": r.kind, "subject": r.subject, "payload": payload, "reason": r.reason,
            "state": r.state, "requested_by": r.requested_by_label, "requested_at": r.requested_at,
            "expires_at": r.expires_at, "decided_by": r.decided_by_label, "decided_at": r.decided_at,
            "note": r.note, "finished_at": r.finished_at, "result": dict(r.result)}


def guarded(work: Callable[[], T]) -> T:
    """Run a service call; its refusals become exit 2 (1 for a request that does not exist) with the reason."""
    try:
        return work()
    except ApprovalNotFound as exc:
        fail(str(exc), code=1)
    except ApprovalRefused as exc:
        fail(exc.message)
    except PickupRefused as exc:
        fail(exc.message)
    except FieldError as exc:
        fail(str(exc))


@approval_app.command("list")
def list_cmd(
    state: Annotated[str | None, typer.Option(help="pending, approved, rejected, expired, executed, failed")] = None,
    kind: Annotated[str | None, typer.Option(help="export, contacts_delete, apikey_export_scope, role_admin …")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Requests, newest first (a pending one past its 7 days shows as expired)."""
    with open_app() as application:
        found = guarded(lambda: list_requests(application.services, state=state, kind=kind))
        zone = workspace_zone(application)
    if as_json:
        print_json([approval_json(r) for r in found])
        return
    labels = {name: k.label_zh for name, k in kinds().items()}
    table = Table(title="审批 Approvals")
    id_column(table, "request id")
    for column in ("kind", "state", "requested by", "reason", "requested at"):
        table.add_column(column)
    for r in found:
        table.add_row(r.id, labels.get(r.kind, r.kind), r.state, r.requested_by_label, r.reason,
                      local_time(r.requested_at, zone))
    console.print(table)


@approval_app.command("show")
def show(request_id: Annotated[str, typer.Argument()], as_json: JsonOpt = False) -> None:
    """One request: what, why, who asked, who decided, what it did."""
    with open_app() as application:
        found = guarded(lambda: get_request(application.services, request_id))
    data = approval_json(found)
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        console.print(f"[bold]{key}[/bold]: {value}")


@approval_app.command("approve")
def approve_cmd(request_id: Annotated[str, typer.Argument()],
                note: Annotated[str, typer.Option(help="on record with the decision")] = "",
                as_json: JsonOpt = False) -> None:
    """Approve another person's request; the operation then runs. Your own request is refused."""
    principal = Principal.local_admin(local_actor())
    with open_app() as application:
        done = guarded(lambda: approve(application.services, principal, request_id, note=note))
    if as_json:
        print_json(approval_json(done))
        return
    console.print(f"{done.id}: {done.state} — {dict(done.result)}")
    if done.state == "failed":
        raise typer.Exit(1)


@approval_app.command("reject")
def reject_cmd(request_id: Annotated[str, typer.Argument()],
               note: Annotated[str, typer.Option(help="why (required)")],
               as_json: JsonOpt = False) -> None:
    """Reject another person's request, saying why."""
    principal = Principal.local_admin(local_actor())
    with open_app() as application:
        done = guarded(lambda: reject(application.services, principal, request_id, note=note))
    if as_json:
        print_json(approval_json(done))
        return
    console.print(f"{done.id}: rejected")


@approval_app.command("purge")
def purge(as_json: JsonOpt = False) -> None:
    """Mark lapsed requests expired and delete export files and unclaimed secrets past their 24 h (the worker
    does this too; run it from cron where no worker runs)."""
    with open_app() as application:
        expired = expire_requests(application.services)
        purged = purge_artifacts(application.services)
    if as_json:
        print_json({"expired": expired, "purged": purged})
        return
    console.print(f"{len(expired)} request(s) expired, {len(purged)} file(s) purged")


@approval_app.command("request-key")
def request_key(
    name: Annotated[str, typer.Argument(help="what the key is for")],
    reason: Annotated[str, typer.Option(help="why it must be able to export (the approver decides on it)")],
    scope: Annotated[list[str] | None, typer.Option("--scope", help="a permission the key may use")] = None,
    role: Annotated[str | None, typer.Option(help="the role the key acts with")] = None,
    owner: Annotated[str | None, typer.Option(help="the account that answers for the key (its email)")] = None,
    service: Annotated[str | None, typer.Option(help="or the service account it belongs to")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask for an API key that may export personal data; after approval, `approval pickup ID` shows it once."""
    payload: dict[str, Any] = {"name": name}
    if scope:
        payload["scopes"] = list(scope)
    if role:
        payload["role"] = role
    if owner:
        payload["owner"] = owner
    if service:
        payload["service"] = service
    with open_app() as application:
        made = guarded(lambda: request_approval(application.services, local_actor(), APIKEY_KIND, f"key:{name}",
                                                payload, reason=reason))
    if as_json:
        print_json(approval_json(made))
        return
    console.print(f"request {made.id} is waiting for another administrator's approval")


@approval_app.command("pickup")
def pickup(request_id: Annotated[str, typer.Argument()], as_json: JsonOpt = False) -> None:
    """Show the approved key's secret, once (only the account that asked for it)."""
    with open_app() as application:
        key = guarded(lambda: pick_up_key(application.services, local_actor(), request_id))
    if as_json:
        print_json(key)
        return
    console.print(f"key id {key['id']} ({key['name']}) — store it now, it is not shown again:")
    print(key["secret"])


def register(app: typer.Typer) -> None:
    app.add_typer(approval_app, name="approval")
