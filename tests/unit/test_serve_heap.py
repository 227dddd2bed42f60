"""``touchflow serve``'s app factory freezes the start-up heap (touchflow/heap.py): garbage made before is collected,
the rest is frozen, so a full collection no longer walks it."""

from __future__ import annotations

import base64
import gc
import os
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from touchflow.heap import freeze_startup_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test process is not frozen


def test_start_up_garbage_is_collected_and_the_rest_frozen(unfrozen: None) -> None:
    garbage = _Node()
    gone = weakref.ref(garbage)
    del garbage
    kept = [_Node()]
    assert gc.get_freeze_count() == 0
    frozen = freeze_startup_heap()
    assert gone() is None  # collected before the freeze, not frozen forever
    assert frozen == gc.get_freeze_count() > 1000
    assert gc.is_tracked(kept[0])


def test_the_serve_factory_freezes(unfrozen: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from touchflow.bootstrap import bootstrap
    from touchflow.cli.serve import EMBEDDED_WORKER_ENV, asgi_app
    from touchflow.config import Settings

    url = f"sqlite:///{(tmp_path / 'serve.db').as_posix()}"
    made = bootstrap(Settings(url, config_dir=str(tmp_path)))
    made.init_database()
    made.close()
    monkeypatch.setenv("TOUCHFLOW_DATABASE_URL", url)
    monkeypatch.setenv("TOUCHFLOW_SECRET_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())  # made here
    monkeypatch.setenv(EMBEDDED_WORKER_ENV, "0")
    assert gc.get_freeze_count() == 0
    asgi_app()
    assert gc.get_freeze_count() > 1000
