"""``touchflow template save|list|show|history|preview|links|review`` and ``touchflow asset add|list``.

Who saved, asked for review or decided is the operating-system account running the command (``os:<login>``),
never a name typed on the command line: the four-eyes review compares it with the version's author.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from touchflow.cli.common import (
    CsvOpt,
    console,
    emit_rows,
    err_console,
    fail,
    local_actor,
    local_time,
    open_app,
    print_json,
    workspace_zone,
)
from touchflow.content.documents import asset_document, review_document, template_document
from touchflow.domain.channel_names import alias_warning
from touchflow.services.contacts import ContactNotFound
from touchflow.services.content import (
    ContentError,
    ContentNotFound,
    decide_review,
    get_template,
    link_check,
    list_assets,
    list_reviews,
    list_templates,
    preview_template,
    request_review,
    save_asset,
    save_template,
    template_history,
)

__all__ = ["register"]

template_app = typer.Typer(help="Message templates: versions, compliance review, preview, link check.",
                           no_args_is_help=True)
review_app = typer.Typer(help="The compliance review queue (G5: medical and finance content).", no_args_is_help=True)
asset_app = typer.Typer(help="The asset library (素材库): images and files, versioned.", no_args_is_help=True)
template_app.add_typer(review_app, name="review")

Json = Annotated[bool, typer.Option("--json", help="One JSON document.")]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: {exc}")


@template_app.command("save")
def save(
    name: Annotated[str, typer.Argument(help="the key journeys use, e.g. welcome_email")],
    file: Annotated[Path, typer.Option("--file", help="the body: .mjml, .html or .txt (Liquid inside)")],
    channel: Annotated[str, typer.Option(help="email, sms, wecom, wechat, onsite, webhook")] = "email",
    subject: Annotated[str, typer.Option(help="subject line (Liquid allowed)")] = "",
    layout: Annotated[str | None, typer.Option(help="mjml, html or text (default: from the file name)")] = None,
    text_file: Annotated[Path | None, typer.Option("--text-file", help="a hand-written text part")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="repeatable; medical/finance need review")] = None,
    as_json: Json = False,
) -> None:
    """Save a new version; it is scanned for Advertising-Law terms and queued for review when it must be."""
    chosen = layout or {".mjml": "mjml", ".html": "html", ".htm": "html"}.get(file.suffix.lower(), "text")
    if warning := alias_warning(channel, "--channel"):
        err_console.print(f"[yellow]warning:[/yellow] {warning}")
    with open_app() as application:
        try:
            saved = save_template(application.services, name, channel, subject, _read(file), chosen, tag or [],
                                  local_actor(), text_body=_read(text_file) if text_file else None)
        except ContentError as exc:
            fail(str(exc))
    if as_json:
        print_json(template_document(saved))
        return
    console.print(f"saved {saved.name} version {saved.version}: [bold]{saved.status}[/bold]")
    if saved.status == "pending_review":
        console.print(f"  a second person must review it: {escape('; '.join(saved.review_reasons))}")
    for finding in saved.findings:
        console.print(f"  {finding['severity']}: {finding['matched']!r} ({finding['term']}, {finding['article']}) "
                      f"in {finding['part']}")
    if saved.status == "draft":
        console.print("  blocking findings: fix the copy and save again, or `touchflow template review request`")


@template_app.command("list")
def list_cmd(status: Annotated[str | None, typer.Option(help="only this status")] = None,
             as_json: Json = False, as_csv: CsvOpt = False) -> None:
    """The newest version of every template."""
    with open_app() as application:
        found = list_templates(application.services, status)
        zone = workspace_zone(application)
    docs = [template_document(t) for t in found]
    if emit_rows(docs, list(docs[0]) if docs else ["name"], as_json=as_json, as_csv=as_csv, zone=zone):
        return
    table = Table("name", "version", "channel", "status", "tags", "findings", f"saved ({zone.key})")
    for t in found:
        table.add_row(t.name, str(t.version), t.channel, t.status, ", ".join(t.tags), str(len(t.findings)),
                      f"{local_time(t.created_at, zone)} by {t.created_by}")
    console.print(table)


@template_app.command("show")
def show(name: str, version: Annotated[int | None, typer.Option()] = None, as_json: Json = False) -> None:
    with open_app() as application:
        try:
            t = get_template(application.services, name, version)
        except ContentNotFound as exc:
            fail(str(exc), code=1)
    if as_json:
        print_json(template_document(t, with_body=True))
        return
    console.print(f"[bold]{t.name}[/bold] v{t.version} ({t.channel}, {t.layout}) {t.status}  tags: "
                  f"{', '.join(t.tags) or '—'}\nsubject: {t.subject}\n")
    console.print(t.body, markup=False, highlight=False)


@template_app.command("history")
def history(name: str, as_json: Json = False, as_csv: CsvOpt = False) -> None:
    with open_app() as application:
        versions = template_history(application.services, name)
        zone = workspace_zone(application)
    if not versions:
        fail(f"no template {name!r}", code=1)
    docs = [template_document(t) for t in versions]
    if emit_rows(docs, list(docs[0]), as_json=as_json, as_csv=as_csv, zone=zone):
        return
    for t in versions:
        console.print(f"v{t.version}  {t.status:<15} {local_time(t.created_at, zone)} {t.created_by}  "
                      f"{len(t.findings)} findings")


@template_app.command("preview")
def preview(name: str, contact: Annotated[str, typer.Option(help="email:…, phone:…, crm:… or a contact id")],
            version: Annotated[int | None, typer.Option()] = None, as_json: Json = False) -> None:
    """The message as this contact would get it (untracked), and the variables they lack."""
    with open_app() as application:
        try:
            shown = preview_template(application.services, name, contact, version)
        except (ContentNotFound, ContactNotFound) as exc:
            fail(str(exc), code=1)
        except ContentError as exc:
            fail(str(exc))
    if as_json:
        print_json({"template": shown.template, "version": shown.version, "channel": shown.channel,
                    "status": shown.status, "contact_id": shown.contact_id, "subject": shown.subject,
                    "html": shown.html, "text": shown.text, "undefined": list(shown.undefined)})
        return
    console.print(f"[bold]{shown.subject}[/bold]  ({shown.template} v{shown.version}, {shown.status})\n")
    console.print(shown.text, markup=False, highlight=False)
    if shown.undefined:
        console.print(f"[yellow]rendered empty for this contact:[/yellow] {', '.join(shown.undefined)}")


@template_app.command("links")
def links(name: str, allow: Annotated[list[str], typer.Option("--allow", help="allowed domain (repeatable)")],
          version: Annotated[int | None, typer.Option()] = None, as_json: Json = False) -> None:
    """Check every link (J10): well-formed, http(s), on an allowed domain. Exit 1 when there are problems."""
    with open_app() as application:
        try:
            problems = link_check(application.services, name, allow, version)
        except ContentNotFound as exc:
            fail(str(exc), code=1)
    if as_json:
        print_json([{"url": p.url, "problem": p.problem} for p in problems])
    else:
        for p in problems:
            console.print(f"[red]✗[/red] {escape(p.url)}: {escape(p.problem)}", highlight=False)
        if not problems:
            console.print("all links are fine")
    if problems:
        raise typer.Exit(1)


@review_app.command("list")
def review_list(status: Annotated[str, typer.Option(help="pending, approved, rejected or all")] = "pending",
                as_json: Json = False, as_csv: CsvOpt = False) -> None:
    with open_app() as application:
        try:
            found = list_reviews(application.services, None if status == "all" else status)
        except ContentError as exc:
            fail(str(exc))
        zone = workspace_zone(application)
    docs = [review_document(r) for r in found]
    if emit_rows(docs, list(docs[0]) if docs else ["id"], as_json=as_json, as_csv=as_csv, zone=zone):
        return
    table = Table(title=f"times in {zone.key}")
    table.add_column("id", no_wrap=True, min_width=32)
    for header in ("template", "status", "requested", "reviewer", "comment"):
        table.add_column(header, overflow="fold")
    for r in found:
        table.add_row(r.id, f"{r.template_name}@{r.template_version}", r.status,
                      f"{local_time(r.requested_at, zone)} by {r.requested_by}", r.reviewer or "", r.comment or "")
    console.print(table)


@review_app.command("request")
def review_request(name: str, version: Annotated[int | None, typer.Option()] = None) -> None:
    """Ask for review of a draft (e.g. a finding you believe is a false positive) or a rejected version."""
    with open_app() as application:
        try:
            review = request_review(application.services, name, version, by=local_actor())
        except ContentNotFound as exc:
            fail(str(exc), code=1)
        except ContentError as exc:
            fail(str(exc))
    console.print(f"review {review.id}: {review.template_name}@{review.template_version} is pending")


def _decide(review_id: str, approve: bool, comment: str, as_json: bool) -> None:
    with open_app() as application:
        try:
            review = decide_review(application.services, review_id, approve, local_actor(), comment)
        except ContentNotFound as exc:
            fail(str(exc), code=1)
        except ContentError as exc:
            fail(str(exc))
    if as_json:
        print_json(review_document(review))
    else:
        console.print(f"{review.template_name}@{review.template_version}: {review.status} by {review.reviewer}")


@review_app.command("approve")
def review_approve(review_id: str, comment: Annotated[str, typer.Option()] = "", as_json: Json = False) -> None:
    """Approve as the account running this command, which must not be the version's author."""
    _decide(review_id, True, comment, as_json)


@review_app.command("reject")
def review_reject(review_id: str, comment: Annotated[str, typer.Option(help="what must change")],
                  as_json: Json = False) -> None:
    """Reject as the account running this command, saying what must change."""
    _decide(review_id, False, comment, as_json)


@asset_app.command("add")
def asset_add(file: Path, name: Annotated[str | None, typer.Option(help="default: the file name")] = None,
              content_type: Annotated[str | None, typer.Option("--type", help="default: from the name")] = None,
              as_json: Json = False) -> None:
    """Add an image or file (≤ 5 MB); a changed file becomes a new version."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"{file}: {exc}")
    with open_app() as application:
        try:
            record = save_asset(application.services, name or file.name, data, content_type=content_type,
                                by=local_actor())
        except ContentError as exc:
            fail(str(exc))
    if as_json:
        print_json(asset_document(record))
        return
    console.print(f"asset {record.name} version {record.version}: {record.kind}, {record.content_type}, "
                  f"{record.size:,} bytes, sha256 {record.sha256[:12]}…")


@asset_app.command("list")
def asset_list(as_json: Json = False, as_csv: CsvOpt = False) -> None:
    with open_app() as application:
        found = list_assets(application.services)
        zone = workspace_zone(application)
    docs = [asset_document(a) for a in found]
    if emit_rows(docs, list(docs[0]) if docs else ["name"], as_json=as_json, as_csv=as_csv, zone=zone):
        return
    table = Table("name", "version", "kind", "type", "bytes", f"saved ({zone.key})")
    for a in found:
        table.add_row(a.name, str(a.version), a.kind, a.content_type, f"{a.size:,}",
                      f"{local_time(a.created_at, zone)} by {a.created_by}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(template_app, name="template")
    app.add_typer(asset_app, name="asset")
