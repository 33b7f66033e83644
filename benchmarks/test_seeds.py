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


def run(offset: int, expr: str | None) -> dict[str, tuple[str, dict[str, float]]]:
    """``{test id: (status, recorded)}`` for one seed offset: status ``"passed" | "failed" |
    "error" | "skipped"``; recorded, the numbers the test gave ``record_property`` (e.g. the
    z-score it asserted on)."""
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
            recorded = {p.get("name"): float(p.get("value")) for p in case.iter("property")}
            outcome[name] = ("failed" if "failure" in kinds else "error" if "error" in kinds
                             else "skipped" if "skipped" in kinds else "passed", recorded)
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
    results: dict[str, dict[int, tuple[str, dict[str, float]]]] = defaultdict(dict)
    start = time.perf_counter()
    for offset in range(args.first, args.offsets + 1):
        for name, status in run(offset, args.expr).items():
            results[name][offset] = status
        done = sum(s != "passed" for r in results.values() for s, _ in r.values())
        print(f"offset {offset}: {len(results)} tests, {done} failures so far", file=sys.stderr)
        write_tables(out, results, f"{args.first}-{offset}", time.perf_counter() - start)
    print((out / "test_seeds.md").read_text())


def write_tables(out: Path, results: dict[str, dict[int, tuple[str, dict[str, float]]]],
                 offsets: str, seconds: float) -> None:
    """``test_seeds.json`` and ``test_seeds.md``: failures per test over the offsets so far,
    and the largest |value| of each number the tests recorded."""
    rows = []
    for name, by_offset in sorted(results.items()):
        bad = sorted(o for o, (s, _) in by_offset.items() if s != "passed")
        recorded: dict[str, float] = {}
        for _, values in by_offset.values():
            for key, value in values.items():
                recorded[key] = max(recorded.get(key, 0.0), abs(value))
        rows.append({"test": name, "runs": len(by_offset), "failures": len(bad),
                     "failed offsets": ", ".join(map(str, bad)),
                     "largest |recorded|": ", ".join(f"{k} {v:.2f}"
                                                     for k, v in recorded.items())})
    (out / "test_seeds.json").write_text(json.dumps(rows, indent=2))
    lines = [f"# Statistical tests under seed offsets {offsets} ({seconds:.0f} s)", "",
             "| test | runs | failures | failed offsets | largest \\|recorded\\| |",
             "|---|---|---|---|---|"]
    lines += [f"| `{r['test']}` | {r['runs']} | {r['failures']} | {r['failed offsets']} | "
              f"{r['largest |recorded|']} |" for r in rows]
    (out / "test_seeds.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
