"""A claim on PostgreSQL tries the contact's advisory lock on the rows it picked, never on the whole table."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, create_engine, func, select, text

from touchflow.store.claims import locked_claims

rows = Table("claim_lock_probe", MetaData(), Column("id", String, primary_key=True), Column("contact_id", String),
             Column("due", String))


def test_a_claim_of_five_rows_holds_five_contact_locks_whatever_the_plan(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as c:
            rows.drop(c, checkfirst=True)
            rows.create(c)
            c.execute(rows.insert(), [{"id": f"r{n:04d}", "contact_id": f"c{n}", "due": f"{n:04d}"}
                                      for n in range(2000)])
            c.execute(text("ANALYZE claim_lock_probe"))
        with engine.begin() as c:
            # the plan that pushed a filter of the outer query into a scan of the whole table: a hash join
            c.execute(text("SET LOCAL enable_nestloop = off"))
            c.execute(text("SET LOCAL enable_mergejoin = off"))
            picked = (select(rows.c.id, rows.c.contact_id).order_by(rows.c.due).limit(5)
                      .with_for_update(skip_locked=True, of=rows))
            locked = locked_claims(picked)
            claimed = c.execute(select(rows.c.id).join(locked, locked.c.id == rows.c.id)
                                .order_by(rows.c.id)).scalars().all()
            held = c.execute(select(func.count()).select_from(text("pg_locks")).where(
                text("locktype = 'advisory' AND pid = pg_backend_pid()"))).scalar_one()
        assert claimed == ["r0000", "r0001", "r0002", "r0003", "r0004"]
        assert held == 5
    finally:
        with engine.begin() as c:
            rows.drop(c, checkfirst=True)
        engine.dispose()
