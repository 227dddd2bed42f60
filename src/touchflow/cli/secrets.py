"""``touchflow secret status|rotate``: the database's secret key ring (ADR 0012). Keys are never printed."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from touchflow.cli.common import console, fail, local_actor, open_app, print_json
from touchflow.domain.conditions.durations import parse_duration
from touchflow.domain.errors import PathError
from touchflow.security.crypto import SecretError

__all__ = ["register"]

secret_app = typer.Typer(help="The secret key that seals channel credentials and signs tracking links.",
                         no_args_is_help=True)


def _grace(text: str) -> timedelta:
    if text.strip() in ("0", "0s"):
        return timedelta(0)  # after a leak: old links stop working at once
    try:
        return parse_duration(text, "--grace")
    except PathError as exc:
        fail(str(exc))


@secret_app.command("status")
def secret_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Where the key ring is and its keys (ids and dates only), the current key first."""
    with open_app() as application:
        try:
            ring = application.key_ring()
        except SecretError as exc:
            fail(str(exc))
        now = application.services.clock.now()
    rows = [{"id": k.id, "current": i == 0, "created_at": k.created_at.isoformat() if k.created_at else None,
             "retires_at": k.retires_at.isoformat() if k.retires_at else None, "usable": i == 0 or k.usable_at(now)}
            for i, k in enumerate(ring.keys)]
    if as_json:
        print_json({"source": ring.source, "keys": rows})
        return
    console.print(f"key ring: {ring.source}")
    table = Table("id", "current", "created", "retires", "usable")
    for r in rows:
        table.add_row(str(r["id"]), "yes" if r["current"] else "", str(r["created_at"] or "—"),
                      str(r["retires_at"] or "—"), "yes" if r["usable"] else "no")
    console.print(table)


@secret_app.command("rotate")
def secret_rotate(
    grace: Annotated[str, typer.Option(help="how long links and secrets of the old keys still work (e.g. 30d; "
                                            "0 after a leak)")] = "30d",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Make a new current key; old keys keep working until their grace ends. Channel credentials are re-sealed
    with the new key. Restart workers afterwards so they sign new links with it (servers pick it up alone)."""
    period = _grace(grace)
    with open_app() as application:
        try:
            rotation = application.rotate_secret_key(period, actor=local_actor().label)
        except SecretError as exc:
            fail(str(exc))
    data = {"source": rotation.source, "new_key": rotation.new_key, "resealed_channels": list(rotation.resealed),
            "unopened_channels": list(rotation.unopened),
            "retiring": {k: v.isoformat() if v else None for k, v in rotation.retiring.items()}}
    if as_json:
        print_json(data)
        return
    console.print(f"new key {rotation.new_key} in {rotation.source}; "
                  f"{len(rotation.resealed)} channel credential(s) re-sealed")
    for key_id, until in rotation.retiring.items():
        console.print(f"  old key {key_id} accepted until {until.isoformat() if until else 'removed by hand'}")
    for name in rotation.unopened:
        console.print(f"[yellow]warning:[/yellow] channel {name}: its credentials open with no key of the ring; "
                      f"set them again (touchflow channel set {name} … --secret-file …)")
    console.print("restart `touchflow worker` processes so new links are signed with the new key")


def register(app: typer.Typer) -> None:
    app.add_typer(secret_app, name="secret")
