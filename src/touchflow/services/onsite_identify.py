"""Who is this website visitor? The public snippet may only *claim*; the site's backend may *vouch*.

A site key sits in page source, so anyone holds it. With it a caller may create and enrich anonymous
visitors, nothing more: ``{"email": …}`` without a token becomes an ``identify_claimed`` event on the
anonymous visitor (a signal, never a link: no identity is attached, no contact merges, no pop-up of the
person follows). Linking needs an identify token (``touchflow.onsite_token``) signed with the site's identify
secret for exactly this visitor; then one ``visitor_identified`` event carries both identities, resolution
merges the anonymous visitor into the person, and an audit row names the site that vouched.

A visitor id already linked to one person is never linked to another (a shared computer: two people log
in on one browser): that would merge two customers through a cookie. The page calls ``touchflow.reset()``
at logout to start a fresh visitor id.
"""

from __future__ import annotations

from touchflow.domain.contacts import ContactRecord
from touchflow.domain.errors import FieldError
from touchflow.domain.events import EventInput, derive_event_id
from touchflow.domain.identities import Identity, make_identity, parse_identifier
from touchflow.domain.journeys.ports import InboxEvent
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.onsite_token import IdentifyTokenError, read_identify_token
from touchflow.services.context import ServiceContext, in_transaction
from touchflow.services.ingest import RawItem, ensure_source, record_events
from touchflow.services.privacy_index import erased_records
from touchflow.services.resolve import resolve_records
from touchflow.services.segments import mark_contacts_changed
from touchflow.services.sites import Site

__all__ = ["IdentifyTokenError", "VisitorLinkedElsewhere", "claim_identity", "link_visitor"]

SOURCE = "website"


class VisitorLinkedElsewhere(Exception):
    """The visitor id already belongs to another person."""


def _known(identifier: str, field: str) -> Identity:
    try:
        known = parse_identifier(identifier)
    except FieldError as exc:
        raise FieldError(field, exc.reason) from None
    if known is None or known.kind not in ("email", "phone"):
        raise FieldError(field, "must be email:… or phone:…")
    return known


def claim_identity(ctx: ServiceContext, site: Site, anon_id: str, identifier: str) -> None:
    """Record that the anonymous visitor *says* it is ``identifier`` (``email:…``): an event on the visitor,
    nothing else. The answer is the same whether or not that person exists (no oracle)."""
    anon = make_identity("anon", anon_id)
    known = _known(identifier, "identifier")
    report = record_events(ctx, SOURCE, [RawItem({"type": "identify_claimed", "anon": anon.value,
                                                  "properties": {"claimed": str(known), "site": site.name}})])
    if report.rejected:
        raise FieldError(report.rejected[0].field or "identifier", report.rejected[0].reason)


def link_visitor(ctx: ServiceContext, site: Site, anon_id: str, token: str, identify_secret: str) -> bool:
    """Link the anonymous visitor to the person the site's token vouches for; True when this changed anything
    (a replayed token is a no-op). Raises ``IdentifyTokenError`` (forged, expired, another visitor's token),
    ``VisitorLinkedElsewhere``."""
    anon = make_identity("anon", anon_id)
    now = ctx.clock.now()
    claimed = read_identify_token(identify_secret, token, str(anon), int(now.timestamp()))
    try:
        known = _known(claimed, "token.sub")
    except FieldError as exc:
        raise IdentifyTokenError("identifier", f"token claim sub: {exc.reason}") from None
    event = EventInput(derive_event_id(SOURCE, {"type": "visitor_identified", "who": [str(anon), str(known)]}),
                       "visitor_identified", (anon, known), now, SOURCE, {"site": site.name, "verified": True})

    def work(uow: UnitOfWork) -> bool:
        source = ensure_source(uow, SOURCE)
        found = uow.contacts.lookup([anon, known])
        current = found.get(anon)
        if current is not None and current != found.get(known) and any(
                link.identity.kind != "anon" for link in uow.contacts.identities_of(current)):
            raise VisitorLinkedElsewhere("this visitor id is already linked to another person; call "
                                         "touchflow.reset() when a person logs out, so the next one gets a "
                                         "fresh visitor id")
        if uow.events.existing_ids([event.id]):
            return False
        record = ContactRecord((anon, known), source.name, source.priority, now)
        if erased_records(ctx, uow, [record]):  # an erased person is not linked back (and the site is not told)
            return False
        resolution = resolve_records(uow, [record], uow.tag_rules.all(), ctx.ids, source.name, now)
        contact_id = resolution.contact_ids[0]
        uow.events.insert([(event, contact_id)], now)
        reshaped = {m.winner_id for m in resolution.merges} | ({contact_id} if resolution.created else set())
        mark_contacts_changed(uow, reshaped, now, {(contact_id, event.type)})
        uow.journeys.add_inbox([InboxEvent(event.id, contact_id, event.type, event.occurred_at, now)])
        uow.audit.record(site.actor, "onsite.link", str(anon),
                         {"site": site.name, "kind": known.kind, "contact_id": contact_id,
                          "merged": resolution.merged}, now)
        return True

    return in_transaction(ctx, work)
