"""The labels of the builder's live numbers and of the contacts waiting at a node (the island's strings, translated
from the console catalogs like ``builder.LABELS``)."""

from __future__ import annotations

from touchflow.console.i18n import N_

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
}
