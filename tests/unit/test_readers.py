"""Reading files as row streams: encodings, delimiters, JSON Lines, .xlsx, header recognition."""

from __future__ import annotations

import codecs
import tracemalloc
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from touchflow.engine.importer import short_reason
from touchflow.engine.readers import (
    MalformedRow,
    MappingError,
    ReadError,
    canonical_headers,
    detect_encoding,
    detect_format,
    open_rows,
    sniff_delimiter,
)

CHINESE_CSV = "姓名,手机号码,邮箱\n张三,13800138000,zs@example.com\n李四,13900139000,\n"


def _rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, object]]]]:
    with open_rows(path) as source:
        return source.headers, list(source)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings_are_detected(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(CHINESE_CSV, encoding=encoding)
    headers, rows = _rows(path)
    assert headers == ["姓名", "手机号码", "邮箱"]  # no BOM left on the first header
    assert rows == [(2, {"姓名": "张三", "手机号码": "13800138000", "邮箱": "zs@example.com"}),
                    (3, {"姓名": "李四", "手机号码": "13900139000", "邮箱": ""})]


def test_detect_encoding_on_samples() -> None:
    assert detect_encoding("姓名".encode()) == "utf-8-sig"
    assert detect_encoding(codecs.BOM_UTF8 + "姓名".encode()) == "utf-8-sig"
    assert detect_encoding("姓名".encode("gbk")) == "gb18030"
    # a sample cut in the middle of a UTF-8 character is still UTF-8
    assert detect_encoding("张三".encode()[:-1], final=False) == "utf-8-sig"


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    lines = [["name", "phone", "company"], ["A", "13800138000", "Foo, Inc; Ltd"], ["B", "13900139000", "x"]]
    text = "\n".join(delimiter.join(f'"{c}"' if "," in c or ";" in c else c for c in line) for line in lines)
    path = tmp_path / "data.csv"
    path.write_text(text + "\n", encoding="utf-8")
    headers, rows = _rows(path)
    assert headers == ["name", "phone", "company"]
    assert rows[0][1]["company"] == "Foo, Inc; Ltd"


def test_sniff_delimiter_prefers_consistent_columns() -> None:
    assert sniff_delimiter("a;b;c\n1;2,5;3\n4;5;6\n") == ";"
    assert sniff_delimiter("a,b\n1,x;y\n") == ","
    assert sniff_delimiter("single\nvalue\n") == ","


def test_csv_row_with_extra_values_is_malformed_and_blank_rows_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("name,phone\nA,13800138000,,\n\nB,13900139000,surprise\n", encoding="utf-8")
    _, rows = _rows(path)
    assert [n for n, _ in rows] == [2, 4]
    assert not isinstance(rows[0][1], MalformedRow)  # trailing empty cells are harmless
    bad = rows[1][1]
    assert isinstance(bad, MalformedRow)
    assert bad["column 3"] == "surprise"
    assert "3 values" in bad.reason


def test_blank_and_repeated_headers_get_names(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("phone,,phone\n1,2,3\n", encoding="utf-8")
    headers, _ = _rows(path)
    assert headers == ["phone", "column 2", "phone (2)"]


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + b'{"type": "signup", "email": "a@b.cn"}\n\n'
                     b'not json\n[1, 2]\n{"type": "x", "phone": "13800138000", "properties": {"k": 1}}\n')
    headers, rows = _rows(path)
    assert headers == ["type", "email", "phone", "properties"]
    assert [n for n, _ in rows] == [1, 3, 4, 5]
    assert rows[0][1] == {"type": "signup", "email": "a@b.cn"}
    assert isinstance(rows[1][1], MalformedRow) and rows[1][1].raw == "not json"
    assert isinstance(rows[2][1], MalformedRow) and "object" in rows[2][1].reason
    assert rows[3][1]["properties"] == {"k": 1}


def test_xlsx_is_read_row_by_row(tmp_path: Path) -> None:
    path = tmp_path / "contacts.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["姓名", "手机", "年龄", "更新时间"])
    sheet.append(["张三", 13800138000.0, 30, datetime(2026, 1, 2, 3, 4, 5)])  # noqa: DTZ001 (Excel has no zones)
    sheet.append([None, None, None, None])
    sheet.append(["李四", "13900139000", None, None, "extra"])
    book.save(path)
    with open_rows(path) as source:
        assert source.format == "xlsx"
        assert source.headers == ["姓名", "手机", "年龄", "更新时间"]
        rows = list(source)
        assert source.bytes_read() == source.total_bytes
    assert rows[0] == (2, {"姓名": "张三", "手机": 13800138000, "年龄": 30, "更新时间": "2026-01-02 03:04:05"})
    assert rows[1][0] == 4 and isinstance(rows[1][1], MalformedRow)


def test_format_is_sniffed_when_the_extension_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "a.dat").write_text('{"a": 1}\n', encoding="utf-8")
    (tmp_path / "b.dat").write_text("a;b\n1;2\n", encoding="utf-8")
    (tmp_path / "c.json").write_text('[{"a": 1}]', encoding="utf-8")
    (tmp_path / "d.xls").write_bytes(b"\xd0\xcf\x11\xe0rest")
    book = openpyxl.Workbook()
    book.save(tmp_path / "e.bin")
    assert detect_format(tmp_path / "a.dat") == "jsonl"
    assert detect_format(tmp_path / "b.dat") == "csv"
    assert detect_format(tmp_path / "e.bin") == "xlsx"
    with pytest.raises(ReadError, match="JSON Lines"):
        detect_format(tmp_path / "c.json")
    with pytest.raises(ReadError, match=r"\.xls"):
        detect_format(tmp_path / "d.xls")


def test_missing_and_broken_files_raise_read_error(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="not found"), open_rows(tmp_path / "missing.csv"):
        pass
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ReadError, match="xlsx"), open_rows(broken):
        pass
    latin = tmp_path / "bytes.csv"
    latin.write_bytes(b"name\n\x80\x80\xff\xff\n")
    with pytest.raises(ReadError, match="UTF-8"), open_rows(latin):
        pass


def test_contact_headers_are_recognised_in_chinese_english_and_full_width() -> None:
    headers = ["姓名", "手机号码", "ＥＭＡＩＬ", " Company ", "行业", "Job Title", "城市", "省份", "客户ID",
               "crm_id ", "性别", "年龄", "标签", "openid", "访客ID", "更新时间", "生命周期", "时区", "语言",
               "consent.email", "短信订阅", "联系电话", "会员等级", "x_member_no", "custom.vip"]
    mapped = canonical_headers(headers, "contacts")
    assert mapped == {
        "姓名": "name", "手机号码": "phone", "ＥＭＡＩＬ": "email", " Company ": "company", "行业": "industry",
        "Job Title": "job_title", "城市": "city", "省份": "province", "客户ID": "crm_id", "crm_id ": "crm_id",
        "性别": "gender", "年龄": "age", "标签": "tags", "openid": "openid", "访客ID": "anonymous_id",
        "更新时间": "updated_at", "生命周期": "lifecycle_stage", "时区": "timezone", "语言": "locale",
        "consent.email": "consent.email", "短信订阅": "consent.sms", "联系电话": "phone",
        "会员等级": "custom.会员等级", "x_member_no": "x_member_no", "custom.vip": "custom.vip",
    }


def test_event_headers_are_recognised() -> None:
    mapped = canonical_headers(["事件", "时间", "Event ID", "手机", "email", "金额", "title", "properties"],
                               "events")
    assert mapped == {"事件": "type", "时间": "occurred_at", "Event ID": "id", "手机": "phone",
                      "email": "email", "金额": "properties.金额", "title": "properties.title",
                      "properties": "properties"}


def test_mapping_overrides_recognition() -> None:
    headers = ["手机", "备用电话", "等级"]
    mapped = canonical_headers(headers, "contacts", {"phone": "备用电话", "custom.vip_level": "等级"})
    # the explicitly mapped field wins; the column that would have filled it is kept as a custom attribute
    assert mapped == {"备用电话": "phone", "等级": "custom.vip_level", "手机": "custom.手机"}
    assert canonical_headers(["Col A"], "contacts", {"crm_id": "col a"}) == {"Col A": "crm_id"}


def test_mapping_errors_name_the_column_or_field() -> None:
    with pytest.raises(MappingError, match=r"'电话' is not in the file's header.*姓名, 手机"):
        canonical_headers(["姓名", "手机"], "contacts", {"phone": "电话"})
    with pytest.raises(MappingError, match="unknown field 'favourite_colour'"):
        canonical_headers(["姓名", "手机"], "contacts", {"favourite_colour": "姓名"})
    with pytest.raises(MappingError, match="already mapped"):
        canonical_headers(["a"], "contacts", {"phone": "a", "email": "a"})
    assert isinstance(MappingError("x"), ValueError)


def test_short_reason_drops_row_values() -> None:
    assert short_reason("age: not a number: 'abc'") == "age: not a number"
    assert short_reason("age: out of range 1-119: 150") == "age: out of range 1-119"
    assert short_reason("properties.amount: must be a number, got 'x'") == "properties.amount: must be a number"
    assert short_reason("type: required") == "type: required"
    assert (short_reason("no usable identifier (email, phone): phone: not a phone number: '1'; email: bad 'x'")
            == "no usable identifier (email, phone): phone: not a phone number; email: bad")


def test_reading_is_streamed(tmp_path: Path) -> None:
    """Memory stays flat: reading a multi-megabyte file allocates far less than its size."""
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("name,phone,email,company\n")
        for i in range(60_000):
            fh.write(f"客户{i},138{i:08d},user{i}@example.com,公司{i % 97}\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        with open_rows(path) as source:
            count = sum(1 for _ in source)
            assert source.bytes_read() == size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 60_000
    assert size > 3_000_000
    assert peak < size / 2
