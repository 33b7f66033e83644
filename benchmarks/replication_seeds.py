"""Do the replications pass on any seed? Each replication refitted over seeds 1..N.

    python benchmarks/replication_seeds.py [--names obsscaling,chinchilla] [--seeds 10]

One fresh process per (replication, seed), defaults otherwise. Writes
``replication_seeds.jsonl`` and ``replication_seeds.md`` under ``--out``: per replication, the
seeds whose checks all pass (the 0-divergence and R-hat checks among them), the largest
divergence count and R-hat, the smallest bulk ESS.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from fresh_process import run_fresh


def run_one(name: str, seed: int) -> dict:
    from bayescale.replications import replicate

    result = replicate(name, seed=seed, progressbar=False)
    d = result.fit.diagnostics
    return {"name": name, "seed": seed, "passed": result.passed,
            "failed_checks": [c.name for c in result.checks if not c.passed],
            "divergences": d.divergences, "max_rhat": d.max_rhat,
            "min_ess_bulk": d.min_ess_bulk, "refits": d.refits,
            "seconds": d.sampling_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", default="obsscaling")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--one", nargs=2, metavar=("NAME", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    with (out / "replication_seeds.jsonl").open("w") as handle:
        for name in args.names.split(","):
            for seed in range(1, args.seeds + 1):
                record = run_fresh(__file__, name, str(seed),
                                   label={"name": name, "seed": seed, "passed": False})
                records.append(record)
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                print(json.dumps(record)[:200], file=sys.stderr)
    frame = pd.DataFrame(records)
    rows = []
    for name, part in frame.groupby("name", sort=False):
        rows.append({"replication": name, "seeds": len(part),
                     "seeds passing every check": int(part["passed"].sum()),
                     "max divergences": part["divergences"].max(),
                     "max R-hat": f"{part['max_rhat'].max():.4f}",
                     "min bulk ESS": int(part["min_ess_bulk"].min()),
                     "seeds refitted": int((part["refits"] > 0).sum()),
                     "median sampling s": round(float(part["seconds"].median()), 1)})
    from bayescale.report import frame_table

    table = frame_table(pd.DataFrame(rows))
    (out / "replication_seeds.md").write_text(
        "# Replications over seeds (defaults, one fresh process per fit, 2 CPU cores)\n\n"
        + table + "\n")
    print(table)


if __name__ == "__main__":
    main()
