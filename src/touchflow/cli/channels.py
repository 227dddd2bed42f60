"""``touchflow channel list|set``: which provider carries each channel. Secrets are sealed here, before the
service sees them, with the key of ``TOUCHFLOW_SECRET_KEY`` (or the key file beside a SQLite database)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from touchflow.cli.common import CsvOpt, console, emit_rows, err_console, fail, open_app
from touchflow.domain.channel_names import alias_warning, canonical_channel
from touchflow.domain.errors import FieldError
from touchflow.engine.channel_registry import build_channel
from touchflow.security.crypto import SecretError
from touchflow.services.channels import KNOWN_KINDS, list_channels, save_channel

__all__ = ["register"]

channel_app = typer.Typer(help="Delivery channels: provider, settings, credentials, rate and concurrency.",
                          no_args_is_help=True)


def _pairs(values: list[str], option: str, typed: bool) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"{option} {item!r}: write it as key=value")
        if typed:
            try:
                found[key.strip()] = orjson.loads(value)  # 465 → number, true → boolean
                continue
            except orjson.JSONDecodeError:
                pass
        found[key.strip()] = value
    return found


@channel_app.command("set")
def channel_set(
    name: Annotated[str, typer.Argument(help="the channel journeys name: email, sms, wecom, wechat …")],
    kind: Annotated[str, typer.Option(help=f"adapter: {', '.join(sorted(KNOWN_KINDS))}")],
    setting: Annotated[list[str] | None, typer.Option(help="key=value, repeatable (not secret)")] = None,
    secret: Annotated[list[str] | None, typer.Option(help="key=value, repeatable; sealed before it is stored")]
    = None,
    rate: Annotated[float | None, typer.Option(help="sends per second (default: no limit)")] = None,
    concurrency: Annotated[int, typer.Option(help="provider calls at once")] = 4,
    disable: Annotated[bool, typer.Option("--disable", help="keep the configuration but do not send")] = False,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Create or replace a channel. Without --secret an existing secret is kept."""
    if warning := alias_warning(name, "name"):
        err_console.print(f"[yellow]warning:[/yellow] {warning}")
        name = canonical_channel(name)
    settings = _pairs(setting or [], "--setting", typed=True)
    secrets = _pairs(secret or [], "--secret", typed=False)
    if secrets:  # a new configuration: build the adapter once, so a wrong setting name fails here, not in the worker
        try:
            build_channel(name, kind, settings, secrets).close()
        except ValueError as exc:
            fail(str(exc))
    with open_app() as application:
        try:
            sealed = application.secret_box().seal(secrets, f"channel:{name}") if secrets else None
            saved = save_channel(application.services, name, kind, settings, sealed, rate, concurrency, not disable,
                                 actor=actor)
        except (FieldError, SecretError) as exc:
            fail(str(exc))
    console.print(f"channel {saved.name}: {saved.kind}, {'enabled' if saved.enabled else 'disabled'}, "
                  f"secret {'set' if saved.has_secret else 'none'}")


@channel_app.command("list")
def channel_list(as_json: Annotated[bool, typer.Option("--json")] = False, as_csv: CsvOpt = False) -> None:
    """Configured channels. Secrets are never shown, only whether one is set."""
    with open_app() as application:
        found = list_channels(application.services)
    rows: list[dict[str, Any]] = [
        {"name": c.name, "kind": c.kind, "settings": dict(c.settings), "secret": "set" if c.has_secret else None,
         "rate_per_s": c.rate_per_s, "concurrency": c.concurrency, "enabled": c.enabled, "updated_at": c.updated_at}
        for c in found]
    if emit_rows(rows, ["name", "kind", "settings", "secret", "rate_per_s", "concurrency", "enabled", "updated_at"],
                 as_json=as_json, as_csv=as_csv):
        return
    if not rows:
        console.print("no channels configured: every channel is capture (records, sends nothing)")
        return
    table = Table("name", "kind", "settings", "secret", "rate/s", "concurrency", "enabled")
    for r in rows:
        table.add_row(str(r["name"]), str(r["kind"]), ", ".join(f"{k}={v}" for k, v in r["settings"].items()),
                      "set" if r["secret"] else "—", str(r["rate_per_s"] or "∞"), str(r["concurrency"]),
                      "yes" if r["enabled"] else "no")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(channel_app, name="channel")
