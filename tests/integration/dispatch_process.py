"""One dispatcher process for the shared-limit tests: ``python -m tests.integration.dispatch_process URL SMS_URL
RATE CONCURRENCY NOW_ISO``. It dispatches the outbox through an ``sms`` channel whose rate and concurrency are
shared through the database (as ``Application.channels`` wires them), until nothing is queued, then exits."""

from __future__ import annotations

import sys
import time
from datetime import datetime

import httpx
from sqlalchemy import func, select

from tests.fakes.providers import FakeProviders
from touchflow.bootstrap import bootstrap
from touchflow.channels.sms import HttpSmsChannel, HttpSmsSettings
from touchflow.clock import VirtualClock
from touchflow.config import Settings
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.dispatcher import Dispatcher
from touchflow.store.channel_limits import shared_limits
from touchflow.store.tables import outbox


def main(url: str, sms_url: str, rate: float, concurrency: int, now: str) -> None:
    app = bootstrap(Settings(url), clock=VirtualClock(datetime.fromisoformat(now)))
    channels = ChannelRegistry()
    channels.add("sms", HttpSmsChannel(HttpSmsSettings(sms_url, FakeProviders.SMS_TOKEN, max_batch=1,
                                                       timeout=httpx.Timeout(5.0))),
                 rate_per_s=rate, concurrency=concurrency, kind="sms_http", limits=shared_limits(app.engine))
    dispatcher = Dispatcher(app.services, batch_size=5, channels=channels, threads=4)
    try:
        while True:
            dispatcher.dispatch_all()
            with app.engine.connect() as c:
                left = c.execute(select(func.count()).select_from(outbox)
                                 .where(outbox.c.status.in_(("queued", "sending")))).scalar_one()
            if not left:
                return
            time.sleep(0.05)
    finally:
        dispatcher.close()
        app.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
