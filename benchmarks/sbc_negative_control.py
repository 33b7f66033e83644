"""Power of the SBC negative control in tests/test_sbc.py, over seed offsets.

    python benchmarks/sbc_negative_control.py [--first 0] [--last 20] [--out DIR]

The control simulates 20 runs of ``power_law:C`` with log alpha ~ N(log 0.3, 1) and fits them
with a wrong prior, N(log 0.3 + 1, 0.3); SBC must reject log alpha's rank uniformity
(p < 0.001) with the true values ranking low (mean rank < 0.42). For each seed offset k
(the test's seeds under ``BAYESCALE_TEST_SEED_OFFSET=k``) it records the p-value and mean
rank of log alpha with 30 and with 60 simulations, in ``sbc_negative_control.jsonl`` and
``sbc_negative_control.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
from results_io import read_jsonl

ROOT = Path(__file__).resolve().parents[1]

SIMULATIONS = (30, 60)
P_MIN = 1e-3
MAX_MEAN_RANK = 0.42


def run_offset(offset: int) -> dict:
    """The test's negative control under seed offset ``offset``, at each of SIMULATIONS."""
    sys.path.insert(0, str(ROOT))
    from tests.conftest import seed_at
    from tests.test_sbc import negative_control, power_law_design

    design = power_law_design(seed_at(1, offset))
    out: dict = {"offset": offset}
    for n in SIMULATIONS:
        table = negative_control(design, n, seed_at(22, offset))
        out[str(n)] = (float(table.loc["log_alpha", "p_value"]),
                       float(table.loc["log_alpha", "mean_rank"]))
    return out


def table(records: list[dict]) -> str:
    lines = ["# SBC negative control over seed offsets", "",
             f"Rejected: p(log alpha) < {P_MIN:g} and mean rank < {MAX_MEAN_RANK} "
             "(the test's checks).",
             "", "| simulations | offsets | rejected | largest p | largest mean rank |",
             "|---:|---:|---:|---:|---:|"]
    for n in SIMULATIONS:
        p = np.array([r[str(n)][0] for r in records])
        rank = np.array([r[str(n)][1] for r in records])
        ok = int(np.sum((p < P_MIN) & (rank < MAX_MEAN_RANK)))
        lines.append(f"| {n} | {len(records)} | {ok} | {p.max():.2g} | {rank.max():.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--last", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--table-only", action="store_true", help="tabulate the stored jsonl")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "sbc_negative_control.jsonl"
    if not args.table_only:
        with log.open("w") as handle:
            for offset in range(args.first, args.last + 1):
                handle.write(json.dumps(run_offset(offset)) + "\n")
                handle.flush()
    records = read_jsonl(log)
    (out / "sbc_negative_control.md").write_text(table(records))
    print(table(records))


if __name__ == "__main__":
    main()
