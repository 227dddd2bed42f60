"""``touchflow worker`` freezes its start-up heap (touchflow/heap.py) before it starts working, as ``serve`` does:
a full collection during a batch then no longer walks the imported and wired objects."""

from __future__ import annotations

import base64
import gc
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from touchflow.bootstrap import bootstrap
from touchflow.cli import app as cli
from touchflow.config import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    yield
    gc.unfreeze()  # the rest of the test process is not frozen
    signal.signal(signal.SIGTERM, handlers[0])  # the worker installed its own
    signal.signal(signal.SIGINT, handlers[1])


def test_the_worker_freezes_once_wired_and_still_stops_on_sigterm(unfrozen: None, tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'worker.db').as_posix()}"
    made = bootstrap(Settings(url, config_dir=str(tmp_path)))
    made.init_database()
    made.close()
    env = {"TOUCHFLOW_DATABASE_URL": url,
           "TOUCHFLOW_SECRET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode()}  # made here
    seen: list[int] = []

    def stop_once_frozen() -> None:
        """SIGTERM the worker once its heap is frozen (or after a minute without: the test then fails)."""
        give_up = time.monotonic() + 60
        while gc.get_freeze_count() == 0 and time.monotonic() < give_up:
            time.sleep(0.05)
        seen.append(gc.get_freeze_count())
        time.sleep(0.2)  # let it tick while frozen
        os.kill(os.getpid(), signal.SIGTERM)

    assert gc.get_freeze_count() == 0
    stopper = threading.Thread(target=stop_once_frozen, daemon=True)
    stopper.start()
    result = CliRunner().invoke(cli, ["worker", "--idle-sleep", "0.01"], env=env)
    stopper.join(5)
    assert result.exit_code == 0, result.output
    assert "worker stopped" in result.output
    assert seen and seen[0] > 1000  # the wired application, not a handful of objects
