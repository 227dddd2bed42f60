"""The island's strings for the dry run's reacting contact, the real contact's copied facts, each branch case met or
not met, and the impact preview before publishing; translated from the console catalogs like ``builder.LABELS``."""

from __future__ import annotations

from touchflow.console.i18n import N_

__all__ = ["DRY_LABELS"]

DRY_LABELS = {
    "dry.reacts": N_("What the contact does"),
    "dry.reacts_note": N_("Per message or per wait: without a choice the contact never opens, clicks or acts, so "
                          "every wait for an event times out"),
    "dry.does": N_("Does"), "dry.does.open": N_("opens"), "dry.does.click": N_("clicks"),
    "dry.does.event": N_("a named event"), "dry.event": N_("Event type"),
    "dry.react_at": N_("When (after the message is sent; for a wait with no message, after entry)"),
    "dry.react_add": N_("Add this reaction"), "dry.remove": N_("Remove"),
    "dry.consent": N_("Consent (copied from the contact)"), "dry.segments": N_("Segments (copied, fixed for the run)"),
    "dry.tags": N_("Tags (copied)"), "dry.stage": N_("Lifecycle stage (copied)"), "dry.none": N_("none"),
    "dry.consent.granted": N_("granted"), "dry.consent.denied": N_("denied"),
    "dry.met": N_("met"), "dry.unmet": N_("not met"), "dry.actual": N_("the contact has"),
    "impact.title": N_("Impact of publishing"), "impact.go": N_("Show the impact of publishing this draft"),
    "impact.running": N_("contacts in the journey"), "impact.move": N_("move:"), "impact.stay": N_("stay:"),
    "impact.at_changed": N_("at nodes the draft changes or removes:"),
    "impact.rule": N_("Contacts already in the journey finish on the version they entered with: publishing moves "
                      "none of them. Only new entrants take the draft's path."),
    "impact.nobody": N_("Nobody is in the journey now"),
    "impact.continues": N_("They continue on their version by:"),
    "impact.unchanged": N_("Unchanged in the draft"), "impact.changed": N_("Changed in the draft"),
    "impact.removed": N_("Removed in the draft"), "impact.new_entrants": N_("new entrants:"),
    "impact.never_reach": N_("never reach this node"),
    "impact.draft_changes": N_("What new entrants meet differently:"),
}
