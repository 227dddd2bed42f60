"""On-site pop-ups (官网弹窗): what a visitor's browser should show, and what the visitor did with it.

The dispatcher writes a pop-up into the contact's on-site inbox when a journey sends on channel ``onsite``;
the snippet on the website asks for pending ones by the visitor's anonymous id and reports back:
``impression`` (shown: ``message_opened``), ``click`` (``message_clicked`` with the URL) and ``dismiss``
(``message_dismissed``, a custom type until the catalogue names it). Events use the dispatcher's
deterministic ids, so a page reloaded ten times still counts one impression.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from touchflow.domain.errors import FieldError
from touchflow.domain.events import EventInput, JSONValue
from touchflow.domain.identities import parse_identifier
from touchflow.domain.messaging.ports import OnsiteMessage
from touchflow.services.context import ServiceContext
from touchflow.services.tracking import lifecycle_id, record_for_contact

__all__ = [
    "POPUP_ACTIONS",
    "PopupNotFound",
    "PopupReport",
    "pending_popups",
    "report_popup",
]

PopupAction = Literal["impression", "click", "dismiss"]
POPUP_ACTIONS: tuple[PopupAction, ...] = ("impression", "click", "dismiss")
_STATUS = {"impression": "shown", "click": "clicked", "dismiss": "dismissed"}
_FINAL = frozenset({"clicked", "dismissed", "expired"})
SOURCE = "website"


class PopupNotFound(LookupError):
    pass


@dataclass(frozen=True)
class PopupReport:
    popup: OnsiteMessage  # as it is now
    changed: bool  # False when the pop-up had already reached a final state (or was shown already)


def _contact_of(ctx: ServiceContext, visitor: str) -> str | None:
    try:
        identity = parse_identifier(visitor)
    except FieldError:
        return None
    if identity is None:
        return None
    with ctx.reader() as uow:
        return uow.contacts.lookup([identity]).get(identity)


def pending_popups(ctx: ServiceContext, visitor: str, limit: int = 3) -> list[OnsiteMessage]:
    """Pop-ups waiting for ``visitor`` (``anon:<id>``, ``email:…``), oldest first; none for an unknown visitor."""
    contact_id = _contact_of(ctx, visitor)
    if contact_id is None:
        return []
    with ctx.reader() as uow:
        return uow.messages.onsite_pending(contact_id, ctx.clock.now(), max(1, min(limit, 20)))


def report_popup(ctx: ServiceContext, popup_id: str, action: str, *, visitor: str | None = None) -> PopupReport:
    """The browser showed, clicked or dismissed a pop-up. With ``visitor`` the pop-up must be that
    visitor's (the public snippet passes it, so one visitor cannot act on another's pop-ups)."""
    if action not in _STATUS:
        raise FieldError("action", f"must be one of {', '.join(POPUP_ACTIONS)}, got {action!r}")
    owner = _contact_of(ctx, visitor) if visitor is not None else None
    now = ctx.clock.now()
    with ctx.uow() as uow:
        popup = uow.messages.onsite_get(popup_id)
        if popup is None or (visitor is not None and owner != (uow.contacts.resolve_id(popup.contact_id)
                                                               or popup.contact_id)):
            raise PopupNotFound(f"no pop-up {popup_id!r} for this visitor")
        status = _STATUS[action]
        if popup.status in _FINAL or popup.status == status:
            return PopupReport(popup, False)
        uow.messages.onsite_mark(popup.id, status, now)
        message = uow.messages.get(popup.outbox_id)
        props: dict[str, JSONValue] = {"message_id": popup.outbox_id, "channel": "onsite", "popup_id": popup.id}
        if message is not None:
            props.update({k: v for k, v in (("journey_id", message.journey_id), ("node_id", message.node_id),
                                            ("template", message.template)) if v is not None})
        events = [EventInput(lifecycle_id(popup.outbox_id, "opened"), "message_opened", (), now, SOURCE, props)]
        if action == "click":
            url = popup.url or ""
            digest = hashlib.sha256(url.encode()).hexdigest()[:12]
            events.append(EventInput(lifecycle_id(popup.outbox_id, f"clicked_{digest}"), "message_clicked", (), now,
                                     SOURCE, {**props, "url": url}))
        elif action == "dismiss":
            events.append(EventInput(lifecycle_id(popup.outbox_id, "dismissed"), "message_dismissed", (), now,
                                     SOURCE, props))
        record_for_contact(uow, ctx, popup.contact_id, events, now)
        updated = uow.messages.onsite_get(popup.id)
        uow.commit()
    assert updated is not None
    return PopupReport(updated, True)

