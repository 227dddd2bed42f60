"""The island's strings for the builder's live numbers, the contacts waiting at a node, the clipboard (copy / paste
of sub-graphs), sticky notes, the send node's pickers, the timing fields and the branch condition builder, translated
from the console catalogs like ``builder.LABELS``."""

from __future__ import annotations

from touchflow.console.i18n import N_
from touchflow.console.views.segment_form import ATTR_OPS, KINDS

__all__ = ["LIVE_LABELS"]

LIVE_LABELS = {
    "live.title": N_("Live numbers"), "live.from": N_("From (local day)"), "live.to": N_("To (local day)"),
    "live.show": N_("Show live numbers"), "live.shown": N_("Live numbers shown for"),
    "live.note": N_("Entries, conversions and messages as the measurement reports count them; waiting is now"),
    "live.entered": N_("entered"), "live.waiting": N_("waiting"), "live.exited": N_("exited"),
    "live.converted": N_("converted"), "live.msg.sent": N_("sent"), "live.msg.delivered": N_("delivered"),
    "live.msg.opened_unique": N_("opened"), "live.msg.clicked_unique": N_("clicked"),
    "live.msg.bounced": N_("bounced"), "live.msg.skipped": N_("skipped"),
    "live.no_contacts": N_("Listing contacts needs the permission to read contacts"),
    "live.waiting_at": N_("Contacts at"), "live.reason": N_("Reason (kept in the audit log)"),
    "live.nobody": N_("Nobody is at this node"), "live.contact": N_("Contact"), "live.status": N_("Status"),
    "live.actions": N_("Actions"), "live.unnamed": N_("(no name or address)"),
    "live.status.waiting": N_("waiting"), "live.status.active": N_("due now"), "live.status.paused": N_("paused"),
    "live.status.failed": N_("failed"),
    "live.action.pause": N_("Pause"), "live.action.resume": N_("Resume"),
    "live.action.remove": N_("Remove from journey"), "live.action.retry": N_("Retry"),
    "live.done.pause": N_("Paused"), "live.done.resume": N_("Resumed"), "live.done.remove": N_("Removed"),
    "live.done.retry": N_("Retried"),
    "clip.title": N_("Selection and clipboard"), "clip.selected": N_("selected (Shift+click or Shift+drag)"),
    "clip.copy": N_("Copy as YAML"), "clip.paste": N_("Paste YAML…"), "clip.fragment": N_("Copied nodes (YAML)"),
    "clip.paste_go": N_("Paste onto the canvas"), "clip.close": N_("Close"), "clip.copied": N_("Copied"),
    "clip.nodes": N_("nodes"), "clip.notes": N_("notes"), "clip.pasted": N_("Pasted"),
    "note.label": N_("Sticky note"), "note.new": N_("A note"), "note.add": N_("Add a sticky note"),
    "note.added": N_("Note added"), "note.changed": N_("Note changed"),
    "send.title": N_("Channel and template"), "send.channel": N_("Channel"),
    "send.fallback": N_("Fallback chain (tried in order)"), "send.fallback_add": N_("Add a fallback channel"),
    "send.up": N_("Move up"), "send.down": N_("Move down"), "send.remove": N_("Remove"),
    "send.template": N_("Template"), "send.compliance": N_("Compliance review"),
    "send.findings": N_("findings"), "send.not_in_library": N_("not in the template library"),
    "send.no_library": N_("Choosing a template needs the permission to read content"),
    "send.status.draft": N_("draft"), "send.status.pending_review": N_("waiting for review"),
    "send.status.approved": N_("approved"), "send.status.rejected": N_("rejected"),
    "time.title": N_("Timing"), "time.duration": N_("Wait for"), "time.timeout": N_("Give up after"),
    "time.amount": N_("Amount"), "time.unit": N_("Unit"), "time.unit.d": N_("days"), "time.unit.h": N_("hours"),
    "time.unit.m": N_("minutes"), "time.as_written": N_("edit it as text below"),
    "time.until": N_("Until the time of day"), "time.weekdays": N_("Only on"),
    "time.contact_zone": N_("Times of day and weekdays are in each contact's own time zone (their timezone "
                            "attribute; Asia/Shanghai when unknown)"),
    "time.day.0": N_("Mon"), "time.day.1": N_("Tue"), "time.day.2": N_("Wed"), "time.day.3": N_("Thu"),
    "time.day.4": N_("Fri"), "time.day.5": N_("Sat"), "time.day.6": N_("Sun"),
    "cond.title": N_("Branch conditions"), "cond.case": N_("Case"), "cond.now": N_("Now"),
    "cond.join": N_("Match"), "cond.all": N_("all of these"), "cond.any": N_("any of these"),
    "cond.field": N_("Field, tag, stage, event or segment"), "cond.op": N_("Operator"), "cond.value": N_("Value"),
    "cond.within": N_("Within"), "cond.add_row": N_("Add a condition"), "cond.add_case": N_("Add a case"),
    # the segment page's condition builder's own words
    **{f"cond.kind.{k}": v for k, v in KINDS.items()}, **{f"cond.op.{k}": v for k, v in ATTR_OPS.items()},
}
