"""HTTP ingest through N API processes (bench_scaleout.py's ingest workload).

Each API server is ``touchflow serve --no-worker --write-slots S`` in its own process, as docs/deploy.md runs
them; the database URL and the key ring file reach it through the environment (``TOUCHFLOW_DATABASE_URL``,
``TOUCHFLOW_SECRET_KEY_FILE``), never its command line. The load comes from one more process: ``concurrency``
async clients posting batches of bench_ingest's synthetic events to ``POST /v1/events``, each request to the
next server in turn, for ``seconds``. Afterwards every acknowledged event id is looked up in the database.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bench_ingest
from benchlib import log

SOURCE = bench_ingest.HTTP_SOURCE


def prepare(url: str, pool: int) -> str:
    """Migrate, make the key ring (in ``TOUCHFLOW_SECRET_KEY_FILE``), seed ``pool`` contacts; returns an API key."""
    return bench_ingest.prepare(url, pool)


def start_servers(url: str, count: int, write_slots: int, workdir: Path) -> list[tuple[str, Any]]:
    """``count`` API servers on free loopback ports: [(base URL, process)]."""
    env = {**os.environ, "TOUCHFLOW_DATABASE_URL": url}  # the key file's path is already in os.environ
    touchflow = shutil.which("touchflow", path=str(Path(sys.executable).parent)) or "touchflow"
    servers: list[tuple[str, Any]] = []
    for k in range(count):
        port = bench_ingest.free_port()
        command = [touchflow, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker",
                   "--write-slots", str(write_slots), "--log-level", "warning", "--no-access-log"]
        with (workdir / f"server{k}.log").open("wb") as out:
            servers.append((f"http://127.0.0.1:{port}",
                            subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)))
    for base, process in servers:
        bench_ingest.wait_healthy(base, process, timeout=120)
    return servers


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def stop_servers(servers: list[tuple[str, Any]]) -> None:
    for _, process in servers:
        bench_ingest.stop_server(process)


async def _load(bases: list[str], key: str, seconds: float, batch: int, concurrency: int, pool: int,
                prefix: str) -> dict[str, Any]:
    import httpx
    import orjson

    maker = bench_ingest.EventMaker(1, prefix, pool)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "X-Touchflow-Source": SOURCE}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    clients = [httpx.AsyncClient(base_url=b, limits=limits, timeout=120.0) for b in bases]
    turn = itertools.cycle(range(len(clients)))
    found: dict[str, Any] = {"requests": [0] * len(bases), "stored": 0, "duplicates": 0, "rejected": 0,
                             "retries": 0, "failures": {}, "latencies": [], "acked": []}
    deadline = time.perf_counter() + seconds

    async def post(client: Any, body: bytes) -> Any:
        response = await client.post("/v1/events", content=body, headers=headers)
        for _ in range(3):  # 503: writers clashed; a client retries (ids make it idempotent)
            if response.status_code != 503:
                break
            found["retries"] += 1
            await asyncio.sleep(0.05)
            response = await client.post("/v1/events", content=body, headers=headers)
        return response

    async def client_loop() -> None:
        while time.perf_counter() < deadline:
            server = next(turn)
            body = orjson.dumps({"events": maker.batch(batch)})
            sent = time.perf_counter()
            try:
                response = await post(clients[server], body)
            except httpx.HTTPError as exc:
                found["failures"][type(exc).__name__] = found["failures"].get(type(exc).__name__, 0) + 1
                continue
            found["latencies"].append(time.perf_counter() - sent)
            found["requests"][server] += 1
            if response.status_code not in (200, 207):
                label = f"HTTP {response.status_code}"
                found["failures"][label] = found["failures"].get(label, 0) + 1
                continue
            result = orjson.loads(response.content)
            found["stored"] += result["accepted"]
            found["duplicates"] += result["duplicates"]
            found["rejected"] += len(result["rejected"])
            found["acked"].extend(r["id"] for r in result["results"] if r["status"] in ("stored", "duplicate"))

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    found["elapsed"] = time.perf_counter() - started
    found["client_cpu"] = (time.process_time() - cpu) / found["elapsed"]  # share of one core
    for client in clients:
        await client.aclose()
    return found


def _client_process(bases: list[str], key: str, options: dict[str, Any], out: Any) -> None:
    out.put(asyncio.run(_load(bases, key, **options)))


def run(url: str, key: str, processes: int, workdir: Path, *, seconds: float, batch: int = 500,
        concurrency: int = 8, pool: int = 10_000, write_slots: int = 4) -> dict[str, Any]:
    """Start ``processes`` API servers on ``url``, load them from a client process, stop them, check storage."""
    servers = start_servers(url, processes, write_slots, workdir)
    try:
        log(f"  {processes} API server(s) healthy; loading for {seconds:.0f} s")
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        options = {"seconds": seconds, "batch": batch, "concurrency": concurrency, "pool": pool,
                   "prefix": f"n{processes}"}
        client = ctx.Process(target=_client_process, args=([b for b, _ in servers], key, options, out))
        before = [cpu_seconds(p.pid) for _, p in servers]
        client.start()
        found: dict[str, Any] = out.get()
        client.join()
        found["server_cpu"] = [(cpu_seconds(p.pid) - b) / found["elapsed"] for (_, p), b in zip(servers, before,
                                                                                              strict=True)]
    finally:
        stop_servers(servers)
    rows, missing = bench_ingest.verify(url, set(found["acked"]))
    found.update(rows=rows, missing=missing, acked=len(found["acked"]))
    return found
