"""Pure pieces behind the lists: masked addresses and a journey's messages by outcome."""

from __future__ import annotations

from touchflow.domain.masking import mask_email, mask_phone
from touchflow.domain.messaging.counts import message_breakdown, message_summary


def test_masks_keep_enough_to_recognise_and_no_more() -> None:
    assert mask_phone("+8613812341234") == "138****1234"
    assert mask_phone("+14155552671") == "+14*****2671"
    assert mask_phone("12345") == "12***"
    assert mask_email("zhang.wei@example.cn") == "z***@example.cn"
    assert mask_email("a@b.cn") == "a***@b.cn"


def test_every_outbox_status_lands_in_one_bucket_with_its_reason() -> None:
    rows = [("email", "sent", None, 1169), ("email", "skipped", "frequency_cap", 2001),
            ("email", "skipped", "fatigue", 463), ("sms", "queued", "quiet_hours", 4), ("sms", "queued", None, 2),
            ("sms", "sending", None, 1), ("sms", "failed", "fallback:email", 3),
            ("sms", "dead", "retries_exhausted", 5), ("sms", "queued", "retrying", 6)]
    found = message_breakdown(rows, {"email": 900, "sms": 7})
    assert found["email"] == {"total": 3633, "sent": 1169, "delivered": 900, "pending": 0, "deferred": {},
                              "failed": {}, "skipped": {"frequency_cap": 2001, "fatigue": 463}}
    assert found["sms"] == {"total": 21, "sent": 0, "delivered": 0, "pending": 3, "skipped": {},
                            "deferred": {"quiet_hours": 4, "retrying": 6},
                            "failed": {"fallback:email": 3, "retries_exhausted": 5}}
    assert message_summary(found["email"]) == ("3,633 messages: sent 1,169 (delivered 900), "
                                               "skipped 2,464 (frequency_cap 2,001, fatigue 463)")
