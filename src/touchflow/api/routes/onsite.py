"""``/v1/onsite``: the website snippet (官网弹窗) and the endpoints it calls from visitors' browsers.

Add to every page of a site made with ``touchflow site create www.example.cn --origin https://www.example.cn``::

    <script src="https://touchflow.example.cn/v1/onsite/snippet.js" data-api="https://touchflow.example.cn"
            data-site-key="tf_…" async></script>

The site key sits in page source for anyone to read. With it a caller may create and enrich *anonymous*
visitors (``anon:<id>``) and see and act on their own pop-ups, nothing more; linking a visitor to a person
needs an identify token signed by the site's backend (``touchflow.onsite_token``), else the identifier is
kept only as an unverified claim. No answer carries a contact id. Checks (``api/onsite_gate.py``): rate limits
per IP and per site (429 with ``Retry-After``), the key, and the browser's ``Origin`` against the site's
origins; CORS answers name only those. Requests are "simple" (GET, or POST with text/plain), so no preflight
is needed; OPTIONS is answered anyway.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.auth import ApiKeyCache
from touchflow.api.onsite_gate import Admitted, OnsiteGate, OnsiteLimits, SecretSealing, problem
from touchflow.api.permissions import public
from touchflow.api.routes import ApiState, api_state, json_response, read_body
from touchflow.domain.errors import FieldError
from touchflow.services.onsite import PopupNotFound, pending_popups, report_popup
from touchflow.services.onsite_identify import (
    IdentifyTokenError,
    VisitorLinkedElsewhere,
    claim_identity,
    link_visitor,
)

__all__ = ["SNIPPET", "install", "router"]

router = APIRouter(prefix="/v1/onsite", tags=["onsite"])
_VISITOR_DOC = "the visitor: anon:<id from the snippet>"

# Dependency-free; renders text with textContent only (never as HTML), so a pop-up cannot inject script.
SNIPPET = r"""(function(){
var s=document.currentScript;if(!s||window.touchflow)return;
var key=s.getAttribute("data-site-key")||"",api=(s.getAttribute("data-api")||"").replace(/\/+$/,"");
var every=(+s.getAttribute("data-poll")||30)*1000,base=api+"/v1/onsite",vid,shown={},open=false;
function rid(){return window.crypto&&crypto.randomUUID?crypto.randomUUID():
Date.now().toString(36)+Math.random().toString(36).slice(2)}
try{vid=localStorage.getItem("tf_vid")}catch(e){}if(!vid){vid=rid();save()}
function q(){return "?key="+encodeURIComponent(key)+"&visitor="+encodeURIComponent("anon:"+vid)}
function post(path,body){return fetch(base+path+q(),{method:"POST",headers:{"Content-Type":"text/plain"},
body:body?JSON.stringify(body):"",keepalive:true}).catch(function(){})}
function el(tag,css,text){var n=document.createElement(tag);n.style.cssText=css;
if(text)n.textContent=text;return n}
function act(p,a){return post("/popups/"+encodeURIComponent(p.id)+"/"+a)}
function show(p){
open=true;shown[p.id]=1;
var back=el("div","position:fixed;inset:0;background:rgba(0,0,0,.45);z-index:2147483647;"+
"display:flex;align-items:center;justify-content:center");
var box=el("div","background:#fff;color:#222;max-width:24rem;margin:1rem;padding:1.25rem;"+
"border-radius:8px;font:16px/1.5 system-ui,sans-serif");
box.className="tf-popup";box.setAttribute("role","dialog");box.setAttribute("aria-modal","true");
box.setAttribute("aria-labelledby","tf-popup-title");
var h=el("h2","margin:0 0 .5rem;font-size:1.2rem",p.title);h.id="tf-popup-title";
box.appendChild(h);box.appendChild(el("p","white-space:pre-line;margin:0 0 1rem",p.body));
function close(){document.removeEventListener("keydown",esc);back.remove();open=false}
function dismiss(){act(p,"dismiss");close()}
function esc(e){if(e.key==="Escape")dismiss()}
if(p.url&&/^https?:\/\//i.test(p.url)){var a=el("a","display:inline-block;margin-right:1rem;padding:.4rem 1rem;"+
"background:#1a73e8;color:#fff;border-radius:4px;text-decoration:none","查看 View");
a.href=p.url;a.className="tf-popup-link";a.addEventListener("click",function(){act(p,"click")});box.appendChild(a)}
var x=el("button","padding:.4rem 1rem","关闭 Close");x.type="button";x.className="tf-popup-close";
x.addEventListener("click",dismiss);box.appendChild(x);back.appendChild(box);document.body.appendChild(back);
x.focus();document.addEventListener("keydown",esc);act(p,"impression")}
function poll(){if(open)return Promise.resolve();
return fetch(base+"/pending"+q()).then(function(r){return r.ok?r.json():{items:[]}}).then(function(d){
var p=(d.items||[]).filter(function(i){return !shown[i.id]})[0];if(p)show(p)}).catch(function(){})}
function save(){try{localStorage.setItem("tf_vid",vid)}catch(e){}}
window.touchflow={visitor:function(){return "anon:"+vid},poll:poll,
identify:function(token){return post("/identify",{token:token}).then(function(r){
return poll().then(function(){return !!(r&&r.ok)})})},
reset:function(){vid=rid();shown={};save()}};
if(document.body)poll();else document.addEventListener("DOMContentLoaded",poll);
setInterval(poll,every)})();
"""


def install(app: FastAPI, application: object, limits: OnsiteLimits | None = None) -> None:
    """Mount the router with its gate. Identify secrets open with ``application.secret_box()`` when it has one."""
    state = app.state.touchflow
    assert isinstance(state, ApiState) and isinstance(state.api_keys, ApiKeyCache)
    open_secret = None
    if isinstance(application, SecretSealing):
        def open_secret(sealed: str, context: str) -> dict[str, Any]:
            opened: dict[str, Any] = application.secret_box().open(sealed, context)
            return opened
    app.state.onsite = OnsiteGate(state.services, state.api_keys, limits or OnsiteLimits(), open_secret)
    app.include_router(router)


def _gate(request: Request) -> OnsiteGate:
    gate = request.app.state.onsite
    assert isinstance(gate, OnsiteGate)
    return gate


def _answer(admitted: Admitted, data: object, status: int = 200) -> Response:
    return json_response(data, status, headers={**admitted.headers, "Cache-Control": "no-store"})


async def _admit_visitor(request: Request, key: str | None, visitor: str, cost: float = 1.0) -> Admitted | Response:
    """The site key, the rate limits and CORS (``OnsiteGate.admit``), then the visitor id's shape."""
    admitted = await _gate(request).admit(request, key, cost=cost)
    if not isinstance(admitted, Admitted):
        return admitted
    if visitor.startswith("anon:") and 5 < len(visitor) <= 205:
        return admitted
    return problem(422, "visitor: must be anon:<id> (at most 200 characters)", admitted.headers, "visitor",
                   reason="must be anon:<id>")


@router.get("/snippet.js", summary="The website snippet (no key; < 4 KB)", response_class=Response,
            **public("nothing to protect: the same static script for everyone, rate-limited per IP"))
async def snippet(request: Request) -> Response:
    refused = _gate(request).limit_ip(request)
    if refused is not None:
        return refused
    return Response(SNIPPET, media_type="application/javascript; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=300"})


@router.options("/{path:path}", include_in_schema=False,
                **public("CORS preflight: answers only with the site's allowed origins, rate-limited per IP"))
async def preflight(request: Request, path: str, key: str | None = Query(None)) -> Response:
    del path
    gate = _gate(request)
    refused = gate.limit_ip(request)
    if refused is not None:
        return refused
    secret = (key or "").strip()
    return Response(status_code=204, headers=gate.cors(request, await gate.site_for(secret)))


@router.get("/pending", summary="Pop-ups waiting for this visitor", response_class=Response,
            **public("site key + allowed origin, rate limits; reads only the anonymous visitor's own pop-ups"))
async def pending(request: Request, visitor: str = Query(..., description=_VISITOR_DOC),
                  key: str | None = Query(None, description="the site key"),
                  limit: int = Query(3, ge=1, le=20)) -> Response:
    admitted = await _admit_visitor(request, key, visitor)
    if not isinstance(admitted, Admitted):
        return admitted
    found = await run_in_threadpool(pending_popups, api_state(request).services, visitor, limit)
    return _answer(admitted, {"items": [{"id": p.id, "title": p.title, "body": p.body, "url": p.url,
                                         "status": p.status} for p in found]})


@router.post("/popups/{popup_id}/{action}", summary="Report impression, click or dismiss", response_class=Response,
             **public("site key + allowed origin, rate limits; touches only the visitor's own pop-ups"))
async def popup_action(request: Request, popup_id: str, action: str,
                       visitor: str = Query(..., description=_VISITOR_DOC),
                       key: str | None = Query(None, description="the site key")) -> Response:
    admitted = await _admit_visitor(request, key, visitor)
    if not isinstance(admitted, Admitted):
        return admitted
    state = api_state(request)
    try:
        done = await state.write(report_popup, state.services, popup_id, action, visitor=visitor)
    except FieldError as exc:
        return problem(422, str(exc), admitted.headers, exc.field, "path", exc.reason)
    except PopupNotFound as exc:
        return problem(404, str(exc), admitted.headers)
    return _answer(admitted, {"id": done.popup.id, "status": done.popup.status, "changed": done.changed})


_TOKEN_STATUS = {"malformed": 422, "identifier": 422}


@router.post("/identify", summary="Link this visitor to a person (with the site's token) or record a claim",
             response_class=Response,
             **public("site key + allowed origin, rate limits; linking needs the site backend's signed token"))
async def identify(request: Request, visitor: str = Query(..., description=_VISITOR_DOC),
                   key: str | None = Query(None, description="the site key")) -> Response:
    """Body (JSON, any content type): ``{"token": "<identify token from the site's backend>"}`` links the
    visitor to the person the token names (200 ``linked``); ``{"email": "…"}`` or ``{"phone": "…"}`` without a
    token is recorded as an unverified claim on the anonymous visitor (202 ``claimed``) and links nothing."""
    gate = _gate(request)
    admitted = await _admit_visitor(request, key, visitor, cost=gate.limits.identify_cost)
    if not isinstance(admitted, Admitted):
        return admitted
    try:
        body: Any = orjson.loads(await read_body(request, 16 * 1024) or b"{}")
    except orjson.JSONDecodeError:
        return problem(400, "body is not valid JSON", admitted.headers, "body", "body", "not valid JSON")
    if not isinstance(body, dict):
        body = {}
    state = api_state(request)
    anon_id = visitor[len("anon:"):]
    token = body.get("token")
    if token is not None:
        return await _link(request, gate, admitted, anon_id, token)
    kind = next((k for k in ("email", "phone") if isinstance(body.get(k), str)), None)
    if kind is None:
        return problem(422, 'body must be {"token": "…"} (from the site backend) or {"email": "…"} / '
                            '{"phone": "…"} (recorded as an unverified claim)', admitted.headers, "body", "body",
                       "token, email or phone required")
    try:
        await state.write(claim_identity, state.services, admitted.site, anon_id, f"{kind}:{body[kind]}")
    except FieldError as exc:
        return problem(422, f"{kind}: {exc.reason}", admitted.headers, kind, "body", exc.reason)
    return _answer(admitted, {"status": "claimed", "verified": False}, 202)


async def _link(request: Request, gate: OnsiteGate, admitted: Admitted, anon_id: str, token: object) -> Response:
    if not isinstance(token, str) or not token.strip():
        return problem(422, "token: must be the string the site backend issued", admitted.headers, "token", "body",
                       "must be a string")
    secret = gate.identify_secret(admitted.site)
    if secret is None:
        return problem(503, "this server cannot open the site's identify secret: TOUCHFLOW_SECRET_KEY is unset or "
                                "is not the key the site was created with",
                       admitted.headers)
    state = api_state(request)
    try:
        changed = await state.write(link_visitor, state.services, admitted.site, anon_id, token.strip(), secret)
    except IdentifyTokenError as exc:
        return problem(_TOKEN_STATUS.get(exc.reason, 403), f"token refused ({exc.reason}): {exc.detail}",
                       admitted.headers, "token", "body", exc.reason)
    except VisitorLinkedElsewhere as exc:
        return problem(409, str(exc), admitted.headers, "visitor", "query", "linked to another person")
    except FieldError as exc:
        return problem(422, str(exc), admitted.headers, exc.field, "query", exc.reason)
    return _answer(admitted, {"status": "linked", "verified": True, "changed": changed})
