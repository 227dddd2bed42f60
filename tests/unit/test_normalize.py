from datetime import UTC, datetime

import pytest

from touchflow.domain.errors import FieldError
from touchflow.domain.normalize import (
    clean_text,
    normalise_age,
    normalise_datetime,
    normalise_email,
    normalise_gender,
    normalise_industry,
    normalise_name,
    normalise_phone,
)


@pytest.mark.parametrize("raw", [
    "13800138000", "138 0013 8000", "138-0013-8000", "+86 138 0013 8000", "+86-138-0013-8000",
    "0086 13800138000", "008613800138000", "8613800138000", "１３８００１３８０００", "（+86）138.0013.8000",
    "+８６ １３８ ００１３ ８０００", "\u200b13800138000",
])
def test_chinese_mobiles_in_any_common_spelling_become_one_e164(raw: str) -> None:
    assert normalise_phone(raw) == "+8613800138000"


def test_landlines_and_foreign_numbers_go_through_phonenumbers() -> None:
    assert normalise_phone("010-6552 9988") == "+861065529988"
    assert normalise_phone("+1 (650) 253-0000") == "+16502530000"


@pytest.mark.parametrize("raw", ["12345", "abc", "1380013800", "+86 100 0000 0000"])
def test_bad_phones_raise_naming_the_field(raw: str) -> None:
    with pytest.raises(FieldError) as info:
        normalise_phone(raw)
    assert info.value.field == "phone"


def test_emails_are_trimmed_lowercased_and_syntax_checked() -> None:
    assert normalise_email("  Zhang.San@Example.COM ") == "zhang.san@example.com"
    assert normalise_email("ＬＩ@example.cn") == "li@example.cn"
    for bad in ("no-at-sign", "a@", "a@@b.cn", "a b@c.cn", ".a@b.cn"):
        with pytest.raises(FieldError):
            normalise_email(bad)


def test_names_lose_full_width_forms_and_gaps_between_chinese_characters() -> None:
    assert normalise_name("张 三") == "张三"
    assert normalise_name("  Ｗａｎｇ   Ｗｅｉ ") == "Wang Wei"
    assert clean_text("a\u200bb  c") == "ab c"


def test_dates_in_common_spellings_read_in_shanghai_time_by_default() -> None:
    expected = datetime(2026, 1, 4, 16, 0, tzinfo=UTC)  # 2026-01-05 00:00 in Shanghai
    for raw in ("2026-01-05", "2026/1/5", "2026年1月5日", "20260105", "2026.01.05"):
        assert normalise_datetime(raw) == expected
    assert normalise_datetime("2026-01-05T08:00:00Z") == datetime(2026, 1, 5, 8, tzinfo=UTC)
    assert normalise_datetime("2026年1月5日 10:30") == datetime(2026, 1, 5, 2, 30, tzinfo=UTC)
    with pytest.raises(FieldError):
        normalise_datetime("next tuesday")


def test_industries_map_to_the_standard_list() -> None:
    assert normalise_industry("制造") == ("制造业", True)
    assert normalise_industry("Manufacturing") == ("制造业", True)
    assert normalise_industry("互联网") == ("信息技术", True)
    assert normalise_industry("养殖") == ("养殖", False)


def test_gender_and_age() -> None:
    assert normalise_gender("女") == "female"
    assert normalise_gender("M") == "male"
    assert normalise_age("35岁") == 35
    with pytest.raises(FieldError):
        normalise_age("300")
    with pytest.raises(FieldError):
        normalise_gender("xyz")
