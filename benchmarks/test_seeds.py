"""How often each statistical test fails when its seeds change.

    python benchmarks/test_seeds.py [--offsets 20] [--first 1] [--out DIR] [-k EXPR]

Runs the tests marked ``statistical`` (assertions about draws: coverage, recovery, calibration,
convergence of a real-data fit) once per seed offset ``first..N`` (default ``1..N``)
(``BAYESCALE_TEST_SEED_OFFSET``; every seed of a simulation or fit in those tests goes through
``tests.conftest.seed_for``), and tabulates failures per test. Offset 0 is the suite's own run.
Writes ``test_seeds.md`` and ``test_seeds.json`` under ``--out``. The failure rates are quoted
in the tests' docstrings.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(offset: int, expr: str | None) -> dict[str, str]:
    """``{test id: "passed" | "failed" | "error" | "skipped"}`` for one seed offset."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        cmd = [sys.executable, "-m", "pytest", "-m", "statistical", "-q", "-p",
               "no:cacheprovider", f"--junitxml={report}"]
        if expr:
            cmd += ["-k", expr]
        env = dict(os.environ, BAYESCALE_TEST_SEED_OFFSET=str(offset))
        subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        outcome = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            name = f"{case.get('classname')}::{case.get('name')}"
            kinds = {child.tag for child in case}
            outcome[name] = ("failed" if "failure" in kinds else "error" if "error" in kinds
                             else "skipped" if "skipped" in kinds else "passed")
        return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offsets", type=int, default=20, help="the last offset")
    parser.add_argument("--first", type=int, default=1, help="the first offset")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("-k", dest="expr", default=None, help="pytest -k expression")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, str]] = defaultdict(dict)
    start = time.perf_counter()
    for offset in range(args.first, args.offsets + 1):
        for name, status in run(offset, args.expr).items():
            results[name][offset] = status
        done = sum(s != "passed" for r in results.values() for s in r.values())
        print(f"offset {offset}: {len(results)} tests, {done} failures so far", file=sys.stderr)
        write_tables(out, results, f"{args.first}-{offset}", time.perf_counter() - start)
    print((out / "test_seeds.md").read_text())


def write_tables(out: Path, results: dict[str, dict[int, str]], offsets: str,
                 seconds: float) -> None:
    """``test_seeds.json`` and ``test_seeds.md``: failures per test over the offsets so far."""
    rows = []
    for name, by_offset in sorted(results.items()):
        bad = sorted(o for o, s in by_offset.items() if s != "passed")
        rows.append({"test": name, "runs": len(by_offset), "failures": len(bad),
                     "failed offsets": ", ".join(map(str, bad))})
    (out / "test_seeds.json").write_text(json.dumps(rows, indent=2))
    lines = [f"# Statistical tests under seed offsets {offsets} ({seconds:.0f} s)", "",
             "| test | runs | failures | failed offsets |", "|---|---|---|---|"]
    lines += [f"| `{r['test']}` | {r['runs']} | {r['failures']} | {r['failed offsets']} |"
              for r in rows]
    (out / "test_seeds.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
