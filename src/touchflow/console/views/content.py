"""Content (C3–C7, G4, G5): the template list, the editor with the Advertising-Law check as one types, versions
and their diff, and the compliance review queue.

Every action calls the service the API calls (``services/content.py``); the author of a version and the reviewer
of it are the signed-in person (``me.principal``), never a name from the form, so four eyes stay four eyes.
The live check (``/content/check``) is ``services/content_drafts.check_draft``: the scan ``save_template`` runs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.errors import problem_of
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.domain.content.ports import TemplateVersion
from touchflow.services.contacts import ContactNotFound
from touchflow.services.content import (
    ContentError,
    ContentNotFound,
    decide_review,
    get_template,
    link_check,
    list_reviews,
    list_templates,
    request_review,
    save_template,
    template_history,
)
from touchflow.services.content_drafts import check_draft, version_diff

__all__ = ["router"]

router = APIRouter()
CHANNELS = ("email", "sms", "wecom", "wechat", "onsite", "webhook")
LAYOUTS = ("html", "mjml", "text")
REVIEW_TAGS = ("finance", "medical")
_STATUS = {"draft": N_("Draft (blocked)"), "pending_review": N_("Waiting for review"), "approved": N_("Approved"),
           "rejected": N_("Rejected")}


def _fields(form: dict[str, str]) -> dict[str, Any]:
    channel = form.get("channel", "email")
    return {"name": form.get("name", "").strip(), "channel": channel, "subject": form.get("subject", ""),
            "body": form.get("body", ""), "layout": form.get("layout", "html") if channel == "email" else "text",
            "tags": [t for t in REVIEW_TAGS if form.get(f"tag_{t}") == "on"], "contact": form.get("contact", "")}


def _editor(request: Request, me: ConsoleUser, fields: dict[str, Any], *, existing: TemplateVersion | None = None,
            error: Exception | None = None, status: int = 200) -> Response:
    """The editor; ``error`` a refused save, shown through the catalogs (``console/errors.py``)."""
    check = None
    if fields["body"]:
        try:
            check = check_draft(services(request), fields["channel"], fields["subject"], fields["body"],
                                fields["layout"], None)
        except ContentError as exc:
            error = error or exc
    return render(request, me, "content/editor.html",
                  {"title": N_("Edit template") if existing else N_("New template"), "fields": fields,
                   "existing": existing, "channels": CHANNELS, "layouts": LAYOUTS, "review_tags": REVIEW_TAGS,
                   "check": check, "problem": problem_of(error) if error is not None else None, "statuses": _STATUS,
                   "can_pick_contact": me.can("contacts.read")}, status_code=status)


@router.get("/content", **allow("content.read"))
async def template_list(request: Request, me: Me, status: str | None = None) -> Response:
    wanted = status if status in _STATUS else None
    found = await run_in_threadpool(list_templates, services(request), wanted)
    pending = await run_in_threadpool(list_reviews, services(request), "pending")
    return render(request, me, "content/list.html",
                  {"title": N_("Content"), "templates": found, "statuses": _STATUS, "status": wanted,
                   "pending": len(pending)})


@router.get("/content/new", **allow("content.write"))
async def new_template(request: Request, me: Me) -> Response:
    return _editor(request, me, _fields({}))


@router.post("/content/check", **allow("content.read"))
async def live_check(request: Request, me: Me) -> Response:
    """The editor's live panel (htmx, after a pause in typing): findings highlighted in the copy, and the
    preview for the chosen contact (a contact without data when the reader may not open contacts)."""
    try:
        fields = _fields(await read_form(request))
    except FormError as exc:
        return render(request, me, "content/_check.html", {"check": None, "problem": problem_of(exc)},
                      status_code=422)
    contact = fields["contact"].strip() if me.can("contacts.read") else ""
    error, problem = None, None
    try:
        check = await run_in_threadpool(check_draft, services(request), fields["channel"], fields["subject"],
                                        fields["body"], fields["layout"], contact or None)
    except ContactNotFound:
        check, error = None, "contact"
    except ContentError as exc:
        check, problem = None, problem_of(exc)
    return render(request, me, "content/_check.html", {"check": check, "error": error, "problem": problem,
                                                       "contact": contact})


@router.post("/content/save", **allow("content.write"))
async def save(request: Request, me: Me) -> Response:
    try:
        fields = _fields(await read_form(request))
    except FormError as exc:
        return _editor(request, me, _fields({}), error=exc, status=422)
    state = api_state(request)
    try:
        saved = await state.write(save_template, state.services, fields["name"], fields["channel"],
                                  fields["subject"], fields["body"], fields["layout"], fields["tags"],
                                  me.principal.actor)
    except ContentError as exc:
        return _editor(request, me, fields, error=exc, status=422)
    return RedirectResponse(f"/content/templates/{quote(saved.name)}?saved={saved.version}", status_code=303)


@router.get("/content/templates/{name}", **allow("content.read"))
async def template_page(request: Request, me: Me, name: str, version: int | None = None,
                        saved: int | None = None, edit: str | None = None, domains: str = "") -> Response:
    ctx = services(request)
    try:
        shown = await run_in_threadpool(get_template, ctx, name, version)
    except ContentNotFound:
        return render(request, me, "content/missing.html", {"title": N_("Template not found"), "name": name},
                      status_code=404)
    if edit == "1" and me.can("content.write"):
        return _editor(request, me, {"name": shown.name, "channel": shown.channel, "subject": shown.subject,
                                     "body": shown.body, "layout": shown.layout, "tags": list(shown.tags),
                                     "contact": ""}, existing=shown)
    history = await run_in_threadpool(template_history, ctx, name)
    allowed = [d for d in domains.replace("，", ",").split(",") if d.strip()][:20]
    links = await run_in_threadpool(link_check, ctx, name, allowed, shown.version)
    if not allowed:  # no allow-list given: check form only (well-formed http(s) links with a host)
        links = [p for p in links if not p.problem.startswith("domain ")]
    check = await run_in_threadpool(check_draft, ctx, shown.channel, shown.subject, shown.body, shown.layout)
    return render(request, me, "content/template.html",
                  {"title": N_("Template"), "template": shown, "history": history, "links": links, "check": check,
                   "statuses": _STATUS, "saved": saved, "domains": ", ".join(allowed),
                   "newest": history[-1].version if history else shown.version})


@router.get("/content/templates/{name}/diff", **allow("content.read"))
async def diff_page(request: Request, me: Me, name: str, old: int, new: int) -> Response:
    ctx = services(request)
    try:
        before = await run_in_threadpool(get_template, ctx, name, old)
        after = await run_in_threadpool(get_template, ctx, name, new)
    except ContentNotFound:
        return render(request, me, "content/missing.html", {"title": N_("Template not found"), "name": name},
                      status_code=404)
    return render(request, me, "content/diff.html",
                  {"title": N_("Changes between versions"), "name": name, "old": before, "new": after,
                   "lines": version_diff(before, after)})


@router.post("/content/templates/{name}/submit", **allow("content.write"))
async def submit(request: Request, me: Me, name: str) -> Response:
    """Ask a reviewer to look at the newest version (a finding the editor believes is a false positive)."""
    state = api_state(request)
    try:
        await state.write(request_review, state.services, name, None, by=me.principal.actor)
    except ContentNotFound:
        return RedirectResponse("/content", status_code=303)
    except ContentError as exc:
        return render(request, me, "content/missing.html", {"title": N_("Not possible"), "name": name,
                                                            "problem": problem_of(exc)}, status_code=409)
    return RedirectResponse(f"/content/templates/{quote(name)}", status_code=303)


@router.get("/content/reviews", **allow("content.read"))
async def review_queue(request: Request, me: Me) -> Response:
    return await _queue(request, me)


async def _queue(request: Request, me: ConsoleUser, error: Exception | None = None) -> Response:
    """The queue; ``error`` a refused decision, shown through the catalogs (``console/errors.py``)."""
    ctx = services(request)
    pending = await run_in_threadpool(list_reviews, ctx, "pending")
    items = []
    for review in pending:
        version = await run_in_threadpool(get_template, ctx, review.template_name, review.template_version)
        check = await run_in_threadpool(check_draft, ctx, version.channel, version.subject, version.body,
                                        version.layout)
        items.append({"review": review, "version": version, "check": check,
                      "mine": me.principal.actor.same_as(version.created_by)})
    decided = (await run_in_threadpool(list_reviews, ctx, None))[-20:]
    return render(request, me, "content/reviews.html",
                  {"title": N_("Review queue"), "items": items,
                   "problem": problem_of(error) if error is not None else None,
                   "decided": [r for r in reversed(decided) if r.status != "pending"]})


async def _decide(request: Request, me: ConsoleUser, review_id: str, approve: bool) -> Response:
    try:
        form = await read_form(request)
    except FormError as exc:
        return await _queue(request, me, error=exc)
    state = api_state(request)
    try:
        await state.write(decide_review, state.services, review_id, approve, me.principal, form.get("reason", ""))
    except (ContentNotFound, ContentError) as exc:
        page = await _queue(request, me, error=exc)
        page.status_code = 409 if not isinstance(exc, ContentNotFound) else 404
        return page
    return RedirectResponse("/content/reviews", status_code=303)


@router.post("/content/reviews/{review_id}/approve", **allow("content.review"))
async def approve(request: Request, me: Me, review_id: str) -> Response:
    return await _decide(request, me, review_id, True)


@router.post("/content/reviews/{review_id}/reject", **allow("content.review"))
async def reject(request: Request, me: Me, review_id: str) -> Response:
    return await _decide(request, me, review_id, False)
