"""Which way a change can move a contact (``domain.segments.reactions``): the incremental pass checks
non-members only for changes that can let them in and members only for changes that can push them out."""

from __future__ import annotations

from touchflow.domain.conditions.parse import parse_condition
from touchflow.domain.segments.model import ANY_CHANGE, reactions, segment_reason


def ways(data: object) -> dict[str, set[str]]:
    return {reason: set(d) for reason, d in reactions(parse_condition(data, "c")).items()}


def test_more_events_only_let_contacts_in_for_at_least_and_only_push_them_out_for_absence() -> None:
    hot = {"all": [{"event": "content_download", "count": ">= 2", "within": "30d"},
                   {"no": "order_paid", "within": "90d"}]}
    assert ways(hot) == {ANY_CHANGE: {"enter", "leave"}, "content_download": {"enter"}, "order_paid": {"leave"}}


def test_not_flips_the_direction_and_at_most_or_exactly_counts_are_read_as_they_mean() -> None:
    assert ways({"not": {"event": "page_view", "count": ">= 3"}})["page_view"] == {"leave"}
    assert ways({"event": "page_view", "count": "< 3"})["page_view"] == {"leave"}
    assert ways({"event": "page_view", "count": "== 1"})["page_view"] == {"enter", "leave"}
    assert ways({"not": {"no": "order_paid"}})["order_paid"] == {"enter"}


def test_a_type_read_both_ways_and_sums_move_either_way() -> None:
    both = {"any": [{"event": "order_paid"}, {"not": {"event": "order_paid", "within": "7d"}}]}
    assert ways(both)["order_paid"] == {"enter", "leave"}
    assert ways({"sum": "order_paid.amount", "gte": 100})["order_paid"] == {"enter", "leave"}  # refunds are negative


def test_nesting_reads_the_inner_segments_entering_and_leaving() -> None:
    found = ways({"all": [{"in_segment": "hot"}, {"not": {"in_segment": "buyers"}}]})
    assert found[segment_reason("hot", True)] == {"enter"}
    assert found[segment_reason("hot", False)] == {"leave"}
    assert found[segment_reason("buyers", True)] == {"leave"}
    assert found[segment_reason("buyers", False)] == {"enter"}


def test_attribute_changes_move_every_segment_both_ways_and_unread_types_move_none() -> None:
    found = ways({"attr": "city", "eq": "上海"})
    assert found == {ANY_CHANGE: {"enter", "leave"}}
    assert "page_view" not in found
