"""What the journey e2e tests share (impact preview, live numbers, dry run and its reactions, and their canvas
tests in Chromium): the example journey and its edited versions, the templates it sends, contacts downloading its
whitepaper, one pass of the engine, and the row count of every table (a preview or a dry run writes nothing)."""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from starlette.exceptions import StarletteDeprecationWarning

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.content import save_template
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import publish_journey
from touchflow.services.metrics import refresh_rollups
from touchflow.store.tables import metadata

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

EXAMPLES = Path(__file__).parents[2] / "examples" / "journeys"
RULE_A = (EXAMPLES / "rule_a_whitepaper.yaml").read_text(encoding="utf-8")
SCENARIO = (EXAMPLES / "rule_a_whitepaper.scenario.yaml").read_text(encoding="utf-8")
# v2: the wait listens for clicks only, and longer; the customer-service task is gone
V2 = (RULE_A.replace("events: [message_opened, message_clicked]", "events: [message_clicked]")
      .replace("timeout: 3d", "timeout: 5d").replace("    next: cs_task\n", "    next: done\n")
      .replace("  cs_task:\n    kind: task\n    queue: service\n    title: 白皮书下载未打开邮件，企微跟进\n"
               "    sla: 2h\n    next: done\n", ""))
YAML = {"Content-Type": "application/yaml"}
RULE_A_TEMPLATES = (("whitepaper_digest", "email"), ("whitepaper_followup_cs", "wecom"))

# A branch on a segment and on the lifecycle stage, then an SMS and a wait for a named event (the dry run's reactions)
VIP = """key: vip_webinar
name: VIP webinar
trigger:
  event: content_download
nodes:
  pick:
    kind: branch
    cases:
      - if: {in_segment: vip}
        next: invite
      - if: {attr: lifecycle_stage, eq: customer}
        next: invite
    else: done
  invite:
    kind: send
    channel: sms
    template: webinar_sms
    next: wait_join
  wait_join:
    kind: wait_event
    events: [webinar_joined]
    timeout: 2d
    on_event: joined
    on_timeout: done
  joined:
    kind: update_contact
    add_tags: [joined]
    next: done
  done:
    kind: exit
"""


def row_counts(app: Application) -> dict[str, int]:
    """Every table of the schema, not a chosen few."""
    with app.engine.connect() as conn:
        return {t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for t in metadata.sorted_tables}


def save_templates(app: Application, *extra: tuple[str, str]) -> None:
    """The templates rule A sends (and ``extra`` (name, channel) pairs), one text for all."""
    for name, channel in (*RULE_A_TEMPLATES, *extra):
        save_template(app.services, name, channel, "白皮书精选", "{{ contact.name }}，白皮书。", "text", by="editor")


def put_definition(client: TestClient, key: str, text: str) -> None:
    """Save ``text`` as the journey's draft through the builder's API."""
    assert client.put(f"/v1/journeys/{key}/definition", content=text, headers=YAML).status_code == 200


def run_engine(app: Application) -> None:
    """One pass of the engine: due runs advance, the outbox is sent to capturing channels, runs advance again."""
    JourneyRuntime(app.services).tick()
    dispatcher = Dispatcher(app.services, batch_size=50, channels=ChannelRegistry.capture_all(("email", "wecom")))
    try:
        dispatcher.dispatch_all()
    finally:
        dispatcher.close()
    JourneyRuntime(app.services).tick()


def download(app: Application, clock: VirtualClock, emails: list[str], *, named: bool = False) -> None:
    """Contacts (named ``客户<first letter>`` when ``named``) download the whitepaper now: rule A's trigger."""
    upsert_contacts(app.services, "crm", [RawItem({"email": e, **({"name": f"客户{e[0]}"} if named else {})})
                                          for e in emails])
    record_events(app.services, "web", [RawItem({
        "id": f"d_{e}", "type": "content_download", "email": e, "occurred_at": clock.now().isoformat(),
        "properties": {"content_id": "wp-1", "content_type": "whitepaper"}}) for e in emails])


def seed_live(app: Application, clock: VirtualClock) -> None:
    """Three contacts time out and get the WeCom follow-up; two more wait (one of them has paid meanwhile)."""
    save_templates(app)
    publish_journey(app.services, RULE_A, actor="test")
    download(app, clock, ["a@live.test", "b@live.test", "c@live.test"], named=True)
    run_engine(app)
    clock.advance(timedelta(days=4))
    run_engine(app)
    download(app, clock, ["d@live.test", "e@live.test"], named=True)
    record_events(app.services, "shop", [RawItem({"id": "pay_d", "type": "order_paid", "email": "d@live.test",
                                                  "occurred_at": clock.now().isoformat(),
                                                  "properties": {"amount": 99}})])
    run_engine(app)
    clock.advance(timedelta(minutes=5))
    refresh_rollups(app.services, quiescent=True)
