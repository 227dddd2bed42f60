"""Sample data: the same seed gives the same bytes, and the files carry the mess the demo promises."""

from __future__ import annotations

import csv
import io
import json
import re
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from touchflow.demo.sample_data import CRM_HEADERS, FILES, SampleFiles, write_sample_data
from touchflow.domain.errors import FieldError
from touchflow.domain.normalize import normalise_name, normalise_phone
from touchflow.engine.readers import canonical_headers


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    return write_sample_data(tmp_path_factory.mktemp("sample"), contacts=1500, seed=7)


def _csv(path: Path, encoding: str) -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh))


def _events(sample: SampleFiles) -> list[dict[str, object]]:
    with sample.path("web_events").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_same_seed_gives_byte_identical_files(tmp_path: Path, sample: SampleFiles) -> None:
    again = write_sample_data(tmp_path / "again", contacts=1500, seed=7)
    other = write_sample_data(tmp_path / "other", contacts=1500, seed=8)
    for name in FILES:
        assert again.path(name).read_bytes() == sample.path(name).read_bytes(), name
        assert other.path(name).read_bytes() != sample.path(name).read_bytes(), name
    assert again.rows == sample.rows and again.bad_rows == sample.bad_rows


def test_row_counts_are_exact_and_reported(tmp_path: Path, sample: SampleFiles) -> None:
    assert sample.rows["crm"] == 1500
    assert sample.rows["web_events"] == 3 * 1500
    for name in FILES:
        lines = sample.path(name).read_bytes().count(b"\n")
        header = 0 if name == "web_events" else 1
        assert lines == sample.rows[name] + header, name
    sized = write_sample_data(tmp_path / "sized", contacts=40, seed=1, events=777)
    assert sized.rows["crm"] == 40 and sized.rows["web_events"] == 777


def test_crm_export_is_gbk_with_chinese_headers(sample: SampleFiles) -> None:
    raw = sample.path("crm").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    header = next(csv.reader(io.StringIO(raw.decode("gbk"))))
    assert tuple(header) == CRM_HEADERS
    recognised = canonical_headers(header, "contacts")
    assert not [h for h, f in recognised.items() if f.startswith("custom.")]


def test_shop_customers_have_a_bom_and_english_headers(sample: SampleFiles) -> None:
    raw = sample.path("shop_customers").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = next(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert header[:3] == ["name", "mobile", "email"] and "tags" in header
    assert not [f for f in canonical_headers(header, "contacts").values() if f.startswith("custom.")]


def test_phones_come_in_many_spellings_that_normalise_to_one(sample: SampleFiles) -> None:
    crm = _csv(sample.path("crm"), "gbk")
    shop = _csv(sample.path("shop_customers"), "utf-8-sig")
    orders = _csv(sample.path("shop_orders"), "utf-8")
    phones = [r["手机号"] for r in crm] + [r["mobile"] for r in shop] + [r["phone"] for r in orders]
    phones = [p for p in phones if p]
    styles = {
        "plain": r"1\d{10}", "spaced": r"1\d\d \d{4} \d{4}", "dashed": r"1\d\d-\d{4}-\d{4}",
        "+86 dashed": r"\+86 1\d\d-\d{4}-\d{4}", "0086": r"0086 1\d{10}", "+86": r"\+861\d{10}",
        "full-width": r"[０-９]{11}",
    }
    for style, pattern in styles.items():
        assert any(re.fullmatch(pattern, p) for p in phones), style
    # 张三 is in every source, spelled differently in each, and still one number.
    showcase = {crm[0]["手机号"], shop[0]["mobile"], orders[0]["phone"]}
    assert len(showcase) == 3
    assert {normalise_phone(p) for p in showcase} == {"+8613800138000"}


def test_the_same_person_is_in_crm_and_shop_with_other_spellings(sample: SampleFiles) -> None:
    crm = _csv(sample.path("crm"), "gbk")
    shop = _csv(sample.path("shop_customers"), "utf-8-sig")

    def phone(text: str) -> str | None:
        try:
            return normalise_phone(text) if text else None
        except FieldError:
            return None

    crm_phones = {phone(r["手机号"]): r["手机号"] for r in crm}
    shared = [(crm_phones[phone(r["mobile"])], r["mobile"]) for r in shop
              if phone(r["mobile"]) in crm_phones and phone(r["mobile"]) is not None]
    assert len(shared) >= 20
    assert any(a != b for a, b in shared)  # same number, different spelling


def test_messy_emails_names_and_industries(sample: SampleFiles) -> None:
    crm = _csv(sample.path("crm"), "gbk")
    emails = [r["邮箱"] for r in crm if r["邮箱"]]
    assert any(e != e.strip() for e in emails)
    assert any(e != e.lower() for e in emails)
    assert any(re.search(r"\S[ \u3000]\S", r["姓名"]) for r in crm)  # 张 三
    industries = Counter(r["行业"].strip() for r in crm)
    assert {"制造", "制造业", "Manufacturing"} <= set(industries)
    missing_city = sum(1 for r in crm if not r["城市"])
    assert 0 < missing_city < len(crm) / 3


def test_near_duplicates_share_name_company_and_city_but_no_identifier(sample: SampleFiles) -> None:
    crm = _csv(sample.path("crm"), "gbk")
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in crm:
        if row["城市"] and row["公司"]:
            company = row["公司"].replace("股份有限公司", "有限公司")
            groups.setdefault((normalise_name(row["姓名"]), company + row["城市"]), []).append(row)
    twins = [rows for rows in groups.values() if any("股份" in r["公司"] for r in rows) and len(rows) > 1]
    assert twins
    for rows in twins:
        assert len({r["客户编号"] for r in rows}) == len(rows)
        assert len({r["手机号"] for r in rows}) == len(rows)


def test_about_one_percent_of_rows_are_bad(sample: SampleFiles) -> None:
    for name in FILES:
        assert 0 < sample.bad_rows[name] <= 0.03 * sample.rows[name] + 1, name
    crm = _csv(sample.path("crm"), "gbk")
    assert any(not (r["客户编号"] or r["手机号"] or r["邮箱"]) for r in crm)  # no identifier at all
    assert any(not r["客户编号"] and not r["手机号"] and "@@" in r["邮箱"] for r in crm)
    orders = _csv(sample.path("shop_orders"), "utf-8")
    assert any(not r["amount"] for r in orders)
    assert any(not r["phone"] and not r["email"] for r in orders)
    shop = _csv(sample.path("shop_customers"), "utf-8-sig")
    assert any(r["age"] == "300" for r in shop)
    identities = ("anonymous_id", "email", "phone")
    assert any(not any(k in e for k in identities) for e in _events(sample))


def test_web_events_join_anonymous_visitors_to_known_contacts(sample: SampleFiles) -> None:
    events = _events(sample)
    types = Counter(str(e["type"]) for e in events)
    assert {"page_view", "content_download", "form_submit", "signup", "quote_opened", "consult"} <= set(types)
    signups = [e for e in events if e["type"] == "signup"]
    assert all("anonymous_id" in e and ("email" in e or "phone" in e) for e in signups)
    anonymous = {e["anonymous_id"] for e in signups}
    earlier = {e.get("anonymous_id") for e in events if e["type"] == "page_view"}
    assert len(anonymous & earlier) > len(anonymous) / 2  # most browsed before signing up
    downloads = [e for e in events if e["type"] == "content_download"]
    props = [e["properties"] for e in downloads]
    assert all(isinstance(p, dict) and "title" in p for p in props)
    orders = _csv(sample.path("shop_orders"), "utf-8")
    assert {r["type"] for r in orders} == {"order_paid"}
    assert all(r["id"] for r in orders) and len({r["id"] for r in orders}) == len(orders)


def test_generation_streams_with_flat_memory(tmp_path: Path) -> None:
    def peak(contacts: int) -> int:
        tracemalloc.start()
        try:
            write_sample_data(tmp_path / str(contacts), contacts=contacts, seed=3)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(300), peak(3000)
    assert large < 2 * small + 1_000_000


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_sample_data(tmp_path, contacts=0)
    with pytest.raises(ValueError):
        write_sample_data(tmp_path, contacts=10, events=-1)


def test_data_is_dated_up_to_the_day_it_is_made_for(tmp_path: Path) -> None:
    """Issue 11 item 14: the files end just before ``as_of`` (the CLI passes today), whatever year it is;
    one seed and one date give the same bytes, another date moves every event with it."""
    from datetime import date, datetime, timedelta

    december = write_sample_data(tmp_path / "dec", contacts=300, seed=3, as_of=date(2026, 12, 6))
    again = write_sample_data(tmp_path / "dec2", contacts=300, seed=3, as_of=date(2026, 12, 6))
    june = write_sample_data(tmp_path / "jun", contacts=300, seed=3, as_of=date(2027, 6, 1))
    assert all(again.path(n).read_bytes() == december.path(n).read_bytes() for n in FILES)
    times = [datetime.fromisoformat(str(e["occurred_at"])) for e in _events(december)
             if str(e["occurred_at"]).startswith("20")]
    end = datetime.fromisoformat("2026-12-06T00:00:00+08:00")
    assert max(times) <= end and max(times) >= end - timedelta(days=14)  # recent activity exists
    assert min(times) >= end - timedelta(days=200)
    june_times = [str(e["occurred_at"]) for e in _events(june) if str(e["occurred_at"]).startswith("20")]
    assert max(june_times) < "2027-06-01" and max(june_times) > "2027-05"


def test_consultations_say_whether_they_converted(sample: SampleFiles) -> None:
    """The intent journey enrols "consulted, not ordered" (converted: false): the sample must have some."""
    consults = [e for e in _events(sample) if e["type"] == "consult"]
    converted = Counter(dict(e["properties"]).get("converted") for e in consults)  # type: ignore[call-overload]
    assert converted[False] > 10 and converted[True] > 0 and None not in converted
