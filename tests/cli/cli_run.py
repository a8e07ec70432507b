"""Run `explorer` as a user would: a child process, wide enough that tables do not wrap."""

from __future__ import annotations

import os
import subprocess
import sys

ENV = {**os.environ, "COLUMNS": "200"}


def run(*args, check=False, timeout=900):
    proc = subprocess.run(
        [sys.executable, "-m", "explorer.cli", *args], capture_output=True, text=True, env=ENV, timeout=timeout
    )
    if check and proc.returncode:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc
