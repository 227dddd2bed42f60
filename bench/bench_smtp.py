"""Email over SMTP: N rendered HTML + text emails to a local aiosmtpd, pooled versus a connection each.

    python bench/bench_smtp.py [--count 5000] [--pool 4] [--seed 1] [--batch 100]

1. An aiosmtpd server in its own process (multiprocessing 'spawn', its own event loop) on a free
   loopback port: it accepts everything, notes when each message's DATA completed (by its
   ``X-Touchflow-Message`` header, ``time.monotonic`` is one clock for every process on Linux) and
   counts connections. A separate process, so the server does not share this process's GIL: on a
   2-CPU machine it still competes for the CPUs, which the server's CPU seconds show.
2. ``--count`` seeded newsletters (a contact's name, city and five recommended products) rendered
   with python-liquid to HTML (~6 KB) and text, before the clock starts. Each phase runs in its own
   process so its peak RSS is its own:
   * **baseline**: the naive loop: per message an ``EmailMessage`` (policy SMTP, text + HTML
     alternatives), a new ``smtplib.SMTP`` connection, ``send_message``, ``QUIT``.
   * **touchflow, pool 1**: ``SmtpChannel.send`` in batches of ``--batch`` over one persistent connection.
   * **touchflow, pool N**: the same with ``--pool`` connections used concurrently.
3. Prints emails/s, per-message latency p50/p99 (from handing the message over — the start of its
   ``send`` call, or of its loop iteration — to the server having it), SMTP connections, server CPU
   seconds, peak RSS and the ratio to the baseline; checks that the server got every message once.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from benchlib import log as _log
from benchlib import peak_rss_mb as _peak_rss_mb
from benchlib import percentile

FROM = "news@touchflow.example.com"
HTML = """<!doctype html><html><body style="margin:0;background:#f4f5f7">
<table width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">
<table width="600" style="background:#ffffff;font-family:'PingFang SC','Microsoft YaHei',Arial,sans-serif">
<tr><td style="padding:24px;font-size:20px;color:#1f2937">{{ name }}，您好！</td></tr>
<tr><td style="padding:0 24px;color:#4b5563;line-height:1.7">感谢您一直以来对我们的关注。{{ city }}的春季新品已经上市，
根据您最近浏览的内容，我们为您挑选了以下几款产品，会员专享价限时三天。</td></tr>
{% for p in products %}<tr><td style="padding:12px 24px;border-bottom:1px solid #e5e7eb">
<a href="https://shop.example.cn/p/{{ p.id }}?utm_source=edm&utm_campaign=spring&c={{ contact }}"
 style="color:#2563eb;font-weight:600;text-decoration:none">{{ p.title }}</a>
<div style="color:#6b7280;font-size:14px">{{ p.blurb }}</div>
<div style="color:#dc2626;font-size:16px">¥{{ p.price }} <s style="color:#9ca3af">¥{{ p.list }}</s></div>
</td></tr>{% endfor %}
<tr><td style="padding:24px;color:#9ca3af;font-size:12px;line-height:1.6">您收到这封邮件是因为您订阅了我们的新品资讯。
<a href="https://t.touchflow.example.com/u/{{ token }}" style="color:#9ca3af">退订</a> ·
上海市浦东新区示例路 88 号 · 客服热线 400-000-0000</td></tr>
</table></td></tr></table></body></html>
"""
TEXT = """{{ name }}，您好！

{{ city }}的春季新品已经上市，我们为您挑选了以下几款产品，会员专享价限时三天：
{% for p in products %}
- {{ p.title }}：¥{{ p.price }}（原价 ¥{{ p.list }}）
  https://shop.example.cn/p/{{ p.id }}?utm_source=edm&utm_campaign=spring&c={{ contact }}
{% endfor %}
退订：https://t.touchflow.example.com/u/{{ token }}
"""
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ("伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "杰", "婷", "军", "丽", "涛", "明")
CITIES = ("上海", "北京", "杭州", "深圳", "广州", "成都", "南京", "武汉")
PRODUCTS = ("无线降噪耳机", "智能手表", "便携咖啡机", "空气净化器", "机械键盘", "护眼台灯", "运动水杯", "蓝牙音箱")


def render(count: int, seed: int, phase: str) -> list[Any]:
    """Seeded ``Outgoing`` newsletters; ``phase`` keeps message ids apart between phases."""
    from liquid import Template

    from touchflow.channels.base import Outgoing

    html, text = Template(HTML), Template(TEXT)
    rnd = random.Random(seed)
    out = []
    for n in range(count):
        products = [{"id": rnd.randrange(10_000), "title": rnd.choice(PRODUCTS), "price": rnd.randrange(99, 2999),
                     "list": rnd.randrange(3000, 5999), "blurb": "新品首发，" + rnd.choice(PRODUCTS) + "同款配色"}
                    for _ in range(5)]
        data = {"name": rnd.choice(SURNAMES) + rnd.choice(GIVEN), "city": rnd.choice(CITIES), "products": products,
                "contact": f"c{n:08d}", "token": f"{rnd.getrandbits(128):032x}"}
        out.append(Outgoing(
            message_id=f"{phase}-{n:08d}", idempotency_key=f"{phase}:run{n}:send", contact_id=f"c{n:08d}",
            to=f"reader{n}@example.org", subject=f"{data['name']}，{data['city']}春季新品会员专享价，限时三天",
            text=text.render(**data), html=html.render(**data),
            headers={"List-Unsubscribe": f"<https://t.touchflow.example.com/u/{data['token']}>",
                     "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}))
    return out


# --- the server process -----------------------------------------------------------------------------


def serve(pipe: Connection) -> None:
    """aiosmtpd in this process's event loop; commands over ``pipe``: stats (and reset), stop."""
    from aiosmtpd.smtp import SMTP, Envelope, Session

    times: dict[str, float] = {}
    state = {"connections": 0}

    class Sink:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            raw = envelope.original_content or b""
            start = raw.find(b"X-Touchflow-Message: ") + 21
            times[raw[start:raw.find(b"\r\n", start)].decode()] = time.monotonic()
            return "250 2.0.0 Ok: queued"

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    sink = Sink()

    def factory() -> SMTP:
        state["connections"] += 1
        return SMTP(sink, hostname="bench.local", enable_SMTPUTF8=True, loop=loop)

    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))

    def command() -> None:
        what = pipe.recv()
        if what == "stats":
            cpu = os.times()
            pipe.send({"times": dict(times), "connections": state["connections"], "cpu": cpu.user + cpu.system})
            times.clear()
            state["connections"] = 0
        else:
            loop.stop()

    loop.add_reader(pipe.fileno(), command)
    pipe.send(server.sockets[0].getsockname()[1])
    loop.run_forever()
    server.close()
    loop.run_until_complete(server.wait_closed())
    loop.close()


# --- the measured phases ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    phase: str
    count: int
    seconds: float
    handed: dict[str, float]  # message id → when it was handed over (monotonic)
    peak_rss_mb: float
    statuses: dict[str, int]

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def baseline(port: int, count: int, seed: int) -> Measured:
    """The naive loop: stdlib EmailMessage and a new connection per message."""
    import smtplib
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.policy import SMTP as SMTP_POLICY

    messages = render(count, seed, "baseline")
    handed: dict[str, float] = {}
    started = time.perf_counter()
    for m in messages:
        handed[m.message_id] = time.monotonic()
        email = EmailMessage(policy=SMTP_POLICY)
        email["From"] = Address("触达 Touchflow", addr_spec=FROM)
        email["To"] = m.to
        email["Subject"] = m.subject
        email["X-Touchflow-Message"] = m.message_id
        for name, value in m.headers.items():
            email[name] = value
        email.set_content(m.text)
        email.add_alternative(m.html, subtype="html")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(email)
    seconds = time.perf_counter() - started
    return Measured("baseline (EmailMessage + new connection each)", count, seconds, handed, _peak_rss_mb(),
                    {"sent": count})


def touchflow(port: int, count: int, seed: int, pool: int, batch: int) -> Measured:
    from touchflow.channels.smtp import SmtpChannel, SmtpSettings

    messages = render(count, seed, f"pool{pool}")
    channel = SmtpChannel("email", SmtpSettings(host="127.0.0.1", port=port, security="none", from_address=FROM,
                                                from_name="触达 Touchflow", pool_size=pool,
                                                max_messages_per_connection=1000))
    channel.max_batch = batch
    handed: dict[str, float] = {}
    statuses: dict[str, int] = {}
    try:
        started = time.perf_counter()
        for i in range(0, count, batch):
            chunk = messages[i:i + batch]
            t0 = time.monotonic()
            for m in chunk:
                handed[m.message_id] = t0
            for delivery in channel.send(chunk):
                statuses[delivery.status] = statuses.get(delivery.status, 0) + 1
        seconds = time.perf_counter() - started
    finally:
        channel.close()
    return Measured(f"touchflow SmtpChannel, pool {pool}", count, seconds, handed, _peak_rss_mb(), statuses)


def _in_own_process(fn: Any, *args: object) -> Any:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as workers:
        return workers.apply(fn, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=5000, help="emails per phase (default 5000)")
    parser.add_argument("--pool", type=int, default=4, help="SMTP connections for the pooled phase (default 4)")
    parser.add_argument("--batch", type=int, default=100, help="messages per send() call (default 100)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=serve, args=(theirs,), daemon=True)
    server.start()
    port = ours.recv()
    _log(f"aiosmtpd (pid {server.pid}) on 127.0.0.1:{port}")
    rows = []
    try:
        phases: list[tuple[Any, tuple[object, ...]]] = [(baseline, (port, args.count, args.seed)),
                                                         (touchflow, (port, args.count, args.seed, 1, args.batch))]
        if args.pool > 1:
            phases.append((touchflow, (port, args.count, args.seed, args.pool, args.batch)))
        for fn, fn_args in phases:
            _log(f"{fn.__name__} {fn_args[3:4] or ''} …")
            ours.send("stats")
            cpu_before = ours.recv()["cpu"]  # and reset the server's counters
            measured: Measured = _in_own_process(fn, *fn_args)
            ours.send("stats")
            stats = ours.recv()
            stats["cpu"] -= cpu_before
            rows.append((measured, stats))
            _log(f"  {measured.rate:,.0f} emails/s")
    finally:
        ours.send("stop")
        server.join(10)

    base = rows[0][0]
    print(f"## Email over SMTP: {args.count:,} rendered HTML + text emails per phase (seed {args.seed})\n")
    print(f"aiosmtpd in its own process on 127.0.0.1; batches of {args.batch}; Python {sys.version.split()[0]} on "
          f"{sys.platform}, {os.cpu_count()} CPUs (client and server share them).\n")
    print("| phase | emails | seconds | emails/s | p50 (ms) | p99 (ms) | vs baseline | SMTP connections "
          "| server CPU (s) | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ok = True
    for m, stats in rows:
        times: dict[str, float] = stats["times"]
        latencies = [1000 * (times[k] - t) for k, t in m.handed.items() if k in times]
        ok = ok and len(times) == m.count and set(times) == set(m.handed) and m.statuses == {"sent": m.count}
        ratio = "1.00×" if m is base else f"{m.rate / base.rate:.2f}×"
        print(f"| {m.phase} | {m.count:,} | {m.seconds:.2f} | {m.rate:,.0f} | {percentile(latencies, .5):.1f} "
              f"| {percentile(latencies, .99):.1f} | {ratio} | {stats['connections']:,} | {stats['cpu']:.2f} "
              f"| {m.peak_rss_mb:.0f} |")
    print(f"\n- check: {'the server received every message of every phase once' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
