"""Console preferences on SQL (``PreferenceRepository``): one row per person who saved any."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from touchflow.domain.governance.preferences import Preferences
from touchflow.store.tables import user_preferences

__all__ = ["SqlPreferenceRepository"]


class SqlPreferenceRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def preferences(self, user_id: str) -> Preferences | None:
        row = self._c.execute(select(user_preferences).where(user_preferences.c.user_id == user_id)).first()
        return None if row is None else Preferences(row.locale, row.time_zone, row.theme)

    def save_preferences(self, user_id: str, preferences: Preferences, now: datetime) -> None:
        values = {"locale": preferences.locale, "time_zone": preferences.time_zone, "theme": preferences.theme,
                  "updated_at": now}
        changed = self._c.execute(update(user_preferences).where(user_preferences.c.user_id == user_id)
                                  .values(**values)).rowcount
        if not changed:
            self._c.execute(insert(user_preferences).values(user_id=user_id, **values))
