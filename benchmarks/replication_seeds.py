"""Do the replications pass on any seed? Each replication refitted over seeds 1..N.

    python benchmarks/replication_seeds.py [--names obsscaling,chinchilla] [--seeds 10]

One fresh process per (replication, seed), defaults otherwise. Writes
``replication_seeds.jsonl`` and ``replication_seeds.md`` under ``--out``: per replication, the
seeds whose checks all pass (the 0-divergence and R-hat checks among them), the largest
divergence count and R-hat, the smallest bulk ESS.
"""

from __future__ import annotations

import pandas as pd
from fresh_process import collect


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
    collected = collect(__file__, __doc__, ("names", "NAME"), "obsscaling", run_one,
                        "replication_seeds.jsonl", "name", label={"passed": False})
    if collected is None:
        return
    out, _, records = collected
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
