"""Journey builder in Chromium: time to interactive and frame time while dragging a node of a 200-node journey.

    PYTHONPATH=src python bench/bench_builder.py [--nodes 200] [--runs 3] [--edits 10] [--cold] [--cpu]

Time to interactive: from navigation start to every node drawn on the canvas (``performance.now()`` in the
page). Findings pinned: from the Enter key that applies a side-panel edit making node n5 invalid (its duration
``xx``) to the animation frame after its finding is drawn on the node, then back (``1d``) to the frame after
it is gone; the baseline is a valid edit (``2d``) to the frame after the new YAML is shown (the same round trip,
no finding to draw).
Aim: p95 within 300 ms. Frame time: the intervals between animation frames while the mouse drags one node 600 px in 60
steps; the baseline is the same measurement on an idle page (the screen's own frame rate on this machine).
"""

from __future__ import annotations

import argparse
import secrets
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import log, percentile
from touchflow.api import create_app
from touchflow.bootstrap import Settings, bootstrap
from touchflow.domain.actors import Actor
from touchflow.services import draft_trees
from touchflow.services.accounts import create_user
from touchflow.services.journey_drafts import save_draft
from touchflow.services.sessions import SESSION_COOKIE, open_session

CHROMIUM = "/usr/bin/chromium"
FRAMES = """() => new Promise(resolve => { const t = []; let last = performance.now();
  function tick(now) { t.push(now - last); last = now;
    if (t.length < 120) requestAnimationFrame(tick); else resolve(t); }
  requestAnimationFrame(tick); })"""


ARM = """([node, want]) => { window.__pin = new Promise(resolve => {
  const done = () => (!!document.querySelector(`[data-node-id="${node}"] [data-code]`)) === want;
  const finish = () => requestAnimationFrame(() => resolve(performance.now() - window.__t0));
  if (done()) { finish(); return; }
  new MutationObserver((_, observer) => { if (done()) { observer.disconnect(); finish(); } })
    .observe(document.body, { subtree: true, childList: true, characterData: true }); }); }"""
ARM_YAML = """(text) => { window.__pin = new Promise(resolve => {
  const box = document.querySelector('[data-yaml]');
  new MutationObserver((_, observer) => { if (box.textContent.includes(text)) { observer.disconnect();
    requestAnimationFrame(() => resolve(performance.now() - window.__t0)); } })
    .observe(box, { subtree: true, childList: true, characterData: true }); }); }"""
START_CLOCK = """() => document.addEventListener('keydown',
  e => { if (e.key === 'Enter') window.__t0 = performance.now(); }, true)"""


def edit(page: object, value: str) -> float:
    field = page.locator("#tf-f-n5-duration")  # type: ignore[attr-defined]
    field.fill(value)
    field.press("Enter")
    return float(page.evaluate(  # type: ignore[attr-defined]
        "Promise.race([window.__pin, new Promise((_, no) => setTimeout(() => no(new Error('not drawn')), 10000))])"))


def script_time(profile: dict[str, Any]) -> tuple[float, float]:
    """(ms in the builder bundle's own functions, ms in any script or garbage collection) of a CPU profile."""
    frames = {node["id"]: node["callFrame"] for node in profile["nodes"]}
    bundle = total = 0.0
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        frame = frames[sample]
        if frame["url"].endswith("/builder.js"):
            bundle += delta / 1000
        if frame["functionName"] not in ("(idle)", "(program)"):
            total += delta / 1000
    return bundle, total


def journey(nodes: int) -> str:
    lines = ["key: bench_200", "trigger: {manual: true}", "nodes:"]
    for i in range(nodes - 1):
        lines += [f"  n{i}:", "    kind: wait", "    duration: 1d", f"    next: n{i + 1}"]
    lines += [f"  n{nodes - 1}:", "    kind: exit", "layout:"]
    lines += [f"  n{i}: {{x: {(i % 10) * 240}, y: {(i // 10) * 140}}}" for i in range(nodes)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--cold", action="store_true",
                        help="forget the texts the server answered before each page open (a restarted server)")
    parser.add_argument("--cpu", action="store_true",
                        help="CPU-profile the page during the edits: script time in the builder bundle and in all")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    app = bootstrap(Settings(f"sqlite:///{folder / 'bench.db'}", config_dir=str(folder / "config")))
    app.init_database()
    app.create_secret_key()
    user = create_user(app.services, "bench@example.cn", "Bench", "strategist", secrets.token_urlsafe(24),
                       actor=Actor("os:bench"))
    with app.services.uow() as uow:
        token, _ = open_session(uow, user, "active", app.services.clock.now(), ip=None, user_agent=None)
        uow.commit()
    save_draft(app.services, "bench_200", journey(args.nodes), if_match=None, actor="bench")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(app), log_level="warning", ws="none", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    tti: list[float] = []
    frames: list[float] = []
    idle: list[float] = []
    pinned: list[float] = []
    cleared: list[float] = []
    valid: list[float] = []
    profiled: list[tuple[float, float]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for _ in range(args.runs):
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": url}])
            page = context.new_page()
            if args.cold:
                draft_trees.clear()
            page.goto(f"{url}/journeys/bench_200/builder")
            page.wait_for_function("n => document.querySelectorAll('.react-flow__node').length === n", arg=args.nodes)
            tti.append(page.evaluate("performance.now()"))
            idle += page.evaluate(FRAMES)
            page.evaluate(START_CLOCK)
            page.locator('.react-flow__node[data-id="n5"]').click()
            cdp = context.new_cdp_session(page) if args.cpu else None
            if cdp is not None:
                for method in ("Profiler.enable", "Profiler.start"):
                    cdp.send(method)
            for _ in range(args.edits):
                page.evaluate(ARM_YAML, "  n5:\n    kind: wait\n    duration: 2d\n")
                valid.append(edit(page, "2d"))
                page.evaluate(ARM, ["n5", True])
                pinned.append(edit(page, "xx"))
                page.evaluate(ARM, ["n5", False])
                cleared.append(edit(page, "1d"))
            if cdp is not None:
                profiled.append(script_time(cdp.send("Profiler.stop")["profile"]))
            box = page.locator(".react-flow__node").first.bounding_box()
            assert box is not None
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            measuring = page.evaluate_handle(FRAMES)
            for step in range(60):
                page.mouse.move(x + step * 10, y + step * 3)
            page.mouse.up()
            frames += measuring.json_value()
            context.close()
        browser.close()
    server.should_exit = True
    log(f"{args.nodes} nodes, {args.runs} runs")
    log(f"time to interactive: p50 {percentile(tti, 0.5):.0f} ms, max {max(tti):.0f} ms")
    log(f"findings pinned after an edit ({len(pinned)} edits): p50 {percentile(pinned, 0.5):.0f} ms, "
        f"p95 {percentile(pinned, 0.95):.0f} ms; cleared: p50 {percentile(cleared, 0.5):.0f} ms, "
        f"p95 {percentile(cleared, 0.95):.0f} ms (baseline, a valid edit to its YAML shown: p50 "
        f"{percentile(valid, 0.5):.0f} ms, p95 {percentile(valid, 0.95):.0f} ms)")
    if profiled:
        log(f"script time during the {3 * args.edits} edits of each run (CPU profile): builder bundle "
            f"{', '.join(f'{b:.0f}' for b, _ in profiled)} ms, all script and GC "
            f"{', '.join(f'{t:.0f}' for _, t in profiled)} ms")
    log(f"frame time while dragging: p50 {percentile(frames, 0.5):.1f} ms, p95 {percentile(frames, 0.95):.1f} ms, "
        f"p99 {percentile(frames, 0.99):.1f} ms (idle page: p50 {percentile(idle, 0.5):.1f} ms, "
        f"p95 {percentile(idle, 0.95):.1f} ms)")


if __name__ == "__main__":
    main()
