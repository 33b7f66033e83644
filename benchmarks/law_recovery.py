"""Law library recovery over seed offsets: how far each law's truth lies from its posterior.

    python benchmarks/law_recovery.py [--seeds 20] [--laws NAME,...] [--out DIR]

For each case of ``tests/test_law_library.py`` and seed offset k = 0 .. seeds-1 (the test's
seed under ``BAYESCALE_TEST_SEED_OFFSET=k``), one fit (one fresh process per case, as pytest
fits them one after another in one process), recording the sampling diagnostics and, per
checked parameter, the truth's posterior z-score
``(truth - mean) / sd`` (on the log scale for positive parameters: ``truth_z``) and its
quantile in the draws. The test's tolerances are set from ``law_recovery.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from results_io import read_jsonl

ROOT = Path(__file__).resolve().parents[1]


def run_one(name: str, seed: int) -> dict:
    """Case ``name`` under seed offset ``seed - 1`` (offset 0 = the test's own seed)."""
    warnings.simplefilter("ignore")
    sys.path.insert(0, str(ROOT))
    from tests.conftest import seed_at, truth_z
    from tests.test_law_library import CASES, fit_case

    case = CASES[name]
    offset = seed - 1
    fit = fit_case(case, seed=seed_at(3, offset))
    d = fit.diagnostics
    truth = {**case["truth"], **case.get("extra_truth", {})}
    checks = {}
    for param in case["check"]:
        draws = fit.posterior[param].values.ravel()
        checks[param] = {"z": truth_z(draws, truth[param]),
                         "quantile": float(np.mean(draws < truth[param]))}
    return {"law": name, "seed": seed, "offset": offset, "divergences": d.divergences,
            "max_rhat": d.max_rhat, "min_ess_bulk": d.min_ess_bulk, "checks": checks}


def summarise(records: list[dict]) -> pd.DataFrame:
    rows = []
    for name, part in pd.DataFrame(records).groupby("law", sort=False):
        ok = part.dropna(subset=["divergences"])
        z = np.array([abs(c["z"]) for checks in ok["checks"] for c in checks.values()])
        q = np.array([c["quantile"] for checks in ok["checks"] for c in checks.values()])
        outside99 = int(np.sum((q < 0.005) | (q > 0.995)))
        rows.append({
            "case": name, "offsets": len(part), "errors": int(part["divergences"].isna().sum()),
            "max divergences": int(ok["divergences"].max()),
            "offsets with divergences": int((ok["divergences"] > 0).sum()),
            "max R-hat": f"{ok['max_rhat'].max():.3f}",
            "offsets R-hat > 1.02": int((ok["max_rhat"] >= 1.02).sum()),
            "checks": len(z), "outside 99% interval": outside99,
            "max |z|": round(float(z.max()), 2) if len(z) else np.nan,
        })
    return pd.DataFrame(rows)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.test_law_library import CASES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--laws", default="", help="comma-separated case names")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--append", action="store_true", help="skip what the jsonl has")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:       # the fresh process of one case: every offset, one JSON line each
        for seed in range(1, args.seeds + 1):
            print(json.dumps(run_one(args.case, seed)), flush=True)
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "law_recovery.jsonl"
    records = read_jsonl(log) if args.append and log.exists() else []
    with log.open("a" if args.append else "w") as handle:
        for name in args.laws.split(",") if args.laws else list(CASES):
            if sum(r["law"] == name for r in records) >= args.seeds:
                continue
            records = [r for r in records if r["law"] != name]
            proc = subprocess.run([sys.executable, __file__, "--case", name, "--seeds",
                                   str(args.seeds)], capture_output=True, text=True, check=False)
            lines = [json.loads(line) for line in proc.stdout.splitlines()
                     if line.startswith("{")]
            if proc.returncode:
                print(name, proc.stderr.strip().splitlines()[-1:], file=sys.stderr)
            for record in lines:
                records.append(record)
                handle.write(json.dumps(record) + "\n")
            handle.flush()
            print(name, len(lines), "offsets", file=sys.stderr)
    table = summarise(records)
    from bayescale.report import frame_table

    header = ("# Law library recovery over seed offsets (one fresh process per case)\n\n"
              "z: (truth - posterior mean) / posterior sd, on the log scale for positive "
              "parameters; "
              "99% interval: the equal-tailed one the test used to check.\n")
    (out / "law_recovery.md").write_text(header + "\n" + frame_table(table) + "\n")
    print(frame_table(table))


if __name__ == "__main__":
    main()
