"""Importing the CLI loads none of the heavy analysis and rendering libraries: scipy/statsmodels (experiments,
alerts), numpy, dlt (connectors) and altair (report charts) are imported by the functions that use them, so every
``touchflow`` command and the worker start without them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import touchflow

HEAVY = ("scipy", "statsmodels", "numpy", "dlt", "altair", "pandas")


def test_importing_the_cli_loads_no_heavy_library() -> None:
    src = str(Path(touchflow.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": src}
    code = ("import json, sys, touchflow.cli\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []

