"""``touchflow keys status|rotate``: the data keys that encrypt personal data at rest (ADR 0026).

Not the key ring of ``touchflow secret``: that one secret (a key file or TOUCHFLOW_SECRET_KEY) is where the
key-encryption key comes from; the data keys here are stored wrapped by it, in the database. ``secret rotate``
re-wraps them under its new key; ``keys rotate`` makes a new data key and re-encrypts the rows.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from touchflow.cli.common import console, fail, local_actor, open_app, print_json
from touchflow.security.crypto import SecretError
from touchflow.security.pii import PiiError

__all__ = ["register"]

keys_app = typer.Typer(help="Data keys that encrypt personal data (identifiers: email, phone, openid …; names) "
                            "at rest. They are stored wrapped by the key ring of `touchflow secret` (`secret "
                            "rotate` re-wraps them; `keys rotate` replaces them and re-encrypts the rows).",
                       no_args_is_help=True)


@keys_app.command("status")
def keys_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Each data key, how many rows it encrypts, rows still in plaintext, and where a rotation stands."""
    try:
        with open_app() as application:
            status = application.pii_keys.status()
    except (SecretError, PiiError) as exc:
        fail(str(exc))
    if as_json:
        print_json(status)
        return
    if not status["enabled"]:
        console.print("personal data is not encrypted yet: `touchflow keys rotate` makes the first keys")
        return
    table = Table("id", "purpose", "state", "rows", "created", "retired")
    for k in status["keys"]:
        table.add_row(str(k["id"]), k["purpose"], k["state"], "—" if k["rows"] is None else str(k["rows"]),
                      k["created_at"], k["retired_at"] or "—")
    console.print(table)
    console.print(f"plaintext rows: {status['plaintext_rows']}; rotation "
                  f"{'under way, cursor ' + str(status['cursor']) if status['rotating'] else 'finished'}")


@keys_app.command("rotate")
def keys_rotate(
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="rows per transaction")] = 500,
    resume: Annotated[bool, typer.Option("--resume", help="only finish a rotation left unfinished")] = False,
    settle: Annotated[float, typer.Option(min=0, max=3600, help="seconds to wait after making the new key, so "
                                          "running servers and workers pick it up first")] = 30.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Make a new data key (the first run enables encryption), then re-encrypt every row with it, in short
    transactions, while imports and sends go on. Interrupted, it resumes where it stopped. Old keys retire
    when no row uses them."""
    actor = local_actor().id
    try:
        with open_app() as application:
            clock = application.services.clock
            report = application.pii_keys.rotate(clock.now, actor=actor, batch_size=batch, resume_only=resume,
                                                 settle_s=settle)
    except SecretError as exc:
        fail(f"{exc} (personal data is encrypted under the key ring: `touchflow secret status`)")
    except PiiError as exc:  # a data key that does not unwrap, a row that does not open
        fail(str(exc))
    data = {"new_key": report.new_key, "reencrypted": report.reencrypted, "batches": report.batches,
            "finished": report.finished, "retired": list(report.retired)}
    if as_json:
        print_json(data)
        return
    made = f"new data key {report.new_key}; " if report.new_key is not None else ""
    console.print(f"{made}{report.reencrypted} row(s) re-encrypted in {report.batches} batch(es); "
                  + ("done" if report.finished else "not finished: run `touchflow keys rotate --resume`"))
    if report.retired:
        console.print(f"retired key(s): {', '.join(map(str, report.retired))}")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
