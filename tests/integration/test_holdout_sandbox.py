"""A journey with a control group rehearsed in the sandbox: the held-out arm gets nothing and buys less,
and the uplift report shows it with an interval that excludes zero."""

from __future__ import annotations

from pathlib import Path

from touchflow.bootstrap import open_sandbox
from touchflow.clock import VirtualClock
from touchflow.domain.journeys.scenarios import parse_scenario
from touchflow.engine import simulator
from touchflow.services.attribution import attribution_report, journey_uplift

JOURNEY = """
key: welcome_offer
trigger: {event: signup}
holdout: {share: 0.5, key: launch, window: 7d}
goal: {event: order_paid}
nodes:
  offer: {kind: send, channel: email, template: welcome_offer}
"""


def test_sandbox_journey_with_holdout_shows_uplift(tmp_path: Path) -> None:
    scenario = parse_scenario({"seed": 7, "duration": "10d", "personas": [
        {"name": "reader", "count": 300, "events": [{"at": "1h", "type": "signup"}],
         "behaviour": {"open": 0.6, "purchase": 0.4, "amount": 200, "delay": "2h"}},
        {"name": "loyal", "count": 30, "events": [
            {"at": "1h", "type": "signup"},
            {"at": "2d", "type": "order_paid", "properties": {"order_id": "repeat", "amount": 50}}]},
    ]})
    result = simulator.simulate([JOURNEY], scenario, open_store=open_sandbox, database_dir=tmp_path)
    assert result.stats["contacts"] == 330
    app = open_sandbox(tmp_path / "sim.db", VirtualClock(scenario.start))
    try:
        (found,) = journey_uplift(app.services, "welcome_offer")
        lift = found.result
        assert lift.treated + lift.control == 330
        assert 0.5 * 330 - 3 * (330 * 0.25) ** 0.5 <= lift.control <= 0.5 * 330 + 3 * (330 * 0.25) ** 0.5
        assert lift.control_rate is not None and lift.control_rate < 0.2  # only the loyal buy without a message
        assert lift.conversion is not None and lift.significant and lift.conversion.low > 0
        assert lift.revenue_per_contact is not None and lift.revenue_per_contact.low > 0
        report = attribution_report(app.services, model="last", start=scenario.start,
                                    end=scenario.start + scenario.duration)
        assert report.attributed_orders > 0 and set(report.by_channel) == {"email"}
        assert report.orders == report.attributed_orders + report.unattributed_orders
    finally:
        app.close()
