"""Builder dry run: latency of one contact through rule A's draft in the sandbox (engine.dry_run).

    PYTHONPATH=src python bench/bench_dry_run.py [--runs 10]

A third figure: the same dry run with the contact opening the email at +5h (the on_event way).
Baseline, in the same run: ``simulate`` of an empty one-persona scenario (a contact that never triggers) on the
same draft, i.e. the sandbox's fixed cost (schema, publish); the ratio says what the contact's path adds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import log, peak_rss_mb, percentile
from touchflow.bootstrap import Settings, bootstrap, open_sandbox
from touchflow.engine.dry_run import dry_run
from touchflow.engine.simulator import load_scenario, simulate
from touchflow.services.content import save_template
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.journey_drafts import save_draft

RULE_A = (Path(__file__).resolve().parents[1] / "examples" / "journeys" / "rule_a_whitepaper.yaml").read_text("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    app = bootstrap(Settings(f"sqlite:///{folder / 'bench.db'}", config_dir=str(folder / "config")))
    app.init_database()
    for name, channel in (("whitepaper_digest", "email"), ("whitepaper_followup_cs", "wecom")):
        save_template(app.services, name, channel, "白皮书精选", "{{ contact.name }}，白皮书。", "text", by="bench")
    upsert_contacts(app.services, "bench", [RawItem({"email": "li@example.cn", "name": "李雷", "wecom": "wm-li"})])
    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="bench")
    idle = load_scenario("personas: [{name: idle}]\nduration: 30d\n")
    base, runs, reacting = [], [], []
    opens = [{"node": "send_digest", "does": "open", "at": "5h"}]
    for _ in range(args.runs):
        began = time.perf_counter()
        simulate([RULE_A], idle, open_store=open_sandbox)
        base.append(time.perf_counter() - began)
        began = time.perf_counter()
        result = dry_run(app.services, "rule_a_whitepaper", "li@example.cn", open_store=open_sandbox)
        runs.append(time.perf_counter() - began)
        assert result.status == "completed", result.status
        began = time.perf_counter()
        result = dry_run(app.services, "rule_a_whitepaper", "li@example.cn", open_store=open_sandbox, reactions=opens)
        reacting.append(time.perf_counter() - began)
        assert result.nodes()["wait_engagement"]["edge"] == "on_event", result.nodes()["wait_engagement"]
    for name, values in (("baseline (sandbox, no path)", base), ("dry run (rule A, one contact)", runs),
                         ("dry run, the contact opens at +5h", reacting)):
        log(f"{name}: p50 {percentile(values, 0.50) * 1000:.0f} ms, p95 {percentile(values, 0.95) * 1000:.0f} ms, "
            f"p99 {percentile(values, 0.99) * 1000:.0f} ms over {len(values)} runs")
    log(f"ratio p50 dry run / baseline: {percentile(runs, 0.50) / percentile(base, 0.50):.2f}; "
        f"throughput {len(runs) / sum(runs):.2f} dry runs/s; peak RSS {peak_rss_mb():.0f} MB")
    app.close()


if __name__ == "__main__":
    main()
