"""How far back conditions read each event type, and one read shared by several readers."""

from __future__ import annotations

from datetime import timedelta

from touchflow.domain.conditions.lookback import event_lookback, one_read
from touchflow.domain.conditions.parse import parse_condition
from touchflow.domain.scoring.lifecycle import DEFAULT_LIFECYCLE, parse_lifecycle
from touchflow.domain.scoring.tiers import DEFAULT_TIERS, ORDER_EVENT, parse_tiers

DAY = timedelta(days=1)


def test_each_type_is_read_as_far_back_as_its_widest_window() -> None:
    cond = parse_condition({"all": [{"event": "page_view", "count": ">= 3", "within": "30d"},
                                    {"event": "page_view", "within": "7d"},
                                    {"not": {"event": "order_paid"}},
                                    {"any": [{"opened": "n1", "within": "2d"}]}]})
    assert event_lookback([cond]) == {"page_view": 30 * DAY, "order_paid": None, "message_opened": 2 * DAY}
    # a second condition that reads page views with no window needs all of their history
    assert event_lookback([cond, parse_condition({"event": "page_view"})])["page_view"] is None


def test_one_read_bounds_a_type_only_where_every_reader_does() -> None:
    types, lookback = one_read([({"order_paid", "page_view"}, {"page_view": 30 * DAY}),
                                ({"page_view", "form_submit"}, {"page_view": 90 * DAY}),
                                ({"consult"}, {"consult": DAY})])
    assert types == {"order_paid", "page_view", "form_submit", "consult"}
    assert lookback == {"page_view": 90 * DAY, "consult": DAY}  # orders and form submits: all history
    assert one_read([({"page_view"}, {"page_view": DAY}), ({"page_view"}, {})])[1] == {}


def test_tiers_read_signals_in_their_windows_and_orders_ever() -> None:
    tiers = parse_tiers(DEFAULT_TIERS)
    assert tiers.lookback()["page_view"] == 30 * DAY
    assert tiers.lookback()["offline_event_attended"] == 60 * DAY
    assert ORDER_EVENT in tiers.event_types() and ORDER_EVENT not in tiers.lookback()  # RFM: the last order ever
    lifecycle = parse_lifecycle(DEFAULT_LIFECYCLE)
    assert lifecycle.lookback() == {}  # the default rules have no windows: sign-ups, downloads and orders ever
