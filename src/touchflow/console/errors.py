"""Service errors as a person reads them, in their language (issue 15: every string through the catalogs).

Services raise errors in English that name the field and the reason (``FieldError``, ``PathError``, the
``…NotFound`` lookups, ``…Refused``/``…Busy`` conflicts). ``problem_of`` sorts one into a kind — validation, not
found, conflict, permission — and, where the reason is one of the common ones, a reason code; the template
``_problem.html`` then shows a catalog message naming the field (its catalog label) and the reason (its catalog
text). A reason the catalog does not know is shown after the translated headline as the service wrote it, so
nothing is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from touchflow.console.i18n import N_

__all__ = ["FIELD_LABELS", "HEADLINES", "REASONS", "Problem", "problem_of"]

Kind = Literal["validation", "not_found", "conflict", "permission"]

HEADLINES: dict[str, str] = {
    "validation": N_("Check the field “%(field)s”: %(reason)s"),
    "not_found": N_("Not found (%(field)s): %(reason)s"),
    "conflict": N_("Cannot be done now (%(field)s): %(reason)s"),
    "permission": N_("Not allowed (%(field)s): %(reason)s"),
}
FIELD_LABELS: dict[str, str] = {
    "action": N_("action"), "body": N_("form"), "contact": N_("contact"), "connector": N_("connector"),
    "email": N_("email"), "file": N_("file"), "journey": N_("journey"), "key": N_("key"), "name": N_("name"),
    "password": N_("password"), "reason": N_("reason"), "role": N_("role"), "segment": N_("segment"),
    "source": N_("data source"), "status": N_("status"), "user": N_("user"), "permission": N_("permission"),
    "request": N_("request"), "kind": N_("kind"), "task": N_("task"),
    "outcome": N_("outcome"), "offset": N_("page"), "": N_("request"), "segment.condition": N_("condition"),
    "subject": N_("subject"), "comment": N_("comment"), "date": N_("day"), "from": N_("from"), "to": N_("to"),
}
REASONS: dict[str, str] = {
    "required": N_("it is required"),
    "too_long": N_("it is too long"),
    "choice": N_("choose one of the offered values"),
    "not_found": N_("it does not exist (it may have been removed)"),
    "archived": N_("the journey is archived: it cannot change any more"),
    "nothing_to_do": N_("nothing is in a state this action applies to"),
    "yourself": N_("not on your own account: ask another administrator"),
    "paused": N_("it is paused: resume it first"),
    "permission": N_("your role does not allow this"),
    "busy": N_("another run is in progress: try again when it ends"),
    "too_large": N_("it is over the size limit"),
    "empty": N_("the file is empty"),
    "not_archived": N_("it is not archived"),
    "chosen_twice": N_("that field is already chosen for another column: each field takes one column"),
    "exists": N_("it exists already: choose another"),
    "no_condition": N_("add at least one condition"),
    "say_what": N_("a rejection must say what to change"),
    "day_format": N_("write a day as YYYY-MM-DD"),
    "before_from": N_("it is before the first day"),
}
# (pattern over the service's reason, reason code), first match wins
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^no \w+ |not found|no such|does not exist", re.I), "not_found"),
    (re.compile(r"^(is )?required|must not be empty|choose a file|say why", re.I), "required"),
    (re.compile(r"is archived", re.I), "archived"),
    (re.compile(r"has no run in .* that can be", re.I), "nothing_to_do"),
    (re.compile(r"your own|yourself|oneself", re.I), "yourself"),
    (re.compile(r"is paused", re.I), "paused"),
    (re.compile(r"^(must be |one of |status must be |action must be )", re.I), "choice"),
    (re.compile(r"too long|at most \d+ characters", re.I), "too_long"),
    (re.compile(r"\bover \d+ ?(KiB|MiB|MB|KB)\b", re.I), "too_large"),
    (re.compile(r"permission", re.I), "permission"),
    (re.compile(r"\bfile is empty\b", re.I), "empty"),
    (re.compile(r"is not archived", re.I), "not_archived"),
    (re.compile(r"is already chosen for column", re.I), "chosen_twice"),
    (re.compile(r"exists already|already exists", re.I), "exists"),
    (re.compile(r"add at least one condition", re.I), "no_condition"),
    (re.compile(r"needs a subject", re.I), "required"),
    (re.compile(r"must say what to change", re.I), "say_what"),
    (re.compile(r"^a day written YYYY-MM-DD$"), "day_format"),
    (re.compile(r"^is before from$"), "before_from"),
    (re.compile(r"^daily, weekly or monthly$"), "choice"),
)


@dataclass(frozen=True)
class Problem:
    kind: Kind
    field: str  # the field the service named ("" when it named none)
    reason: str  # the service's own words (English)
    code: str = ""  # a key of REASONS when the reason is a common one

    @property
    def headline(self) -> str:
        return HEADLINES[self.kind]

    @property
    def field_label(self) -> str:
        """A catalog id when the field is a common one, else the field's own name."""
        return FIELD_LABELS.get(self.field, self.field)

    @property
    def field_known(self) -> bool:
        return self.field in FIELD_LABELS

    @property
    def reason_id(self) -> str | None:
        return REASONS.get(self.code)


def _code(reason: str) -> str:
    return next((code for pattern, code in _PATTERNS if pattern.search(reason)), "")


def _split(text: str) -> tuple[str, str]:
    """``"field: reason"`` → (field, reason) when the head is a plain field path."""
    head, sep, tail = text.partition(": ")
    if sep and re.fullmatch(r"[A-Za-z_][\w.\[\]]{0,60}", head):
        return head, tail
    return "", text


def problem_of(exc: BaseException) -> Problem:
    """The kind, field and reason of a service error, for ``_problem.html``."""
    field = str(getattr(exc, "field", "") or getattr(exc, "path", "") or "")
    reason = str(getattr(exc, "reason", "") or getattr(exc, "message", "") or "")
    if not field and not reason:
        field, reason = _split(str(exc))
    elif not reason:
        reason = str(exc)
    code = _code(reason)
    name = type(exc).__name__
    kind: Kind
    if isinstance(exc, PermissionError) or name in ("Denied", "NotAllowed") or code == "permission":
        kind = "permission"
    elif isinstance(exc, LookupError) or code == "not_found":
        kind, code = "not_found", "not_found"
    elif name.endswith(("Busy", "Conflict", "Refused")) or code in ("archived", "nothing_to_do", "paused",
                                                                      "yourself", "not_archived", "exists"):
        kind = "conflict"
    else:
        kind = "validation"
    if not field:
        field = {"ContactNotFound": "contact", "ConnectorNotFound": "connector", "UserNotFound": "user",
                 "JourneyError": "journey", "TaskNotFound": "task", "SegmentNotFound": "segment"}.get(name, "")
    return Problem(kind, field, reason, code)
