"""Normalisation of the values people type: phones, emails, names, dates, industries.

Everything is normalised before it is matched or stored, so that ``138 0013 8000``,
``+86-138-0013-8000`` and ``０１３８００１３８０００``-style full-width input meet as one phone.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from touchflow.domain.errors import FieldError

__all__ = [
    "DEFAULT_TIMEZONE",
    "STANDARD_INDUSTRIES",
    "clean_text",
    "normalise_age",
    "normalise_datetime",
    "normalise_email",
    "normalise_gender",
    "normalise_industry",
    "normalise_name",
    "normalise_phone",
    "normalise_timezone",
]

DEFAULT_TIMEZONE = "Asia/Shanghai"

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―.()（）/_·]+")
_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\x00"))


def clean_text(value: str) -> str:
    """NFKC (full-width to half-width), zero-width characters dropped, whitespace collapsed."""
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value).translate(_ZERO_WIDTH)
    elif "\x00" in value:
        value = value.replace("\x00", "")
    return " ".join(value.split())


def normalise_name(value: str) -> str:
    """A person's or company's name: cleaned, with no spaces between Chinese characters."""
    return _CJK_GAP.sub("", clean_text(value))


def normalise_phone(value: str, region: str = "CN") -> str:
    """A phone number in E.164. Chinese mobiles in any common spelling take a fast path."""
    text = unicodedata.normalize("NFKC", value).translate(_ZERO_WIDTH).strip()
    if not text:
        raise FieldError("phone", "empty")
    digits = _SEPARATORS.sub("", text)
    if digits.startswith("+"):
        body = digits[1:]
        plus = True
    else:
        body = digits
        plus = False
    if body.isdigit():
        if not plus and body.startswith("0086"):
            body, plus = body[2:], True
        if (plus or len(body) == 13) and body.startswith("86") and _CN_MOBILE.fullmatch(body[2:]):
            return "+" + body
        if not plus and _CN_MOBILE.fullmatch(body):
            return "+86" + body
    return _parse_phone(text, region)


@lru_cache(maxsize=4096)
def _parse_phone(text: str, region: str) -> str:
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise FieldError("phone", f"not a phone number: {text!r}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise FieldError("phone", f"not a valid phone number: {text!r}")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


_SIMPLE_EMAIL = re.compile(r"[a-z0-9._%+\-]+@[a-z0-9\-]+(\.[a-z0-9\-]+)*\.[a-z]{2,}")


def normalise_email(value: str) -> str:
    """Trimmed and lower-cased; syntax-checked without DNS."""
    text = clean_text(value).lower()
    if not text:
        raise FieldError("email", "empty")
    if len(text) > 254:
        raise FieldError("email", "longer than 254 characters")
    if _SIMPLE_EMAIL.fullmatch(text) and ".." not in text and not text.startswith("."):
        return text
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise FieldError("email", f"not a valid address: {text!r} ({exc})") from exc
    return str(result.normalized).lower()


_GENDERS = {
    "男": "male", "m": "male", "male": "male", "先生": "male", "1": "male",
    "女": "female", "f": "female", "female": "female", "女士": "female", "小姐": "female", "2": "female",
    "未知": "unknown", "unknown": "unknown", "u": "unknown", "0": "unknown",
}


def normalise_gender(value: str) -> str:
    key = clean_text(value).lower()
    try:
        return _GENDERS[key]
    except KeyError:
        raise FieldError("gender", f"unknown gender {value!r} (use 男/女, male/female)") from None


def normalise_age(value: str | int | float) -> int:
    text = clean_text(str(value)).removesuffix("岁").strip()
    try:
        age = int(float(text))
    except (ValueError, OverflowError):
        raise FieldError("age", f"not a number: {value!r}") from None
    if not 0 < age < 120:
        raise FieldError("age", f"out of range 1-119: {age}")
    return age


def normalise_timezone(value: str) -> str:
    name = clean_text(value)
    try:
        ZoneInfo(name)
    except (KeyError, ValueError):
        raise FieldError("timezone", f"unknown IANA timezone {value!r}") from None
    except Exception:
        raise FieldError("timezone", f"unknown IANA timezone {value!r}") from None
    return name


_CN_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?(.*)")
_SLASH_DATE = re.compile(r"(\d{4})[/.](\d{1,2})[/.](\d{1,2})(.*)")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")


def normalise_datetime(value: str | datetime | date, tz: str = DEFAULT_TIMEZONE) -> datetime:
    """Any common date or timestamp spelling to an aware UTC datetime.

    A value without a timezone is read in ``tz`` (the contact's or the source's, default Asia/Shanghai).
    """
    zone = ZoneInfo(tz)
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, str):
        parsed = _parse_datetime_text(clean_text(value))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        parsed = _parse_datetime_text(str(int(value)))
    else:
        raise FieldError("date", f"must be text like 2026-03-01T09:00:00+08:00, got {type(value).__name__}")
    try:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
        result = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise FieldError("date", f"out of range: {value!r}") from None
    if not 1900 <= result.year <= 2200:
        raise FieldError("date", f"year {result.year} is outside 1900-2200")
    return result


def _parse_datetime_text(text: str) -> datetime:
    if not text:
        raise FieldError("date", "empty")
    if text.isdigit() and len(text) in (10, 13):  # unix seconds or milliseconds
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, ValueError, OSError):
            raise FieldError("date", f"timestamp out of range: {text}") from None
    candidate = text.replace("Z", "+00:00")
    for pattern in (_CN_DATE, _SLASH_DATE):
        match = pattern.fullmatch(text)
        if match:
            year, month, day, rest = match.groups()
            rest = rest.strip()
            candidate = f"{int(year):04d}-{int(month):02d}-{int(day):02d}" + (f" {rest}" if rest else "")
            break
    else:
        match = _COMPACT_DATE.fullmatch(text)
        if match:
            candidate = "-".join(match.groups())
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        raise FieldError("date", f"unrecognised date {text!r}") from None


# The standard industry list (one data standard, D1). Keys are the stored values.
STANDARD_INDUSTRIES: dict[str, tuple[str, ...]] = {
    "制造业": ("制造", "制造业", "工业", "manufacturing", "manufacture", "industrial", "机械", "汽车制造"),
    "信息技术": ("it", "信息技术", "互联网", "软件", "software", "internet", "technology", "tech", "计算机"),
    "金融": ("金融", "银行", "保险", "证券", "finance", "financial services", "banking", "insurance"),
    "医疗健康": ("医疗", "医疗健康", "医药", "健康", "healthcare", "medical", "pharma", "医院"),
    "教育": ("教育", "培训", "education", "edtech", "学校"),
    "零售电商": ("零售", "电商", "零售电商", "retail", "e-commerce", "ecommerce", "消费品"),
    "房地产": ("房地产", "地产", "real estate", "建筑"),
    "能源": ("能源", "电力", "energy", "utilities", "新能源"),
    "物流": ("物流", "运输", "logistics", "供应链", "transportation"),
    "政府公共": ("政府", "政府公共", "government", "public sector", "事业单位"),
}
_INDUSTRY_INDEX = {alias.lower(): canon for canon, aliases in STANDARD_INDUSTRIES.items() for alias in aliases}


def normalise_industry(value: str) -> tuple[str, bool]:
    """The standard industry for a free-text value, and whether it was on the standard list."""
    text = clean_text(value)
    canon = _INDUSTRY_INDEX.get(text.lower())
    if canon is not None:
        return canon, True
    return text, text in STANDARD_INDUSTRIES
