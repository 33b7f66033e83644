"""Run one measurement of a benchmark script in a fresh Python process (imports, compilation
and sampling all counted, no state shared between measurements)."""

from __future__ import annotations

import json
import subprocess
import sys


def run_fresh(script: str, *args: str, label: dict) -> dict:
    """``python script --one *args``; its last stdout line parsed as JSON, or ``label`` with
    the last line of stderr under ``"error"`` when the process failed."""
    proc = subprocess.run([sys.executable, script, "--one", *args], capture_output=True,
                          text=True, check=False)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {**label, "error": proc.stderr.strip().splitlines()[-1:]}
