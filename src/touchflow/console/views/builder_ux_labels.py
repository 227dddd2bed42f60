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
}
