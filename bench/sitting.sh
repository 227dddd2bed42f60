#!/bin/sh
# Every workload of the performance table in one sitting, each with the baseline its script measures in the same
# run: SQLite first, then PostgreSQL. Each script's full output goes to OUT/NAME.log; a line per script to
# OUT/summary.txt (load average before and after, seconds, exit code).
#
#   PG=postgresql://postgres@127.0.0.1:5432/test SEEDED=/data/seg-1m.db bench/sitting.sh OUT
#
# SEEDED: a 1M-contact / 10M-event file from `bench_segments.py --contacts 1000000 --events 10000000
# --save-seeded FILE` (seeding takes ~8 minutes; without it the segments row runs at the 100k / 1M default).
# Sizes are chosen so that the sitting takes about 45 minutes on 2 cores; override them with the variables below.
# ONLY: a space-separated list of step names to run (default: all).
set -u
OUT=${1:?usage: bench/sitting.sh OUTDIR}
PG=${PG:-postgresql://postgres@127.0.0.1:5432/test}
PY=${PYTHON:-python}
IMPORT_SIZE=${IMPORT_SIZE:---contacts 100000 --events 300000}
TRIGGER_EVENTS=${TRIGGER_EVENTS:-200000}
TIMER_RUNS=${TIMER_RUNS:-200000}
RECIPIENTS=${RECIPIENTS:-200000}
TRIGGER_EVENTS_PG=${TRIGGER_EVENTS_PG:-100000}
TIMER_RUNS_PG=${TIMER_RUNS_PG:-50000}
RECIPIENTS_PG=${RECIPIENTS_PG:-50000}
SCALEOUT_SIZE=${SCALEOUT_SIZE:---recipients 10000 --runs 10000}
SOAK_MINUTES=${SOAK_MINUTES:-10}
ONLY=${ONLY:-}
HERE=$(cd "$(dirname "$0")" && pwd)
export PYTHONPATH="$HERE/../src:$HERE:$HERE/..${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"

step() {
    name=$1; shift
    if [ -n "$ONLY" ] && ! echo " $ONLY " | grep -q " $name "; then return 0; fi
    before=$(cut -d' ' -f1-3 /proc/loadavg)
    start=$(date +%s)
    echo "== $name: $*" > "$OUT/$name.log"
    "$PY" -u "$@" >> "$OUT/$name.log" 2>&1
    rc=$?
    echo "$name rc=$rc seconds=$(( $(date +%s) - start )) load_before=[$before] load_after=[$(cut -d' ' -f1-3 /proc/loadavg)]" \
        | tee -a "$OUT/summary.txt"
}

fresh_pg() {  # a fresh, empty database NAME beside the URL's own; prints its URL
    "$PY" - "$PG" "$1" <<'PYEOF'
import sys
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
url, name = make_url(sys.argv[1]), sys.argv[2]
with create_engine(url, isolation_level="AUTOCOMMIT").connect() as c:
    c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    c.execute(text(f'CREATE DATABASE "{name}"'))
print(url.set(database=name).render_as_string(hide_password=False))
PYEOF
}

date -u +"sitting started %Y-%m-%dT%H:%M:%SZ on $(nproc) cores" | tee -a "$OUT/summary.txt"
# SQLite
step import-sqlite "$HERE/bench_import.py" $IMPORT_SIZE
step ingest-sqlite "$HERE/bench_ingest.py" --seconds 20 --baseline-seconds 10
step triggers-sqlite "$HERE/bench_triggers.py" --events "$TRIGGER_EVENTS" --journeys 50 --latency-seconds 30
step timers-sqlite "$HERE/bench_timers.py" --runs "$TIMER_RUNS"
step broadcast-sqlite "$HERE/bench_broadcast.py" --recipients "$RECIPIENTS"
if [ -n "${SEEDED:-}" ]; then
    step segments-sqlite "$HERE/bench_segments.py" --contacts 1000000 --events 10000000 --seeded "$SEEDED" \
        --drain-seconds 600
else
    step segments-sqlite "$HERE/bench_segments.py"
fi
# PostgreSQL
step import-pg "$HERE/bench_import.py" $IMPORT_SIZE --database "$PG"
step ingest-pg "$HERE/bench_ingest.py" --seconds 20 --baseline-seconds 10 --database "$(fresh_pg touchflow_sitting_ingest)"
step triggers-pg "$HERE/bench_triggers.py" --events "$TRIGGER_EVENTS_PG" --journeys 50 --latency-seconds 30 --database "$PG"
step timers-pg "$HERE/bench_timers.py" --runs "$TIMER_RUNS_PG" --database "$PG"
step broadcast-pg "$HERE/bench_broadcast.py" --recipients "$RECIPIENTS_PG" --database "$PG"
step segments-pg "$HERE/bench_segments.py" --database "$PG"
step scaleout-pg "$HERE/bench_scaleout.py" --database "$PG" $SCALEOUT_SIZE
step soak-pg "$HERE/bench_soak.py" --database "$PG" --minutes "$SOAK_MINUTES"
date -u +"sitting ended %Y-%m-%dT%H:%M:%SZ" | tee -a "$OUT/summary.txt"
