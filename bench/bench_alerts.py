"""Alert quality on simulated traffic (issue 13, A4): catch rate of real drops, false alerts, healthy journeys paused.

    python bench/bench_alerts.py [--journeys 4000] [--seed 13] [--json]

Synthetic daily series with binomial noise, weekday pattern, extra day-to-day jitter and low-volume days
(``touchflow.domain.measurement.alert_calibration``), run through the shipped rule's real decision function.
Pure and seeded: the same seed prints the same figures. Figures for several traffic profiles:

* open rate, the shipped rule (−15 %, 3 days, α = 0.01), drops of 30–60 %, 1,000–20,000 messages a day;
* the same with 3× the day-to-day jitter (overdispersed traffic);
* drops of 15–30 % (just past the threshold: the hard case), and 5–10 % (inside it: must not pause);
* click rate (2–6 %) on 10,000–50,000 messages a day, and on 1,000–20,000 (too little data for 95 %);
* the small-drop profiles again with ``streak_test: each`` (every day significant alone; the rule before ADR
  0034), the baseline the pooled rule is compared with in the same run.
"""

from __future__ import annotations

import argparse
import json
import time

from touchflow.domain.measurement.alert_calibration import Traffic, calibrate
from touchflow.domain.measurement.alert_rules import DEFAULT_RULES, default_rules, parse_rule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    open_rule = default_rules()[0]
    click_rule = parse_rule({**DEFAULT_RULES[0], "name": "click-rate-drop", "metric": "click_rate"})
    open_each = parse_rule({**DEFAULT_RULES[0], "streak_test": "each"})
    click_each = parse_rule({**DEFAULT_RULES[0], "name": "click-rate-drop", "metric": "click_rate",
                             "streak_test": "each"})
    n = args.journeys
    profiles = [
        ("open rate, drops 30–60 %", open_rule, Traffic(journeys=n)),
        ("open rate, 3× jitter", open_rule, Traffic(journeys=n, jitter=0.09)),
        ("open rate, drops 15–30 %", open_rule, Traffic(journeys=n, drop=(0.15, 0.30))),
        ("open rate, drops 5–10 % (inside threshold)", open_rule, Traffic(journeys=n, drop=(0.05, 0.10))),
        ("click rate, 10k–50k/day", click_rule, Traffic(journeys=n, volume=(10_000, 50_000), base_rate=(0.02, 0.06))),
        ("click rate, 1k–20k/day", click_rule, Traffic(journeys=n, base_rate=(0.02, 0.06))),
        ("open rate, drops 15–30 %, 3× jitter", open_rule, Traffic(journeys=n, drop=(0.15, 0.30), jitter=0.09)),
        ("each day alone: open rate, 3× jitter", open_each, Traffic(journeys=n, jitter=0.09)),
        ("each day alone: open rate, drops 15–30 %", open_each, Traffic(journeys=n, drop=(0.15, 0.30))),
        ("each day alone: click rate, 1k–20k/day", click_each, Traffic(journeys=n, base_rate=(0.02, 0.06))),
        ("each day alone: open rate, drops 15–30 %, 3× jitter", open_each,
         Traffic(journeys=n, drop=(0.15, 0.30), jitter=0.09)),
    ]
    rows = []
    for name, rule, traffic in profiles:
        began = time.perf_counter()
        figures = calibrate(rule, traffic, seed=args.seed)
        rows.append({"profile": name, **figures.to_json(), "seconds": time.perf_counter() - began})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{n} journeys × 30 days per profile (after 28 days of baseline), seed {args.seed}\n")
    print("| profile | drops | caught | mean days to catch | healthy | healthy paused | false alerts / month "
          "(all journeys) | warnings | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        delay = "-" if r["mean_days_to_catch"] is None else f"{r['mean_days_to_catch']:.1f}"
        print(f"| {r['profile']} | {r['drops']} | {r['catch_rate']:.1%} | {delay} | {r['healthy']} | "
              f"{r['healthy_paused_share']:.2%} | {r['false_alerts_per_month']:.0f} | {r['warnings']} | "
              f"{r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
