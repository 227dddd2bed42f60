"""Content use cases (C3–C7, G5, J10): template versions checked at save, the compliance review queue,
what a journey may send, previews for one contact, link checks, and the asset library (素材库).

Status of a saved version:
- blocking Advertising-Law findings (G4) → ``draft``: stored with its findings so the editor can fix it
  (or ask a reviewer to accept a false positive with ``request_review``); never sent;
- tagged medical or finance, or medical/financial copy by the compliance scan (G5) → ``pending_review``,
  with a review in the queue;
- otherwise → ``approved`` at once.
A reviewer (not the author) approves or rejects; a journey sends the newest *approved* version. Author and
reviewer are authenticated ``Actor``s (the API key, the OS account), never names the caller typed.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any, TypeVar, cast

from touchflow.content.context import contact_context
from touchflow.content.email import LAYOUTS, RenderedEmail, compose_email, mjml_to_html
from touchflow.content.links import LinkProblem, Tracking, check_links, rewrite_links
from touchflow.content.templates import ContentRenderer, PlainContext, TemplateError
from touchflow.domain.actors import Actor
from touchflow.domain.channel_names import canonical_channel
from touchflow.domain.content.ports import (
    CHANNELS,
    AssetRecord,
    ReviewRecord,
    ReviewStatus,
    TemplateStatus,
    TemplateVersion,
)
from touchflow.domain.events import JSONValue
from touchflow.domain.governance.principals import Principal
from touchflow.domain.guardrails.compliance import scan_text
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.contacts import ContactProfile, profile_document, resolve_contact_id
from touchflow.services.content_reviewers import waiting_for
from touchflow.services.context import ServiceContext, in_transaction

__all__ = [
    "MAX_ASSET_BYTES",
    "AssetTooLarge",
    "ContentConflict",
    "ContentError",
    "ContentForbidden",
    "ContentNotFound",
    "ContentProblem",
    "RenderedPreview",
    "check_journey_content",
    "decide_review",
    "get_asset",
    "get_template",
    "link_check",
    "list_assets",
    "list_reviews",
    "list_templates",
    "preview_template",
    "render_template_version",
    "request_review",
    "save_asset",
    "save_template",
    "template_for_send",
    "template_history",
]

MAX_ASSET_BYTES = 5 * 1024 * 1024
MAX_BODY_CHARS = 256 * 1024
PREVIEW_BASE = "https://preview.touchflow.invalid"  # placeholder unsubscribe/preference links in previews
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,119}")
T = TypeVar("T")


class ContentError(ValueError):
    """The request cannot be carried out as asked; the message says why."""


class ContentConflict(ContentError):
    """The template or review is not in a state that allows this (already decided, the author reviewing …)."""


class ContentForbidden(ContentConflict):
    """The reviewer lacks ``content.review`` (G5: only a compliance reviewer decides)."""


class AssetTooLarge(ContentError):
    pass


class ContentNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ContentProblem:
    template: str
    code: str  # missing | blocked | pending_review | rejected | not_approved
    problem: str


@dataclass(frozen=True)
class RenderedPreview:
    template: str
    version: int
    channel: str
    status: TemplateStatus
    contact_id: str
    subject: str
    html: str | None
    text: str
    undefined: tuple[str, ...]  # variables this contact lacks (rendered empty)
    findings: tuple[dict[str, Any], ...]


@cache
def _renderer() -> ContentRenderer:
    return ContentRenderer()


# --- templates -------------------------------------------------------------------------------------

def save_template(ctx: ServiceContext, name: str, channel: str, subject: str, body: str, layout: str = "html",
                  tags: Sequence[str] = (), by: Actor | str = "system", *,
                  text_body: str | None = None) -> TemplateVersion:
    """A new version of ``name`` (1, 2, …), scanned for Advertising-Law terms; see the module doc for status.
    ``by``: the authenticated author, whom the four-eyes review compares with the reviewer. ``wechat_mp`` is
    saved as ``wechat`` (one name per channel; callers show ``alias_warning``)."""
    author = Actor.of(by)
    now = ctx.clock.now()
    channel = canonical_channel(channel)
    name, tags_clean = _validate(name, channel, subject, body, layout, tags, text_body, now)
    findings: list[dict[str, Any]] = []
    for part, text in (("subject", subject), ("body", body), ("text_body", text_body or "")):
        findings.extend({**f.document(), "part": part} for f in scan_text(text))

    def work(uow: UnitOfWork) -> TemplateVersion:
        latest = uow.content.template(name)
        draft = TemplateVersion(name, (latest.version + 1) if latest else 1, channel, subject, body, layout,
                                "approved", now, author.label, text_body, tags_clean, tuple(findings))
        status: TemplateStatus = ("draft" if draft.blocking_findings else
                                  "pending_review" if draft.needs_review else "approved")
        version = replace(draft, status=status)
        uow.content.add_template(version)
        if status == "pending_review":
            uow.content.add_review(ReviewRecord(ctx.ids.new(now), name, version.version, "pending", now,
                                                author.label))
        uow.audit.record(author.label, "template.save", f"{name}@{version.version}",
                         {"channel": channel, "status": status, "tags": list(tags_clean),
                          "review_because": list(version.review_reasons),
                          "blocking": [str(f["term"]) for f in version.blocking_findings]}, now)
        return version

    return in_transaction(ctx, work, retries=2)


def _validate(name: str, channel: str, subject: str, body: str, layout: str, tags: Sequence[str],
              text_body: str | None, now: datetime) -> tuple[str, tuple[str, ...]]:
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise ContentError(f"name: 1-120 letters, digits, '_', '.', '-' (what journeys name), got {name!r}")
    if channel not in CHANNELS:
        raise ContentError(f"channel: one of {', '.join(CHANNELS)}, got {channel!r}")
    if layout not in LAYOUTS:
        raise ContentError(f"layout: one of {', '.join(LAYOUTS)}, got {layout!r}")
    if channel != "email" and layout != "text":
        raise ContentError(f"layout: {channel} messages are text; use --layout text")
    if channel == "email" and not subject.strip():
        raise ContentError("subject: an email needs a subject")
    if not body.strip():
        raise ContentError("body: empty")
    if max(len(body), len(text_body or "")) > MAX_BODY_CHARS:
        raise ContentError(f"body: longer than {MAX_BODY_CHARS} characters")
    renderer = _renderer()
    problems: list[str] = []
    for part, source in (("subject", subject), ("body", body), ("text_body", text_body)):
        if source is not None:
            problems.extend(renderer.check(source, f"{name}:{part}"))
    if not problems and layout == "mjml":
        sample = {**contact_context({}, [], now), "unsubscribe_url": PREVIEW_BASE}
        try:
            mjml_to_html(renderer.render(body, sample, name=f"{name}:body", html=True), f"{name}:body")
        except TemplateError as exc:
            problems.append(str(exc))
    if problems:
        raise ContentError("; ".join(problems))
    clean = tuple(dict.fromkeys(t.strip() for t in tags if t.strip()))
    if any(len(t) > 50 for t in clean):
        raise ContentError("tags: at most 50 characters each")
    return name, clean


def get_template(ctx: ServiceContext, name: str, version: int | None = None) -> TemplateVersion:
    with ctx.reader() as uow:
        found = uow.content.template(name, version)
    if found is None:
        raise ContentNotFound(f"no template {name!r}" + (f" version {version}" if version else ""))
    return found


def list_templates(ctx: ServiceContext, status: str | None = None) -> list[TemplateVersion]:
    """The newest version of every template."""
    with ctx.reader() as uow:
        return uow.content.latest_templates(status)


def template_history(ctx: ServiceContext, name: str) -> list[TemplateVersion]:
    with ctx.reader() as uow:
        return uow.content.history(name)


def template_for_send(uow: UnitOfWork, name: str) -> TemplateVersion | None:
    """What a journey sends for ``name``: the newest approved version (a newer draft or pending one waits)."""
    return uow.content.latest_approved(name)


# --- review queue (G5) -----------------------------------------------------------------------------

def request_review(ctx: ServiceContext, name: str, version: int | None = None, *, by: Actor | str) -> ReviewRecord:
    """Put a draft or rejected version in front of a reviewer (e.g. a finding the editor thinks is wrong)."""
    requester = Actor.of(by)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        found = uow.content.template(name, version)
        if found is None:
            raise ContentNotFound(f"no template {name!r}" + (f" version {version}" if version else ""))
        if found.status == "approved":
            raise ContentConflict(f"{name}@{found.version} is already approved")
        pending = [r for r in uow.content.reviews("pending", name) if r.template_version == found.version]
        if pending:
            return pending[0]
        review = ReviewRecord(ctx.ids.new(now), name, found.version, "pending", now, requester.label)
        uow.content.add_review(review)
        uow.content.set_template_status(name, found.version, "pending_review")
        uow.audit.record(requester.label, "template.review_request", f"{name}@{found.version}",
                         {"review": review.id}, now)
        uow.commit()
        return review


def list_reviews(ctx: ServiceContext, status: str | None = "pending") -> list[ReviewRecord]:
    if status not in (None, "pending", "approved", "rejected"):
        raise ContentError(f"status: pending, approved or rejected, got {status!r}")
    with ctx.reader() as uow:
        return uow.content.reviews(cast(ReviewStatus | None, status), None)


def decide_review(ctx: ServiceContext, review_id: str, approve: bool, reviewer: Actor | str | Principal,
                  comment: str = "") -> ReviewRecord:
    """A compliance reviewer's decision: the four-eyes approval of G5. ``reviewer`` is the authenticated caller,
    and may not be the version's author (compared by identity: the same API key or OS account under any name is
    the same person); a rejection says why. Given as a ``Principal`` (what entry points pass), it must also hold
    ``content.review``."""
    if isinstance(reviewer, Principal):
        if not reviewer.can("content.review"):
            raise ContentForbidden(f"permission 'content.review' is needed to review content (your role: "
                                   f"{reviewer.role})")
        reviewer = reviewer.actor
    actor = Actor.of(reviewer.strip() if isinstance(reviewer, str) else reviewer)
    if not actor.id:
        raise ContentError("reviewer: who is deciding is not known")
    if not approve and not comment.strip():
        raise ContentError("comment: a rejection must say what to change")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        review = uow.content.review(review_id)
        if review is None:
            raise ContentNotFound(f"no review {review_id!r}")
        if review.status != "pending":
            raise ContentConflict(f"review {review_id} was already {review.status} by {review.reviewer}")
        version = uow.content.template(review.template_name, review.template_version)
        assert version is not None  # foreign key
        if actor.same_as(version.created_by):
            raise ContentConflict(f"{actor.label} wrote {version.name}@{version.version}; a second person must "
                                  "review it (the reviewer is who is signed in, not a name given)")
        status: ReviewStatus = "approved" if approve else "rejected"
        if not uow.content.decide_review(review_id, status, actor.label, comment.strip() or None, now):
            raise ContentConflict(f"review {review_id} was decided by someone else just now")
        uow.content.set_template_status(version.name, version.version, "approved" if approve else "rejected")
        uow.audit.record(actor.label, f"template.review_{'approve' if approve else 'reject'}",
                         f"{version.name}@{version.version}",
                         {"review": review_id, "comment": comment, "author": version.created_by,
                          "reviewer": actor.label}, now)
        uow.commit()
        decided = uow.content.review(review_id)
    assert decided is not None
    return decided


def check_journey_content(uow: UnitOfWork, template_names: Collection[str]) -> list[ContentProblem]:
    """Why a journey naming these templates may not go live (J10, G4, G5); empty when every one can be sent."""
    problems: list[ContentProblem] = []
    for name in sorted(set(template_names)):
        if uow.content.latest_approved(name) is not None:
            continue
        newest = uow.content.template(name)
        if newest is None:
            problems.append(ContentProblem(name, "missing", f"template {name!r} does not exist"))
        elif newest.status == "pending_review":
            problems.append(ContentProblem(name, "pending_review", waiting_for(uow, name, newest.version)))
        elif newest.status == "rejected":
            why = next((r.comment for r in reversed(uow.content.reviews("rejected", name))
                        if r.template_version == newest.version), None)
            problems.append(ContentProblem(name, "rejected", f"{name}@{newest.version} was rejected in review"
                                           + (f": {why}" if why else "")))
        else:
            terms = ", ".join(sorted({str(f["term"]) for f in newest.blocking_findings})) or "none"
            problems.append(ContentProblem(name, "blocked", f"{name}@{newest.version} has blocking "
                                                            f"Advertising-Law findings: {terms}"))
    return problems


# --- rendering -------------------------------------------------------------------------------------

def render_template_version(version: TemplateVersion, context: Mapping[str, Any], *,
                            tracking: Tracking | None = None) -> RenderedEmail:
    """One message from a stored version: email through ``compose_email``; other channels as text."""
    renderer = _renderer()
    label = f"{version.name}@{version.version}"
    if version.channel == "email":
        return compose_email(version.subject, version.body, layout=version.layout,  # type: ignore[arg-type]
                             context=context, renderer=renderer, tracking=tracking, text_body=version.text_body,
                             name=label)
    values = PlainContext(context) if isinstance(context, PlainContext) else dict(context)
    if tracking is not None:
        values.update(unsubscribe_url=tracking.unsubscribe_url(), preferences_url=tracking.preferences_url())
    subject = " ".join(renderer.render(version.subject, values, name=f"{label}:subject").split())
    text = renderer.render(version.body, values, name=label)
    return RenderedEmail(subject, None, rewrite_links(text, tracking, is_html=False) if tracking else text)


def _placeholders(context: dict[str, Any]) -> dict[str, Any]:
    return {**context, "unsubscribe_url": f"{PREVIEW_BASE}/unsubscribe",
            "preferences_url": f"{PREVIEW_BASE}/preferences"}


def preview_template(ctx: ServiceContext, name: str, contact_ref: str, version: int | None = None, *,
                     segments: Sequence[str] = ()) -> RenderedPreview:
    """The template as this contact would get it (C3–C5), untracked, with the variables they lack."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        found = uow.content.template(name, version)
        if found is None:
            raise ContentNotFound(f"no template {name!r}" + (f" version {version}" if version else ""))
        contact_id = resolve_contact_id(uow, contact_ref)
        state = uow.contacts.load([contact_id])[contact_id]
        events = uow.events.recent(contact_id, 500)
        profile = profile_document(ContactProfile(state, uow.contacts.identities_of(contact_id),
                                                  uow.events.count_for(contact_id), events))
    context = _placeholders(contact_context(profile, profile["recent_events"], now, segments))
    renderer = _renderer()
    undefined: list[str] = []
    for part, source in (("subject", found.subject), ("body", found.body), ("text", found.text_body)):
        if source is not None:
            report = renderer.render_report(source, context, name=f"{name}:{part}")
            undefined.extend(u for u in report.undefined if u not in undefined)
    rendered = render_template_version(found, context)
    return RenderedPreview(found.name, found.version, found.channel, found.status, contact_id, rendered.subject,
                           rendered.html, rendered.text, tuple(undefined), found.findings)


def link_check(ctx: ServiceContext, name: str, allowed_domains: Collection[str],
               version: int | None = None) -> list[LinkProblem]:
    """Problems with the template's links (J10): literal links in every branch, and links as rendered."""
    found = get_template(ctx, name, version)
    rendered = render_template_version(found, _placeholders(contact_context({}, [], ctx.clock.now())))
    sources = [s for s in (found.subject, found.body, found.text_body) if s]
    literal = "\n".join(_without_liquid(s) for s in sources)
    problems: list[LinkProblem] = []
    for content in (literal, rendered.html or "", rendered.text):
        for problem in check_links(content, allowed_domains=allowed_domains, base_url=PREVIEW_BASE):
            if problem not in problems:
                problems.append(problem)
    return problems


_LIQUID = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_LIQUID_URL = re.compile(r"""(?:href|src)\s*=\s*(["'])[^"']*(?:\{\{|\{%)[^"']*\1""", re.IGNORECASE)


def _without_liquid(source: str) -> str:
    """The template's literal text: attributes built from variables are left to the rendered check."""
    return _LIQUID.sub(" ", _LIQUID_URL.sub(" ", source))


# --- assets (素材库) ---------------------------------------------------------------------------------

def save_asset(ctx: ServiceContext, name: str, data: bytes, *, content_type: str | None = None,
               metadata: Mapping[str, JSONValue] | None = None, by: Actor | str = "system") -> AssetRecord:
    """A new version of an image or file; the same bytes as the newest version add nothing."""
    saver = Actor.of(by).label
    name = name.strip()
    if not name or len(name) > 200:
        raise ContentError("name: 1-200 characters")
    if len(data) > MAX_ASSET_BYTES:
        raise AssetTooLarge(f"{name}: {len(data):,} bytes is over the {MAX_ASSET_BYTES // (1024 * 1024)} MB "
                           "limit for one asset; compress it or host it on a CDN and link it")
    if not data:
        raise ContentError(f"{name}: the file is empty")
    kind_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    digest = hashlib.sha256(data).hexdigest()
    now = ctx.clock.now()

    def work(uow: UnitOfWork) -> AssetRecord:
        latest = uow.content.asset(name)
        if latest is not None and latest.sha256 == digest:
            return latest
        record = AssetRecord(ctx.ids.new(now), name, (latest.version + 1) if latest else 1,
                             "image" if kind_type.startswith("image/") else "file", kind_type, len(data), digest,
                             now, saver, dict(metadata or {}))
        uow.content.add_asset(record, data)
        uow.audit.record(saver, "asset.save", f"{name}@{record.version}",
                         {"size": len(data), "sha256": digest, "content_type": kind_type}, now)
        return record

    return in_transaction(ctx, work, retries=2)


def get_asset(ctx: ServiceContext, name: str, version: int | None = None) -> tuple[AssetRecord, bytes]:
    with ctx.reader() as uow:
        record = uow.content.asset(name, version)
        data = None if record is None else uow.content.asset_data(record.id)
    if record is None or data is None:
        raise ContentNotFound(f"no asset {name!r}" + (f" version {version}" if version else ""))
    return record, data


def list_assets(ctx: ServiceContext) -> list[AssetRecord]:
    with ctx.reader() as uow:
        return uow.content.assets()
