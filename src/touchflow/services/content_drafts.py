"""Checking copy that is not saved yet (the console's editor, issue 15): the Advertising-Law findings of the very
scan ``save_template`` runs, cut into pieces an editor can highlight, a preview for one contact, and the
difference between two saved versions.

Nothing here writes: the editor calls it on every pause in typing, and saving still goes through
``services.content.save_template``, which scans again and decides the status.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from touchflow.content.context import contact_context
from touchflow.content.templates import TemplateError
from touchflow.domain.content.ports import TemplateVersion
from touchflow.domain.guardrails.compliance import Finding, scan_text
from touchflow.services.contacts import ContactProfile, profile_document, resolve_contact_id
from touchflow.services.content import (
    MAX_BODY_CHARS,
    PREVIEW_BASE,
    ContentError,
    render_template_version,
)
from touchflow.services.context import ServiceContext

__all__ = ["DiffLine", "DraftCheck", "Piece", "check_draft", "pieces", "version_diff"]


@dataclass(frozen=True)
class Piece:
    """A run of the copy; ``finding`` is the 1-based number of the finding it belongs to (0: clean text)."""

    text: str
    finding: int = 0
    severity: str = ""


@dataclass(frozen=True)
class DraftCheck:
    findings: tuple[tuple[str, Finding], ...]  # (part, finding), numbered 1… in this order
    subject_pieces: tuple[Piece, ...]
    body_pieces: tuple[Piece, ...]
    subject: str  # rendered for the chosen contact (or a contact with no data)
    html: str | None
    text: str
    error: str | None  # the Liquid/MJML problem that stopped the preview

    @property
    def blocking(self) -> int:
        return sum(1 for _, f in self.findings if f.severity == "block")


@dataclass(frozen=True)
class DiffLine:
    kind: str  # same | added | removed
    text: str


def pieces(text: str, findings: list[Finding], first_number: int) -> tuple[Piece, ...]:
    """``text`` cut at the findings' offsets (overlaps: the earlier finding keeps the characters)."""
    out: list[Piece] = []
    at = 0
    for number, finding in enumerate(findings, start=first_number):
        start = max(finding.start, at)
        if finding.end <= start:
            continue
        if start > at:
            out.append(Piece(text[at:start]))
        out.append(Piece(text[start:finding.end], number, finding.severity))
        at = finding.end
    if at < len(text):
        out.append(Piece(text[at:]))
    return tuple(out)


def _context(ctx: ServiceContext, contact_ref: str | None) -> dict[str, Any]:
    now = ctx.clock.now()
    profile: dict[str, Any] = {}
    recent: list[Any] = []
    if contact_ref:
        with ctx.reader() as uow:
            contact_id = resolve_contact_id(uow, contact_ref)
            state = uow.contacts.load([contact_id])[contact_id]
            events = uow.events.recent(contact_id, 500)
            profile = profile_document(ContactProfile(state, uow.contacts.identities_of(contact_id),
                                                      uow.events.count_for(contact_id), events))
        recent = profile["recent_events"]
    return {**contact_context(profile, recent, now), "unsubscribe_url": f"{PREVIEW_BASE}/unsubscribe",
            "preferences_url": f"{PREVIEW_BASE}/preferences"}


def check_draft(ctx: ServiceContext, channel: str, subject: str, body: str, layout: str,
                contact_ref: str | None = None) -> DraftCheck:
    """Findings and a preview of unsaved copy. ``ContactNotFound`` for an unknown contact; a template that
    does not render is reported in ``error``, not raised (the editor is mid-word)."""
    if max(len(subject), len(body)) > MAX_BODY_CHARS:
        raise ContentError(f"body: longer than {MAX_BODY_CHARS} characters")
    subject_findings = sorted(scan_text(subject), key=lambda f: f.start)
    body_findings = sorted(scan_text(body), key=lambda f: f.start)
    numbered = tuple([("subject", f) for f in subject_findings] + [("body", f) for f in body_findings])
    context = _context(ctx, contact_ref)
    draft = TemplateVersion("draft", 0, channel, subject, body, layout if channel == "email" else "text", "draft",
                            ctx.clock.now(), "")
    shown_subject, html, text, error = "", None, "", None
    try:
        rendered = render_template_version(draft, context)
        shown_subject, html, text = rendered.subject, rendered.html, rendered.text
    except (TemplateError, ValueError) as exc:
        error = str(exc)
    return DraftCheck(numbered, pieces(subject, subject_findings, 1),
                      pieces(body, body_findings, len(subject_findings) + 1), shown_subject, html, text, error)


def version_diff(old: TemplateVersion, new: TemplateVersion) -> list[DiffLine]:
    """Line by line, subject first: what changed from ``old`` to ``new``."""
    before = [f"subject: {old.subject}", *old.body.splitlines()]
    after = [f"subject: {new.subject}", *new.body.splitlines()]
    lines: list[DiffLine] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if tag == "equal":
            lines.extend(DiffLine("same", t) for t in before[i1:i2])
            continue
        lines.extend(DiffLine("removed", t) for t in before[i1:i2])
        lines.extend(DiffLine("added", t) for t in after[j1:j2])
    return lines
