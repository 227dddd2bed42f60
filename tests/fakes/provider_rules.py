"""What each imitated provider checks and answers. Signature checks are written independently of the
adapters, from the providers' documentation, so a shared mistake cannot hide."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote_plus

from touchflow.channels.webhook import verify_signature

if TYPE_CHECKING:
    from tests.fakes.providers import FakeProviders

Answer = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class Incoming:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def retry_after_value(seconds: float, as_date: bool, now: datetime) -> str:
    if as_date:
        return format_datetime((now + timedelta(seconds=seconds)).astimezone(UTC), usegmt=True)
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def route(fake: FakeProviders, req: Incoming) -> Answer:
    from tests.fakes.providers import Recorded

    provider = req.path.strip("/").split("/")[0] or "?"
    handler = _ROUTES.get(provider)
    if handler is None:
        return 404, {"error": f"no fake provider at {req.path}"}, {}
    status, payload, headers, accepted = handler(fake, req)
    if accepted:
        key = req.headers.get("idempotency-key") or req.headers.get("x-touchflow-idempotency-key")
        fake.record(Recorded(provider, req.method, req.path, req.query, req.headers, req.body, key))
    else:
        fake.reject(req.path, json.dumps(payload, ensure_ascii=False))
    return status, payload, headers


Handled = tuple[int, Any, dict[str, str], bool]


def _e164(number: str) -> str:
    if number.startswith("+"):
        return number
    return "+" + number[2:] if number.startswith("00") else "+86" + number


# -- neutral SMS gateway ---------------------------------------------------------------------------
def _sms(fake: FakeProviders, req: Incoming) -> Handled:
    if req.headers.get("authorization") != f"Bearer {fake.SMS_TOKEN}":
        return 401, {"error": "unauthorized"}, {}, False
    body = req.json()
    messages = body.get("messages") if isinstance(body, dict) else None
    if req.path != "/sms/messages" or not isinstance(messages, list) or not 1 <= len(messages) <= 1000:
        return 400, {"error": "messages must be a list of 1 to 1000"}, {}, False
    results = []
    for m in messages:
        key, to = m["idempotency_key"], m["to"]
        if to in fake.invalid:
            results.append({"idempotency_key": key, "status": "rejected", "code": "invalid_number"})
        elif to in fake.throttled:
            results.append({"idempotency_key": key, "status": "rejected", "code": "throttled", "retry_after": 30})
        else:
            pid, _ = fake.once(f"sms:{key}", lambda: fake.next_id("sms"))
            results.append({"idempotency_key": key, "status": "accepted", "id": pid})
    return 200, {"results": results}, {}, True


# -- Aliyun dysmsapi -------------------------------------------------------------------------------
def aliyun_encode(value: str) -> str:
    """The documented Java recipe: URL-encode form-style, then '+'→%20, '*'→%2A, '%7E'→'~'."""
    return quote_plus(value, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")


def aliyun_expected_signature(params: dict[str, str], secret: str, method: str) -> str:
    pairs = sorted((aliyun_encode(k), aliyun_encode(v)) for k, v in params.items() if k != "Signature")
    canonical = "&".join(f"{k}={v}" for k, v in pairs)
    to_sign = method + "&" + aliyun_encode("/") + "&" + aliyun_encode(canonical)
    mac = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


_ALIYUN_REQUIRED = (
    "AccessKeyId",
    "Action",
    "Format",
    "RegionId",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "Timestamp",
    "Version",
    "Signature",
)


def _aliyun(fake: FakeProviders, req: Incoming) -> Handled:
    params = dict(req.query)
    if req.method == "POST":
        params.update(parse_qsl(req.body.decode(), keep_blank_values=True))
    rid = {"RequestId": fake.next_id("aliyun-req")}
    missing = [p for p in _ALIYUN_REQUIRED if p not in params]
    if missing:
        return 400, {"Code": "MissingParameter", "Message": f"missing {missing}", **rid}, {}, False
    if params["AccessKeyId"] != fake.ALIYUN_KEY_ID:
        return (
            404,
            {"Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found.", **rid},
            {},
            False,
        )
    if params["Signature"] != aliyun_expected_signature(params, fake.ALIYUN_SECRET, req.method):
        msg = "Specified signature is not matched with our calculation."
        return 400, {"Code": "SignatureDoesNotMatch", "Message": msg, **rid}, {}, False
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", params["Timestamp"]) or params["Version"] != "2017-05-25":
        return 400, {"Code": "InvalidTimeStamp.Format", "Message": "bad Timestamp or Version", **rid}, {}, False
    if not fake.use_nonce(params["SignatureNonce"]):
        return (
            400,
            {"Code": "SignatureNonceUsed", "Message": "Specified signature nonce was used already.", **rid},
            {},
            False,
        )
    if params["Action"] == "SendSms":
        numbers = params.get("PhoneNumbers", "").split(",")
        json.loads(params.get("TemplateParam") or "{}")
    elif params["Action"] == "SendBatchSms":
        numbers = json.loads(params["PhoneNumberJson"])
        if len(json.loads(params["SignNameJson"])) != len(numbers) or len(numbers) > 100:
            return 200, {"Code": "isv.INVALID_PARAMETERS", "Message": "batch shape", **rid}, {}, False
    else:
        return 400, {"Code": "InvalidAction.NotFound", "Message": params["Action"], **rid}, {}, False
    if len(numbers) > 1000:
        return 200, {"Code": "isv.MOBILE_COUNT_OVER_LIMIT", "Message": "too many numbers", **rid}, {}, False
    e164 = {_e164(n) for n in numbers}
    if e164 & fake.invalid:
        return 200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "invalid mobile number", **rid}, {}, True
    if e164 & fake.throttled:
        return 200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控", **rid}, {}, True
    return 200, {"Code": "OK", "Message": "OK", "BizId": fake.next_id("biz"), **rid}, {}, True


# -- Tencent Cloud SMS -----------------------------------------------------------------------------
def tencent_expected_authorization(req: Incoming, secret_id: str, secret_key: str) -> str:
    timestamp = int(req.headers.get("x-tc-timestamp", "0"))
    day = datetime.fromtimestamp(timestamp, UTC).date().isoformat()
    signed = ["content-type", "host"]
    canonical_headers = "".join(f"{h}:{req.headers.get(h, '').strip().lower()}\n" for h in signed)
    canonical = f"POST\n/\n\n{canonical_headers}\n{';'.join(signed)}\n{hashlib.sha256(req.body).hexdigest()}"
    scope = f"{day}/sms/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("TC3" + secret_key).encode()
    for part in (day, "sms", "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders={';'.join(signed)}, Signature={sig}"


def _tencent(fake: FakeProviders, req: Incoming) -> Handled:
    rid = fake.next_id("tencent-req")

    def error(code: str, message: str) -> Handled:
        return 200, {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": rid}}, {}, False

    if req.headers.get("authorization") != tencent_expected_authorization(req, fake.TENCENT_ID, fake.TENCENT_KEY):
        return error("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
    if req.headers.get("x-tc-action") != "SendSms" or req.headers.get("x-tc-version") != "2021-01-11":
        return error("InvalidAction", "action or version")
    body = req.json() or {}
    numbers = body.get("PhoneNumberSet") or []
    if len(numbers) > 200:
        return error("LimitExceeded.PhoneNumberCountLimit", "more than 200 numbers")
    if not body.get("SmsSdkAppId") or not body.get("TemplateId"):
        return error("MissingParameter", "SmsSdkAppId and TemplateId are required")
    statuses = []
    for n in numbers:
        if n in fake.invalid:
            code, msg = "InvalidParameterValue.IncorrectPhoneNumber", "incorrect number"
        elif n in fake.throttled:
            code, msg = "LimitExceeded.PhoneNumberThirtySecondLimit", "30 second limit"
        else:
            code, msg = "Ok", "send success"
        serial = fake.next_id("serial") if code == "Ok" else ""
        statuses.append(
            {
                "SerialNo": serial,
                "PhoneNumber": n,
                "Fee": 1,
                "SessionContext": body.get("SessionContext", ""),
                "Code": code,
                "Message": msg,
                "IsoCode": "CN",
            }
        )
    return 200, {"Response": {"SendStatusSet": statuses, "RequestId": rid}}, {}, True


# -- WeCom and the official account ---------------------------------------------------------------
def _token_check(fake: FakeProviders, provider: str, req: Incoming) -> Handled | None:
    token = req.query.get("access_token")
    if not token:
        return 200, {"errcode": 41001, "errmsg": "access_token missing"}, {}, False
    state = fake.token_state(provider, token)
    if state == "expired":
        return 200, {"errcode": 42001, "errmsg": "access_token expired"}, {}, False
    if state == "invalid":
        code = 40014 if provider == "wecom" else 40001
        return 200, {"errcode": code, "errmsg": "invalid access_token"}, {}, False
    return None


def _wecom(fake: FakeProviders, req: Incoming) -> Handled:
    path = req.path.removeprefix("/wecom")
    if path == "/cgi-bin/gettoken":
        if req.query.get("corpid") != fake.WECOM_CORP:
            return 200, {"errcode": 40013, "errmsg": "invalid corpid"}, {}, False
        if req.query.get("corpsecret") != fake.WECOM_SECRET:
            return 200, {"errcode": 40001, "errmsg": "invalid credential"}, {}, False
        token = fake.issue_token("wecom")
        return 200, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": fake.token_lifetime_s}, {}, True
    refused = _token_check(fake, "wecom", req)
    if refused:
        return refused
    body = req.json() or {}
    if path == "/cgi-bin/message/send":
        users = str(body.get("touser", "")).split("|")
        if set(users) & fake.throttled:
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}, {}, True
        invalid = [u for u in users if u in fake.invalid]
        if invalid and len(invalid) == len(users):
            return 200, {"errcode": 81013, "errmsg": "user & party & tag all invalid"}, {}, True
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "textcard") or msgtype not in body or "agentid" not in body:
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}, {}, False
        answer = {"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid), "msgid": fake.next_id("wecom-msg")}
        return 200, answer, {}, True
    if path == "/cgi-bin/externalcontact/add_msg_template":
        users = body.get("external_userid") or []
        if not body.get("sender") or not users or len(users) > 10000:
            return 200, {"errcode": 40058, "errmsg": "invalid external_userid or sender"}, {}, False
        if set(users) & fake.throttled:
            return 200, {"errcode": 45033, "errmsg": "api concurrent out of limit"}, {}, True
        fail = [u for u in users if u in fake.invalid]
        return 200, {"errcode": 0, "errmsg": "ok", "fail_list": fail, "msgid": fake.next_id("msgtpl")}, {}, True
    return 404, {"errcode": 404, "errmsg": f"unknown {path}"}, {}, False


def _mp(fake: FakeProviders, req: Incoming) -> Handled:
    path = req.path.removeprefix("/mp")
    if path == "/cgi-bin/token":
        if req.query.get("grant_type") != "client_credential" or req.query.get("appid") != fake.MP_APP:
            return 200, {"errcode": 40013, "errmsg": "invalid appid"}, {}, False
        if req.query.get("secret") != fake.MP_SECRET:
            return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}, {}, False
        return 200, {"access_token": fake.issue_token("mp"), "expires_in": fake.token_lifetime_s}, {}, True
    refused = _token_check(fake, "mp", req)
    if refused:
        return refused
    body = req.json() or {}
    openid = str(body.get("touser", ""))
    if path not in ("/cgi-bin/message/template/send", "/cgi-bin/message/subscribe/bizsend"):
        return 404, {"errcode": 404, "errmsg": f"unknown {path}"}, {}, False
    if not body.get("template_id") or not isinstance(body.get("data"), dict):
        return 200, {"errcode": 47003, "errmsg": "argument invalid"}, {}, False
    if any(not isinstance(v, dict) or "value" not in v for v in body["data"].values()):
        return 200, {"errcode": 47003, "errmsg": "argument invalid! data.value"}, {}, False
    if openid in fake.invalid:
        return 200, {"errcode": 40003, "errmsg": "invalid openid"}, {}, True
    if openid in fake.unfollowed:
        code = 43004 if path.endswith("template/send") else 43101
        return 200, {"errcode": code, "errmsg": "require subscribe"}, {}, True
    if openid in fake.throttled:
        return 200, {"errcode": 45009, "errmsg": "reach max api daily quota limit"}, {}, True
    client_msg_id = body.get("client_msg_id")
    if client_msg_id:
        msgid, _ = fake.once(f"mp:{openid}:{client_msg_id}", lambda: fake.next_id("mpmsg"))
    else:
        msgid = fake.next_id("mpmsg")
    return 200, {"errcode": 0, "errmsg": "ok", "msgid": msgid}, {}, True


# -- webhook receiver ------------------------------------------------------------------------------
def _hook(fake: FakeProviders, req: Incoming) -> Handled:
    if req.path == "/hook/redirect":
        return 302, {"moved": True}, {"Location": "http://169.254.169.254/latest/meta-data/"}, False
    header = req.headers.get("x-touchflow-signature", "")
    if not verify_signature(fake.HOOK_SECRET, header, req.body, fake.now()):
        return 401, {"error": "bad signature"}, {}, False
    return 200, {"ok": True}, {"X-Request-Id": fake.next_id("hook")}, True


_ROUTES = {"sms": _sms, "aliyun": _aliyun, "tencent": _tencent, "wecom": _wecom, "mp": _mp, "hook": _hook}
