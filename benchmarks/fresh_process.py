"""Run one measurement of a benchmark script in a fresh Python process (imports, compilation
and sampling all counted, no state shared between measurements)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from results_io import read_jsonl


def run_fresh(script: str, *args: str, label: dict) -> dict:
    """``python script --one *args``; its last stdout line parsed as JSON, or ``label`` with
    the last line of stderr under ``"error"`` when the process failed."""
    proc = subprocess.run([sys.executable, script, "--one", *args], capture_output=True,
                          text=True, check=False)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {**label, "error": proc.stderr.strip().splitlines()[-1:]}


def parse_args(doc: str, names: tuple[str, str], default: str | None,
               run_one: Callable[[str, int], dict]) -> argparse.Namespace | None:
    """The scripts' shared command line: ``--seeds``, ``--<names[0]>`` (comma-separated),
    ``--out``, ``--append``; ``--one NAME SEED`` (a fresh process) runs ``run_one`` and prints
    its record, returning None."""
    key = names[0]
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(f"--{key}", default=default, help="comma-separated names")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--append", action="store_true",
                        help="add to the existing jsonl (skipping what it has), table of all")
    parser.add_argument("--one", nargs=2, metavar=(names[1], "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return None
    return args


def run_all(script: str, log: Path, key: str, names: list[str], seeds: int, *,
            append: bool, label: dict | None = None) -> list[dict]:
    """Each (name, seed 1..seeds) in a fresh process, one JSON line each in ``log``; with
    ``append``, pairs already in ``log`` are skipped and its records returned with the new."""
    log.parent.mkdir(parents=True, exist_ok=True)
    records = read_jsonl(log) if append and log.exists() else []
    with log.open("a" if append else "w") as handle:
        for name in names:
            for seed in range(1, seeds + 1):
                if any(r.get(key) == name and r.get("seed") == seed for r in records):
                    continue
                record = run_fresh(script, name, str(seed),
                                   label={key: name, "seed": seed, **(label or {})})
                records.append(record)
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                print(json.dumps(record)[:200], file=sys.stderr)
    return records


def collect(script: str, doc: str, option: tuple[str, str], default: str | None,
            run_one: Callable[[str, int], dict], log_name: str, key: str, *,
            names: Callable[[list[str]], list[str]] | None = None,
            label: dict | None = None) -> tuple[Path, list[str], list[dict]] | None:
    """A benchmark's main: parse the command line (``--one`` measures once and returns None),
    then every (name, seed) in a fresh process, logged to ``--out``/``log_name``. ``names``
    maps the comma-separated ``--<option>`` values (empty when not given) to the names run.
    Returns the output folder, the names and every record."""
    args = parse_args(doc, option, default, run_one)
    if args is None:
        return None
    given = getattr(args, option[0])
    chosen = given.split(",") if given else []
    chosen = names(chosen) if names else chosen
    out = Path(args.out)
    return out, chosen, run_all(script, out / log_name, key, chosen, args.seeds,
                                append=args.append, label=label)

