"""Recognising the headers people put on files: 手机号, Mobile, ＥＭＡＩＬ, 客户编号 … to canonical fields."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from touchflow.domain.contacts import CONSENT_CHANNELS
from touchflow.domain.normalize import clean_text

__all__ = ["Kind", "MappingError", "canonical_field", "canonical_headers", "known_fields", "mapped_fields"]

Kind = Literal["contacts", "events"]

class MappingError(ValueError):
    """A ``--map FIELD=COLUMN`` names an unknown field or a column the file does not have."""


_IDENTITY_ALIASES: dict[str, tuple[str, ...]] = {
    "phone": ("手机", "手机号", "手机号码", "mobile", "phone", "电话", "联系电话", "tel", "telephone",
              "phone number", "mobile phone", "电话号码"),
    "email": ("邮箱", "email", "e-mail", "电子邮件", "电子邮箱", "邮件地址", "mail", "email address"),
    "crm_id": ("客户编号", "crm id", "crm_id", "客户id", "crm", "customer id", "客户代码"),
    "openid": ("openid", "wechat_openid", "微信openid", "公众号openid"),
    "unionid": ("unionid", "wechat_unionid", "微信unionid"),
    "wecom": ("wecom", "企微", "企业微信", "wecom_external_userid", "外部联系人id"),
    "anonymous_id": ("anonymous_id", "anon", "anon_id", "访客id", "匿名id", "visitor id"),
}
_CONTACT_ALIASES: dict[str, tuple[str, ...]] = _IDENTITY_ALIASES | {
    "name": ("姓名", "name", "联系人", "名字", "客户姓名", "full name"),
    "company": ("公司", "公司名称", "company", "企业", "企业名称", "单位", "company name"),
    "industry": ("行业", "industry", "所属行业"),
    "job_title": ("职位", "title", "job title", "job_title", "职务", "position"),
    "city": ("城市", "city", "所在城市"),
    "province": ("省份", "province", "省"),
    "gender": ("性别", "gender", "sex"),
    "age": ("年龄", "age"),
    "tags": ("标签", "tags", "tag"),
    "updated_at": ("更新时间", "updated_at", "最后更新时间", "修改时间", "last updated"),
    "observed_at": ("observed_at",),
    "lifecycle_stage": ("生命周期", "lifecycle_stage", "生命周期阶段", "lifecycle", "客户阶段"),
    "timezone": ("时区", "timezone", "time zone", "tz"),
    "locale": ("语言", "locale", "language"),
    "consent.email": ("邮件订阅", "邮件同意", "email consent", "email opt-in"),
    "consent.sms": ("短信订阅", "短信同意", "sms consent", "sms opt-in"),
    "consent.wechat": ("微信订阅",),
    "consent.wecom": ("企微订阅",),
}
_EVENT_ALIASES: dict[str, tuple[str, ...]] = _IDENTITY_ALIASES | {
    "type": ("事件", "事件类型", "type", "event", "event_type"),
    "occurred_at": ("时间", "发生时间", "事件时间", "occurred_at", "timestamp", "time", "event time"),
    "id": ("id", "event id", "event_id", "事件id", "事件编号"),
    "properties": ("properties", "属性"),
    "contact": ("contact",),
}
_SEPARATORS = re.compile(r"[\s_\-]+")
_CUSTOM_KIND = re.compile(r"x_[a-z0-9_]{1,40}")
_CONSENT = re.compile(r"consent[\s._\-]*([a-z]+)")


def _compact(text: str) -> str:
    return _SEPARATORS.sub("", clean_text(text).casefold())


def _index(aliases: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    return {_compact(alias): field for field, names in aliases.items() for alias in (field, *names)}


_INDEX: dict[str, dict[str, str]] = {"contacts": _index(_CONTACT_ALIASES), "events": _index(_EVENT_ALIASES)}
_PREFIX = {"contacts": "custom.", "events": "properties."}


def _recognise(header: str, kind: Kind) -> str | None:
    """The canonical field a header names, or ``None`` when it is not one we know."""
    text = clean_text(header)
    lowered = text.casefold()
    prefix = _PREFIX[kind]
    if lowered.startswith(prefix) and len(text) > len(prefix):
        return prefix + text[len(prefix):].strip()
    if _CUSTOM_KIND.fullmatch(lowered):
        return lowered
    consent = _CONSENT.fullmatch(lowered)
    if kind == "contacts" and consent and consent.group(1) in CONSENT_CHANNELS:
        return f"consent.{consent.group(1)}"
    return _INDEX[kind].get(_compact(text))


def canonical_field(header: str, kind: Kind, taken: Iterable[str] = ()) -> str:
    """Where a column goes: a recognised field, else a custom attribute (contacts) or a property (events).

    A recognised field in ``taken`` (mapped explicitly to another column) falls back the same way.
    """
    field = _recognise(header, kind)
    if field is not None and field not in taken:
        return field
    return _PREFIX[kind] + clean_text(header)


def _mapped_field(field: str, column: str, kind: Kind) -> str:
    field_name = _recognise(field, kind)
    if field_name is None:
        known = sorted({f for f in _INDEX[kind].values() if not f.startswith("consent.")})
        extra = "custom.<name>, consent.<channel>" if kind == "contacts" else "properties.<name>"
        raise MappingError(f"--map {field}={column}: unknown field {field!r}; known fields: "
                           f"{', '.join(known)}, {extra}")
    return field_name


def _mapped_header(field: str, column: str, headers: Sequence[str]) -> str:
    if column in headers:
        return column
    wanted = clean_text(column).casefold()
    for header in headers:
        if clean_text(header).casefold() == wanted:
            return header
    raise MappingError(f"--map {field}={column}: column {column!r} is not in the file's header; "
                       f"the columns are: {', '.join(headers) if headers else '(none)'}")


def mapped_fields(kind: Kind, mapping: Mapping[str, str] | None) -> frozenset[str]:
    """The canonical fields a mapping sets explicitly (other columns no longer fill them)."""
    return frozenset(_mapped_field(field, column, kind) for field, column in (mapping or {}).items())


def canonical_headers(headers: Sequence[str], kind: Kind,
                      mapping: Mapping[str, str] | None = None) -> dict[str, str]:
    """File header -> canonical field, ``mapping`` (FIELD -> COLUMN) first; ``MappingError`` if it is bad."""
    result: dict[str, str] = {}
    for field, column in (mapping or {}).items():
        header = _mapped_header(field, column, headers)
        if header in result:
            raise MappingError(f"--map {field}={column}: column {column!r} is already mapped to "
                               f"{result[header]!r}")
        result[header] = _mapped_field(field, column, kind)
    taken = set(result.values())
    for header in headers:
        if header not in result:
            result[header] = canonical_field(header, kind, taken)
    return result


def known_fields(kind: Kind) -> list[str]:
    """The canonical fields a column may be mapped to by name (what ``--map`` and the console offer)."""
    return sorted({f for f in _INDEX[kind].values()})
