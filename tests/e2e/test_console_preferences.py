"""Preferences (language, time zone, theme) per person: saved with an audit row, shown everywhere after, refused
with the field named when wrong; times are shown in the person's zone, labelled."""

from __future__ import annotations

from sqlalchemy import select

from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.governance.preferences import Preferences
from touchflow.services.preferences import preferences_of
from touchflow.store.tables import audit_log, user_preferences, users


def test_preferences_are_saved_audited_and_applied(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        with app.engine.connect() as c:
            user_id = c.execute(select(users.c.id)).scalar_one()
        assert preferences_of(app.services, user_id) == Preferences("zh-CN", "Asia/Shanghai", "light")
        page = client.get("/preferences")
        csrf = csrf_of(page.text)
        for field, value in (("time_zone", "Mars/Olympus"), ("locale", "fr"), ("theme", "neon"),
                             ("time_zone", "../etc/passwd")):
            bad = client.post("/preferences", data={"csrf_token": csrf, field: value})
            assert bad.status_code == 422 and field in bad.text, (field, bad.status_code)
        saved = client.post("/preferences", data={"csrf_token": csrf, "locale": "en", "time_zone": "Europe/Berlin",
                                                  "theme": "dark"})
        assert saved.status_code == 303 and saved.headers["location"] == "/preferences?saved=1"
        after = client.get("/preferences?saved=1")
        assert 'lang="en"' in after.text and 'data-bs-theme="dark"' in after.text and "Saved." in after.text
        switched = client.post("/preferences", data={"csrf_token": csrf, "locale": "zh-CN", "back": "/dashboard"})
        assert switched.headers["location"] == "/dashboard"
        away = client.post("/preferences", data={"csrf_token": csrf, "theme": "light", "back": "//evil.example"})
        assert away.headers["location"] == "/preferences?saved=1"
        assert preferences_of(app.services, user_id) == Preferences("zh-CN", "Europe/Berlin", "light")
    with app.engine.connect() as c:
        assert c.execute(select(user_preferences.c.time_zone)).scalar_one() == "Europe/Berlin"
        rows = c.execute(select(audit_log.c.actor, audit_log.c.details)
                         .where(audit_log.c.action == "console.preferences_saved")).all()
    assert len(rows) == 3 and all(r.actor.startswith(f"user:{user_id}") for r in rows)
    assert rows[0].details["changed"] == {"locale": "en", "time_zone": "Europe/Berlin", "theme": "dark"}


def test_times_are_shown_in_the_readers_zone_labelled(app: Application, clock: VirtualClock) -> None:
    from touchflow.console.i18n import format_number, format_when

    moment = clock.now()  # 2026-03-02 01:00 UTC
    assert format_when(moment, "zh-CN", "Asia/Shanghai") == "2026年3月2日 09:00:00 (Asia/Shanghai)"
    assert format_when(moment, "en", "Europe/Berlin") == "Mar 2, 2026, 2:00:00\u202fAM (Europe/Berlin)"
    assert format_number(1234567, "zh-CN") == "1,234,567" and format_number(0.5, "en", 1) == "0.5"
