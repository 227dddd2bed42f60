"""Local fakes of CRM APIs, modelled on their public docs: HubSpot CRM v3, Salesforce REST, 纷享销客 OpenAPI and a
generic paged JSON API, plus the write-back endpoints (HubSpot batch upsert, Salesforce sObject PATCH, a webhook).

Each enforces its documented auth (bearer token; FxiaoKe's corpAccessToken in the body), its paging and, through
``FakeApiServer``, rate limits (429 + Retry-After) and injected faults. Write-back endpoints dedupe by the
``Idempotency-Key`` header (and per change for the webhook), and count how often each change was applied.
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

from tests.fakes.api_server import ApiRequest, FakeApiServer, Reply

__all__ = ["FakeCrm"]

_UNAUTH: Reply = (401, {"status": "error", "category": "INVALID_AUTHENTICATION"}, {})


class FakeCrm(FakeApiServer):
    HUBSPOT_TOKEN = "pat-na1-test"
    SF_TOKEN = "00Dxx!sf-session"
    FX_APP, FX_SECRET, FX_PERMANENT, FX_CORP = "FSAID_test", "fx-secret", "fx-permanent", "FSCorp1"
    GENERIC_TOKEN, GENERIC_KEY = "generic-token", "generic-key"

    def __init__(self, contacts: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        # canonical records: email, firstname, lastname, phone, modified (ISO), modified_ms, id
        self.contacts = contacts or []
        self.applied: Counter[str] = Counter()  # idempotency key -> times applied (must stay 1)
        self.seen_keys: dict[str, Reply] = {}
        self.crm_state: dict[str, dict[str, Any]] = {}  # id or email -> properties written back
        self.webhook_changes: list[dict[str, Any]] = []
        self.fx_tokens: set[str] = set()
        self.generic_auth = "bearer"
        self._sf_cursors: dict[str, str] = {}
        self.route("GET", "/crm/v3/objects/contacts", self._hs_list)
        self.route("POST", "/crm/v3/objects/contacts/search", self._hs_search)
        self.route("POST", "/crm/v3/objects/contacts/batch/upsert", self._hs_upsert)
        self.route_prefix("GET", "/services/data/v59.0/query", self._sf_query)
        self.route_prefix("PATCH", "/services/data/v59.0/sobjects/", self._sf_patch)
        self.route("POST", "/cgi/corpAccessToken/get/V2", self._fx_token)
        self.route("POST", "/cgi/crm/v2/data/query", self._fx_query)
        for mode in ("page", "offset", "cursor", "link"):
            self.route("GET", f"/generic/{mode}", self._generic)
        self.route("POST", "/hook/writeback", self._hook)

    # --- HubSpot ---------------------------------------------------------------------------------------
    def _hs_row(self, c: dict[str, Any]) -> dict[str, Any]:
        return {"id": c["id"], "properties": {"email": c["email"], "firstname": c.get("firstname"),
                                               "lastname": c.get("lastname"), "phone": c.get("phone"),
                                               "lastmodifieddate": c["modified"], "hs_object_id": c["id"]},
                "createdAt": c["modified"], "updatedAt": c["modified"], "archived": False}

    def _hs_page(self, rows: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
        start = int(after or 0)
        page = rows[start:start + limit]
        body: dict[str, Any] = {"results": [self._hs_row(c) for c in page]}
        if start + limit < len(rows):
            body["paging"] = {"next": {"after": str(start + limit), "link": "?after=" + str(start + limit)}}
        return body

    def _hs_list(self, r: ApiRequest) -> Reply:
        if r.headers.get("authorization") != f"Bearer {self.HUBSPOT_TOKEN}":
            return _UNAUTH
        limit = min(int(r.query.get("limit", 10)), 100)
        return 200, self._hs_page(self.contacts, r.query.get("after"), limit), {}

    def _hs_search(self, r: ApiRequest) -> Reply:
        if r.headers.get("authorization") != f"Bearer {self.HUBSPOT_TOKEN}":
            return _UNAUTH
        body = r.json()
        flt = body["filterGroups"][0]["filters"][0]
        if flt["operator"] != "GTE" or flt["propertyName"] != "lastmodifieddate":
            return 400, {"status": "error", "message": "unsupported filter"}, {}
        rows = sorted((c for c in self.contacts if c["modified"] >= flt["value"]), key=lambda c: c["modified"])
        return 200, {"total": len(rows), **self._hs_page(rows, body.get("after"), min(body.get("limit", 10), 100))}, {}

    def _hs_upsert(self, r: ApiRequest) -> Reply:
        if r.headers.get("authorization") != f"Bearer {self.HUBSPOT_TOKEN}":
            return _UNAUTH
        return self._once(r, lambda: self._apply_inputs(r.json()["inputs"]))

    def _apply_inputs(self, inputs: list[dict[str, Any]]) -> Reply:
        for item in inputs:
            if item.get("idProperty") != "email":
                return 400, {"status": "error", "message": "idProperty must be email"}, {}
            self.crm_state.setdefault(item["id"], {}).update(item["properties"])
        return 200, {"status": "COMPLETE", "results": [{"id": i["id"]} for i in inputs]}, {}

    def _once(self, r: ApiRequest, apply: Any) -> Reply:
        key = r.headers.get("idempotency-key")
        if not key:
            return 400, {"message": "Idempotency-Key header required"}, {}
        if key in self.seen_keys:
            return self.seen_keys[key]
        reply: Reply = apply()
        if reply[0] < 300:
            self.applied[key] += 1
            self.seen_keys[key] = reply
        return reply

    # --- Salesforce --------------------------------------------------------------------------------------
    def _sf_query(self, r: ApiRequest) -> Reply:
        if r.headers.get("authorization") != f"Bearer {self.SF_TOKEN}":
            return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], {}
        if r.path.startswith("/services/data/v59.0/query/"):  # a nextRecordsUrl locator
            offset = int(r.path.rsplit("-", 1)[1])
            soql = self._sf_cursors[r.path.rsplit("/", 1)[1].split("-")[0]]
        else:
            soql, offset = r.query["q"], 0
            self._sf_cursors[str(len(self._sf_cursors))] = soql
        rows = sorted(self.contacts, key=lambda c: c["modified"])
        if ">=" in soql:
            since = soql.split(">=")[1].split()[0]
            rows = [c for c in rows if _sf_time(c["modified"]) >= since]
        page = rows[offset:offset + 2]  # Salesforce batches are large; two keeps the test's pages many
        body: dict[str, Any] = {"totalSize": len(rows), "done": offset + 2 >= len(rows), "records": [
            {"attributes": {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{c['id']}"},
             "Id": c["id"], "Email": c["email"], "LastName": c.get("lastname"),
             "SystemModstamp": _sf_time(c["modified"])} for c in page]}
        if not body["done"]:
            locator = [k for k, v in self._sf_cursors.items() if v == soql][-1]
            body["nextRecordsUrl"] = f"/services/data/v59.0/query/{locator}-{offset + 2}"
        return 200, body, {}

    def _sf_patch(self, r: ApiRequest) -> Reply:
        if r.headers.get("authorization") != f"Bearer {self.SF_TOKEN}":
            return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], {}
        record = r.path.rsplit("/", 1)[1]

        def apply() -> Reply:
            self.crm_state.setdefault(record, {}).update(r.json())
            return 204, b"", {}

        return self._once(r, apply)

    # --- 纷享销客 -----------------------------------------------------------------------------------------
    def _fx_token(self, r: ApiRequest) -> Reply:
        body = r.json()
        if (body.get("appId"), body.get("appSecret"), body.get("permanentCode")) != (
                self.FX_APP, self.FX_SECRET, self.FX_PERMANENT):
            return 200, {"errorCode": 20001, "errorMessage": "app credentials invalid"}, {}
        token = f"fx-token-{len(self.fx_tokens)}"
        self.fx_tokens.add(token)
        return 200, {"errorCode": 0, "errorMessage": "OK", "corpAccessToken": token, "corpId": self.FX_CORP,
                     "expiresIn": 7200}, {}

    def _fx_query(self, r: ApiRequest) -> Reply:
        body = r.json()
        if body.get("corpAccessToken") not in self.fx_tokens or body.get("corpId") != self.FX_CORP:
            return 200, {"errorCode": 20016, "errorMessage": "corpAccessToken invalid"}, {}
        info = body["data"]["search_query_info"]
        offset, limit = int(info["offset"]), int(info["limit"])
        if limit > 100 or offset % limit:
            return 200, {"errorCode": 10001, "errorMessage": "offset must be a multiple of limit, limit ≤ 100"}, {}
        rows = sorted(self.contacts, key=lambda c: c["modified_ms"])
        for f in info.get("filters", []):
            assert f["operator"] == "GTE" and f["field_name"] == "last_modified_time", f
            rows = [c for c in rows if c["modified_ms"] >= int(f["field_values"][0])]
        data = [{"_id": c["id"], "name": f"{c.get('lastname', '')}", "email": c["email"], "mobile": c.get("phone"),
                 "last_modified_time": c["modified_ms"]} for c in rows[offset:offset + limit]]
        return 200, {"errorCode": 0, "errorMessage": "OK", "data": {"dataList": data, "total": len(rows)}}, {}

    # --- a generic paged API -----------------------------------------------------------------------------
    def _generic_auth_ok(self, r: ApiRequest) -> bool:
        if self.generic_auth == "bearer":
            return r.headers.get("authorization") == f"Bearer {self.GENERIC_TOKEN}"
        if self.generic_auth == "api_key":
            return r.headers.get("x-api-key") == self.GENERIC_KEY
        expected = base64.b64encode(b"svc:" + self.GENERIC_KEY.encode()).decode()
        return r.headers.get("authorization") == f"Basic {expected}"

    def _generic(self, r: ApiRequest) -> Reply:
        if not self._generic_auth_ok(r):
            return 401, {"error": "unauthorised"}, {}
        rows = sorted(self.contacts, key=lambda c: c["modified"])
        if "since" in r.query:
            rows = [c for c in rows if c["modified"] >= r.query["since"]]
        items = [{"email": c["email"], "name": c.get("lastname"), "updated_at": c["modified"]} for c in rows]
        mode = r.path.rsplit("/", 1)[1]
        size = 2
        if mode == "page":
            page = int(r.query.get("page", 1))
            return 200, {"items": items[(page - 1) * size:page * size], "total_pages": -(-len(items) // size)}, {}
        if mode == "offset":
            offset, limit = int(r.query.get("offset", 0)), int(r.query.get("limit", size))
            return 200, {"items": items[offset:offset + limit], "total": len(items)}, {}
        start = int(r.query.get("cursor", 0)) if mode == "cursor" else int(r.query.get("from", 0))
        body: dict[str, Any] = {"items": items[start:start + size]}
        more = start + size < len(items)
        if mode == "cursor":
            body["next_cursor"] = str(start + size) if more else None
        else:
            since = f"&since={r.query['since']}" if "since" in r.query else ""  # a next link carries the filter
            body["next"] = f"{self.url}/generic/link?from={start + size}{since}" if more else None
        return 200, body, {}

    # --- a write-back webhook ------------------------------------------------------------------------------
    def _hook(self, r: ApiRequest) -> Reply:
        changes = r.json()["changes"]
        for change in changes:
            key = change["idempotency_key"]
            if key not in self.applied:
                self.webhook_changes.append(change)
            self.applied[key] += 0 if key in self.applied else 1
        return 200, {"accepted": len(changes)}, {}


def _sf_time(iso: str) -> str:
    """``2026-01-02T03:04:05Z`` -> Salesforce's ``2026-01-02T03:04:05.000+0000``."""
    return iso.replace("Z", ".000+0000")
