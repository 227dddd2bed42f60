"""One canvas edit on the server, in process: ``POST /v1/journeys/edit``'s work on a 200-node journey.

    PYTHONPATH=src python bench/bench_builder_edit.py [--nodes 200] [--edits 20]

Each edit sets node n5's duration (alternating ``xx``, an error the schema pins to n5, and ``1d``) on the
text the previous edit answered, as the canvas does. Three timings in the same run:

- baseline: a bare ruamel.yaml round-trip load and dump of the same text (the floor of an exact round trip);
- former sequence: what the route did before (read the text for its limits, round trip, then read the new
  text three more times: schema check with a validator built for the call, ``load_definition``, the graph);
- now: ``edit_and_check`` (the new text read once; the schema validator built once per process and the
  verdicts of unchanged nodes remembered).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_builder import journey
from benchlib import log, percentile
from touchflow.bootstrap import Settings, bootstrap
from touchflow.domain.journeys.document import dump_document, load_document
from touchflow.domain.journeys.edits import apply_ops
from touchflow.domain.journeys.schema import journey_json_schema
from touchflow.domain.safe_yaml import load_yaml
from touchflow.services.context import ServiceContext
from touchflow.services.journey_drafts import edit_and_check, graph_of
from touchflow.services.journeys import load_definition, publish_findings


def _ops(value: str) -> list[object]:
    return [{"op": "set_field", "node": "n5", "path": ["duration"], "value": value}]


def former(ctx: ServiceContext, text: str, value: str) -> str:
    """The route's former sequence, from the same public functions."""
    doc = load_document(text)  # reads it for its limits first, then the ruamel round-trip tree
    apply_ops(doc, _ops(value))
    new = dump_document(doc)
    list(Draft202012Validator(journey_json_schema()).iter_errors(load_yaml(new)))
    try:
        data, definition = load_definition(new)
        with ctx.reader() as uow:
            publish_findings(uow, definition, data, templates_required=True)
    except ValueError:
        pass
    graph_of(new)
    return new


def bare(text: str) -> None:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    rt.dump(rt.load(text), out)


def timed(runs: int, step: Callable[[int], None]) -> list[float]:
    out = []
    for index in range(runs):
        started = time.perf_counter()
        step(index)
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    app = bootstrap(Settings(f"sqlite:///{folder / 'bench.db'}", config_dir=str(folder / "config")))
    app.init_database()
    ctx = app.services
    start = journey(args.nodes)
    values = ("xx", "1d")
    state = {"former": start, "now": start}

    def run_former(i: int) -> None:
        state["former"] = former(ctx, state["former"], values[i % 2])

    def run_now(i: int) -> None:
        edited = edit_and_check(ctx, state["now"], _ops(values[i % 2]))
        assert any(f.node == "n5" for f in edited.findings) == (i % 2 == 0)
        state["now"] = edited.text

    base = timed(args.edits, lambda _: bare(start))
    before = timed(args.edits, run_former)
    after = timed(args.edits, run_now)
    assert state["former"] == state["now"]
    log(f"{args.nodes} nodes, {args.edits} edits, {len(start)} bytes")
    for name, found in (("baseline, bare ruamel load+dump", base), ("former sequence", before),
                        ("edit_and_check", after)):
        log(f"{name}: p50 {percentile(found, 0.5):.0f} ms, p95 {percentile(found, 0.95):.0f} ms")


if __name__ == "__main__":
    main()
