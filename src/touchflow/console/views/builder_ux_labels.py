"""The island's strings for keyboard multi-select, the condition builder of goals and exit rules and the template
preview for a contact, translated from the console catalogs like ``builder.LABELS``."""

from __future__ import annotations

from touchflow.console.i18n import N_

__all__ = ["UX_LABELS"]

UX_LABELS = {
    "pick.added": N_("Added to the selection:"), "pick.removed": N_("Taken out of the selection:"),
    "pick.count": N_("selected"), "pick.cleared": N_("Selection cleared"),
    "pick.keys": N_("Keyboard: Tab to a node, Shift+Enter adds it to the selection or takes it out, Escape clears "
                    "the selection; Ctrl+C copies it, Delete removes it"),
    "rules.title": N_("Goal and exit rules"), "rules.goal": N_("Goal: the conversion event"),
    "rules.goal_event": N_("Event type"), "rules.prop_name": N_("Event property"),
    "rules.prop_value": N_("Value (several, separated by commas: any of them)"),
    "rules.prop_add": N_("Add a property"), "rules.goal_remove": N_("Remove the goal"), "rules.none": N_("none"),
    "rules.exits": N_("Journey-wide exit rules: a run ends as soon as one is met"),
    "rules.exit_new": N_("A new exit rule"), "rules.exit_add": N_("Add the exit rule"),
    "rules.add_named": N_("Add the exit rule:"), "rules.named.unsubscribed": N_("unsubscribed"),
    "rules.named.complained": N_("complained (marked as spam)"),
    "tpl.contact": N_("Preview for a contact (email:…, phone:… or id)"), "tpl.render": N_("Render for this contact"),
    "tpl.note": N_("Rendered for this contact, untracked: nothing was sent"),
    "tpl.undefined": N_("Variables this contact lacks (shown empty)"),
    "tpl.denied": N_("Rendering for a contact needs the permissions to read content and contacts"),
}
