"""Stored duplicate suggestions on SQL (ADR 0049): blocking keys, the pairs they produce, the queue of changed
contacts. Names are read (and decrypted) only for the contacts being compared, never for the whole table."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from hashlib import sha256

from sqlalchemy import Connection, and_, delete, func, insert, or_, select

from touchflow.domain.duplicates import DuplicateCandidate, DuplicateSuggestion
from touchflow.security.pii import PiiCodec
from touchflow.store.pii_fields import open_name
from touchflow.store.tables import contacts, duplicate_dirty, duplicate_keys, duplicate_pairs

__all__ = ["SqlDuplicateIndex"]

_CHUNK = 500


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


class SqlDuplicateIndex:
    def __init__(self, connection: Connection, pii: PiiCodec | None) -> None:
        self._c = connection
        self._pii = pii

    def _key(self, name: str) -> str:
        """The name itself while names are stored in the clear; its blind index once they are encrypted."""
        if self._pii is not None:
            return self._pii.index("contact_name", name)
        return name if len(name) <= 64 else sha256(name.encode()).hexdigest()

    def key_mode(self) -> str:
        """How names are keyed now: "blind" (the data keys' index) or "plain" (no data keys yet)."""
        return "blind" if self._pii is not None else "plain"

    def requeue_all(self) -> int:
        """Queue every keyed contact again (the keys were made another way)."""
        k, d = duplicate_keys.c, duplicate_dirty.c
        queued = select(k.contact_id).where(k.contact_id.not_in(select(d.contact_id)))
        return int(self._c.execute(insert(duplicate_dirty).from_select(["contact_id"], queued)).rowcount or 0)

    def pending(self, limit: int) -> list[str]:
        d = duplicate_dirty.c
        return [str(r) for r in self._c.execute(select(d.contact_id).order_by(d.contact_id).limit(limit)).scalars()]

    def pending_count(self, at_most: int) -> int:
        queued = select(duplicate_dirty.c.contact_id).limit(at_most).subquery()
        return int(self._c.execute(select(func.count()).select_from(queued)).scalar_one())

    def _load(self, ids: Sequence[str]) -> list[DuplicateCandidate]:
        c = contacts.c
        found: list[DuplicateCandidate] = []
        for chunk in _chunks(sorted(set(ids))):
            query = (select(c.id, c.name, c.name_ct, c.company, c.city)
                     .where(c.id.in_(list(chunk)), c.merged_into.is_(None), c.city.is_not(None),
                            or_(c.name.is_not(None), c.name_ct.is_not(None))))
            for r in self._c.execute(query):
                name = open_name(self._pii, r.id, r.name, r.name_ct)
                if name and r.city:
                    found.append(DuplicateCandidate(r.id, name, r.company or "", r.city))
        return found

    def rekey(self, ids: Collection[str]) -> list[DuplicateCandidate]:
        p, k = duplicate_pairs.c, duplicate_keys.c
        ordered = sorted(set(ids))
        for chunk in _chunks(ordered):
            self._c.execute(delete(duplicate_pairs).where(or_(p.first.in_(list(chunk)), p.second.in_(list(chunk)))))
            self._c.execute(delete(duplicate_keys).where(k.contact_id.in_(list(chunk))))
        found = self._load(ordered)
        if found:
            self._c.execute(insert(duplicate_keys), [
                {"contact_id": f.contact_id, "city": f.city, "name_key": self._key(f.name), "name_len": len(f.name),
                 "company": f.company} for f in found])
        return found

    def _with_names(self, rows: Sequence[tuple[str, str, str]], known: dict[str, str]) -> list[DuplicateCandidate]:
        """(id, city, company) rows as candidates, names from ``known`` (same key) or read from the contacts."""
        missing = [cid for cid, _city, _company in rows if cid not in known]
        names = dict(known)
        c = contacts.c
        for chunk in _chunks(missing):
            for r in self._c.execute(select(c.id, c.name, c.name_ct).where(c.id.in_(list(chunk)))):
                names[r.id] = open_name(self._pii, r.id, r.name, r.name_ct) or ""
        return [DuplicateCandidate(cid, names[cid], company, city) for cid, city, company in rows if names.get(cid)]

    def same_name(self, found: Sequence[DuplicateCandidate]) -> list[DuplicateCandidate]:
        k = duplicate_keys.c
        wanted = {(f.city, self._key(f.name)): f.name for f in found}
        rows: list[tuple[str, str, str]] = []
        names: dict[str, str] = {}
        by_city: dict[str, list[str]] = {}
        for city, key in sorted(wanted):
            by_city.setdefault(city, []).append(key)
        for city, keys in by_city.items():  # city = ? AND name_key IN (…): a search of ix_duplicate_keys_city_name_key
            for chunk in _chunks(keys):
                query = select(k.contact_id, k.name_key, k.company).where(k.city == city, k.name_key.in_(list(chunk)))
                for r in self._c.execute(query):
                    rows.append((r.contact_id, city, r.company))
                    names[r.contact_id] = wanted[(city, r.name_key)]
        return self._with_names(rows, names)

    def other_names(self, candidate: DuplicateCandidate, lengths: Sequence[int]) -> list[DuplicateCandidate]:
        k = duplicate_keys.c
        query = select(k.contact_id, k.city, k.company).where(and_(
            k.city == candidate.city, k.name_len.in_(list(lengths)), k.name_key != self._key(candidate.name)))
        return self._with_names([(r.contact_id, r.city, r.company) for r in self._c.execute(query)], {})

    def add_pairs(self, pairs: Sequence[tuple[DuplicateSuggestion, float, float]]) -> None:
        if pairs:
            self._c.execute(insert(duplicate_pairs), [
                {"first": s.first, "second": s.second, "score": s.score, "rank": round(1000 - s.score * 10),
                 "name_score": name, "company_score": company, "reason": s.reason} for s, name, company in pairs])

    def done(self, ids: Collection[str]) -> None:
        d = duplicate_dirty.c
        for chunk in _chunks(sorted(set(ids))):
            self._c.execute(delete(duplicate_dirty).where(d.contact_id.in_(list(chunk))))

    def best(self, limit: int, threshold: float) -> list[DuplicateSuggestion]:
        p = duplicate_pairs.c
        a, b = contacts.alias("a"), contacts.alias("b")
        query = (select(p.first, p.second, p.score, p.reason)
                 .select_from(duplicate_pairs.join(a, a.c.id == p.first).join(b, b.c.id == p.second))
                 .where(a.c.merged_into.is_(None), b.c.merged_into.is_(None), p.name_score >= threshold,
                        p.company_score >= threshold)
                 .order_by(p.rank, p.first, p.second).limit(limit))
        return [DuplicateSuggestion(r.first, r.second, float(r.score), r.reason) for r in self._c.execute(query)]
