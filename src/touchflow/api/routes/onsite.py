"""``/v1/onsite``: the website snippet (官网弹窗) and the endpoints it calls from visitors' browsers.

Add to every page::

    <script src="https://touchflow.example.cn/v1/onsite/snippet.js" data-api="https://touchflow.example.cn"
            data-site-key="tf_…" async></script>

The site key sits in page source for anyone to read, so these endpoints take only keys named ``site:…``
(``touchflow apikey create site:www.example.cn``), in ``?key=`` or ``X-API-Key``, and a visitor may only ask
for its own anonymous id's pop-ups. Browsers call them cross-origin: answers carry CORS headers for
``app.state.onsite_origins`` (default ``*``). Requests are "simple" (GET, or POST with text/plain), so no
preflight is needed; OPTIONS is answered anyway.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.auth import ApiKeyCache
from touchflow.api.routes import api_state, json_response, read_body
from touchflow.domain.errors import FieldError
from touchflow.services.onsite import PopupNotFound, identify_visitor, pending_popups, report_popup

__all__ = ["SITE_KEY_PREFIX", "SNIPPET", "router"]

router = APIRouter(prefix="/v1/onsite", tags=["onsite"])
SITE_KEY_PREFIX = "site:"
_VISITOR_DOC = "the visitor: anon:<id from the snippet>"

# Dependency-free; renders text with textContent only (never as HTML), so a pop-up cannot inject script.
SNIPPET = r"""(function(){
var s=document.currentScript;if(!s||window.touchflow)return;
var key=s.getAttribute("data-site-key")||"",api=(s.getAttribute("data-api")||"").replace(/\/+$/,"");
var every=(+s.getAttribute("data-poll")||30)*1000,base=api+"/v1/onsite",vid,shown={},open=false;
function rid(){return window.crypto&&crypto.randomUUID?crypto.randomUUID():
Date.now().toString(36)+Math.random().toString(36).slice(2)}
try{vid=localStorage.getItem("tf_vid");if(!vid){vid=rid();localStorage.setItem("tf_vid",vid)}}catch(e){vid=vid||rid()}
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
window.touchflow={visitor:function(){return "anon:"+vid},poll:poll,
identify:function(email){return post("/identify",{email:email}).then(poll)}};
if(document.body)poll();else document.addEventListener("DOMContentLoaded",poll);
setInterval(poll,every)})();
"""


def _origin_headers(request: Request) -> dict[str, str]:
    allowed: list[str] = list(getattr(request.app.state, "onsite_origins", None) or ["*"])
    origin = request.headers.get("origin")
    headers = {"Access-Control-Allow-Methods": "GET, POST, OPTIONS", "Access-Control-Max-Age": "600",
               "Access-Control-Allow-Headers": "Content-Type, X-API-Key", "Vary": "Origin"}
    if "*" in allowed:
        headers["Access-Control-Allow-Origin"] = "*"
    elif origin and origin in allowed:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def _answer(request: Request, data: object, status: int = 200) -> Response:
    return json_response(data, status, headers={**_origin_headers(request), "Cache-Control": "no-store"})


def _problem(request: Request, status: int, detail: str) -> Response:
    return _answer(request, {"detail": detail, "errors": []}, status)


async def _site_key_problem(request: Request, key: str | None) -> Response | None:
    secret = (key or request.headers.get("x-api-key") or "").strip()
    if not secret:
        return _problem(request, 401, "missing site key: pass ?key=<key> (create one with "
                                      "`touchflow apikey create site:<your domain>`)")
    cache = request.app.state.api_keys
    assert isinstance(cache, ApiKeyCache)
    record = await cache.authenticate(secret)
    if record is None:
        return _problem(request, 401, "invalid or revoked site key")
    if not record.name.startswith(SITE_KEY_PREFIX):
        return _problem(request, 403, "this key is not a site key: web pages are public, so the snippet takes "
                                      "only keys named site:… (`touchflow apikey create site:<your domain>`)")
    return None


def _anon(visitor: str) -> bool:
    return visitor.startswith("anon:") and 5 < len(visitor) <= 205


@router.get("/snippet.js", summary="The website snippet (no key; < 4 KB)", response_class=Response)
async def snippet(request: Request) -> Response:
    return Response(SNIPPET, media_type="application/javascript; charset=utf-8",
                    headers={**_origin_headers(request), "Cache-Control": "public, max-age=300"})


@router.options("/{path:path}", include_in_schema=False)
async def preflight(request: Request, path: str) -> Response:
    del path
    return Response(status_code=204, headers=_origin_headers(request))


@router.get("/pending", summary="Pop-ups waiting for this visitor", response_class=Response)
async def pending(request: Request, visitor: str = Query(..., description=_VISITOR_DOC),
                  key: str | None = Query(None, description="the site key"),
                  limit: int = Query(3, ge=1, le=20)) -> Response:
    problem = await _site_key_problem(request, key)
    if problem is not None:
        return problem
    if not _anon(visitor):
        return _problem(request, 422, "visitor: must be anon:<id>")
    found = await run_in_threadpool(pending_popups, api_state(request).services, visitor, limit)
    return _answer(request, {"items": [{"id": p.id, "title": p.title, "body": p.body, "url": p.url,
                                        "status": p.status} for p in found]})


@router.post("/popups/{popup_id}/{action}", summary="Report impression, click or dismiss", response_class=Response)
async def popup_action(request: Request, popup_id: str, action: str,
                       visitor: str = Query(..., description=_VISITOR_DOC),
                       key: str | None = Query(None, description="the site key")) -> Response:
    problem = await _site_key_problem(request, key)
    if problem is not None:
        return problem
    if not _anon(visitor):
        return _problem(request, 422, "visitor: must be anon:<id>")
    state = api_state(request)
    try:
        done = await state.write(report_popup, state.services, popup_id, action, visitor=visitor)
    except FieldError as exc:
        return _problem(request, 422, str(exc))
    except PopupNotFound as exc:
        return _problem(request, 404, str(exc))
    return _answer(request, {"id": done.popup.id, "status": done.popup.status, "changed": done.changed})


@router.post("/identify", summary="Link this anonymous visitor to a person (call after they log in)",
             response_class=Response)
async def identify(request: Request, visitor: str = Query(..., description=_VISITOR_DOC),
                   key: str | None = Query(None, description="the site key")) -> Response:
    """Body (any content type, JSON): ``{"email": "…"}`` or ``{"phone": "…"}``."""
    problem = await _site_key_problem(request, key)
    if problem is not None:
        return problem
    if not _anon(visitor):
        return _problem(request, 422, "visitor: must be anon:<id>")
    try:
        body: Any = orjson.loads(await read_body(request, 16 * 1024) or b"{}")
    except orjson.JSONDecodeError:
        return _problem(request, 400, "body is not valid JSON")
    kind = next((k for k in ("email", "phone") if isinstance(body, dict) and isinstance(body.get(k), str)), None)
    if kind is None:
        return _problem(request, 422, 'body must be {"email": "…"} or {"phone": "…"}')
    state = api_state(request)
    try:
        contact_id = await state.write(identify_visitor, state.services, visitor[len("anon:"):],
                                       f"{kind}:{body[kind]}")
    except FieldError as exc:
        return _problem(request, 422, str(exc))
    return _answer(request, {"contact_id": contact_id})
