"""``touchflow channel list|set|callback-url|callback-revoke``: which provider carries each channel, and the
URL it calls back. Secrets are read from a file, stdin or a hidden prompt — never the command line, where
shell history and ``ps`` keep them — and sealed here, before the service sees them, with the database's key."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from touchflow.cli.common import CsvOpt, console, emit_rows, err_console, fail, local_actor, open_app, print_json
from touchflow.domain.channel_names import alias_warning, canonical_channel
from touchflow.domain.errors import FieldError
from touchflow.engine.channel_registry import build_channel
from touchflow.security.crypto import SecretError
from touchflow.services.callback_tokens import create_callback_token, list_callback_tokens, revoke_callback_tokens
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


def _secret_file(path: str) -> dict[str, Any]:
    """A JSON object, or ``key=value`` lines (blank lines and ``#`` comments skipped); ``-`` is stdin."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        fail(f"--secret-file {path}: {exc.strerror or exc}")
    if text.lstrip().startswith("{"):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            fail(f"--secret-file {path}: not valid JSON: {exc}")
        if not isinstance(data, dict) or not data:
            fail(f"--secret-file {path}: must be a non-empty JSON object of credential names to values")
        return data
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if not lines:
        fail(f"--secret-file {path}: empty (write a JSON object or key=value lines)")
    found: dict[str, Any] = {}
    for number, line in enumerate(lines, 1):
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            fail(f"--secret-file {path}: entry {number} is not key=value")  # the line itself may be a secret
        found[key.strip()] = value.strip()
    return found


def _read_secrets(secret: list[str] | None, secret_file: str | None, ask: list[str] | None) -> dict[str, Any]:
    if secret:
        fail("--secret puts credentials on the command line (shell history, ps): use --secret-file PATH "
             "(a JSON object or key=value lines), --secret-file - to read them from stdin, or --ask-secret NAME "
             "to type one at a hidden prompt")
    found = _secret_file(secret_file) if secret_file else {}
    for name in ask or []:
        found[name] = typer.prompt(name, hide_input=True)
    return found


@channel_app.command("set")
def channel_set(
    name: Annotated[str, typer.Argument(help="the channel journeys name: email, sms, wecom, wechat …")],
    kind: Annotated[str, typer.Option(help=f"adapter: {', '.join(sorted(KNOWN_KINDS))}")],
    setting: Annotated[list[str] | None, typer.Option(help="key=value, repeatable (not secret)")] = None,
    secret_file: Annotated[str | None, typer.Option(help="credentials: a JSON object or key=value lines; - reads "
                                                         "stdin. Sealed before they are stored")] = None,
    ask_secret: Annotated[list[str] | None, typer.Option(help="a credential name to type at a hidden prompt, "
                                                              "repeatable")] = None,
    secret: Annotated[list[str] | None, typer.Option(hidden=True, help="refused: see --secret-file")] = None,
    rate: Annotated[float | None, typer.Option(help="sends per second (default: no limit)")] = None,
    concurrency: Annotated[int, typer.Option(help="provider calls at once")] = 4,
    disable: Annotated[bool, typer.Option("--disable", help="keep the configuration but do not send")] = False,
) -> None:
    """Create or replace a channel. Without --secret-file or --ask-secret an existing secret is kept."""
    if warning := alias_warning(name, "name"):
        err_console.print(f"[yellow]warning:[/yellow] {warning}")
        name = canonical_channel(name)
    secrets = _read_secrets(secret, secret_file, ask_secret)
    settings = _pairs(setting or [], "--setting", typed=True)
    if secrets:  # a new configuration: build the adapter once, so a wrong setting name fails here, not in the worker
        try:
            build_channel(name, kind, settings, secrets).close()
        except ValueError as exc:
            fail(str(exc))
    with open_app() as application:
        try:
            sealed = application.secret_box().seal(secrets, f"channel:{name}") if secrets else None
            saved = save_channel(application.services, name, kind, settings, sealed, rate, concurrency, not disable,
                                 actor=local_actor().label)
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


@channel_app.command("callback-url")
def channel_callback_url(
    name: Annotated[str, typer.Argument(help="the channel whose provider calls back")],
    base_url: Annotated[str | None, typer.Option(help="the public URL of the API (default TOUCHFLOW_PUBLIC_URL)")]
    = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Make a callback token for the channel and print its callback URLs (shown once). The token works only on
    this channel's callbacks; older tokens keep working until `channel callback-revoke`."""
    with open_app() as application:
        try:
            issued = create_callback_token(application.services, name, actor=local_actor().label)
        except FieldError as exc:
            fail(str(exc))
        base = (base_url or application.settings.public_url).rstrip("/")
    urls = {path: f"{base}/v1/callbacks/{name}/{path}?token={issued.token}"
            for path in ("sms/inbound", "sms/receipt", "email/report")}
    if as_json:
        print_json({"channel": name, "token_id": issued.id, "urls": urls})
        return
    console.print(f"callback token {issued.id} for channel {name} — give the provider the URL it needs; "
                  "it is not shown again:")
    for url in urls.values():
        print(url)


@channel_app.command("callback-revoke")
def channel_callback_revoke(
    name: Annotated[str, typer.Argument(help="the channel")],
    token_id: Annotated[str | None, typer.Option("--id", help="one token (default: every token of the channel)")]
    = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Revoke a channel's callback tokens: its provider's callbacks are refused at once."""
    with open_app() as application:
        revoked = revoke_callback_tokens(application.services, name, token_id, actor=local_actor().label)
        live = [r.id for r in list_callback_tokens(application.services, name) if r.revoked_at is None]
    if as_json:
        print_json({"channel": name, "revoked": revoked, "still_valid": live})
        return
    if not revoked:
        fail(f"no live callback token {token_id or ''} for channel {name!r}".replace("  ", " "), code=1)
    console.print(f"revoked {', '.join(revoked)}; still valid for {name}: {', '.join(live) or 'none'}")


def register(app: typer.Typer) -> None:
    app.add_typer(channel_app, name="channel")
