"""The published record of extrapolation errors: leave-future-out blocks of every shipped data
set (its natural model) and of each Revisiting-Neural-Scaling-Laws curve.

    python benchmarks/extrapolation_record.py [--workers 2] [--only NAME ...]

For each unit (a data set, or one RNSL curve) :func:`bayescale.extrapolation.leave_future_out`
refits the model at three rolling origins and scores the later runs; each (fold, group) block
(``Fold.blocks(joint=False)``: a fit's own folds use one block per fold over all groups, whose
eigenstatistics do not fit this table's columns; the record keeps the per-group blocks it was
learned from) is stored as its sufficient statistics
(:func:`bayescale.extrapolation.block_stats`) in ``data/extrapolation_record.csv`` (shipped
with the package: the default prior of every fit is learned from it, leave-one-data-set-out in
the backtests).
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

OUT = HERE.parent / "data" / "extrapolation_record.csv"


RECORD_POINTS = 60   # an RNSL curve keeps at most this many log-spaced points in the record


def units() -> list[tuple[str, str, object, pd.DataFrame]]:
    """``(dataset, unit, model, runs)`` for every record unit; RNSL curves (up to 300 dense
    points in image classification) keep at most 60 log-spaced points over their range."""
    from calibration_cases import record_cases, thin_log

    out = []
    for c in record_cases():
        data = c.data
        if c.dataset.startswith("revisiting_nsl") and len(data) > RECORD_POINTS:
            data = thin_log(data, "curve", "x", RECORD_POINTS)
        out.append((c.dataset, c.label, c.model.to_dict(), data))
    return out


def part_path(parts: Path, unit: str) -> Path:
    return parts / (re.sub(r"[^A-Za-z0-9_.-]+", "_", unit) + ".csv")


def one(args: tuple) -> list[dict]:
    dataset, unit, spec, data, parts = args
    done = part_path(parts, unit)
    if done.exists():
        return pd.read_csv(done).to_dict("records")
    warnings.simplefilter("ignore")
    from bayescale import Model
    from bayescale.extrapolation import leave_future_out

    model = Model.from_dict(spec)
    start = time.perf_counter()
    folds = leave_future_out(model, data.reset_index(drop=True), seed=0)
    rows = []
    for fold in folds:
        for block in fold.blocks(1.0 / len(folds), joint=False):
            rows.append({"dataset": dataset, "unit": unit, "link": model.likelihood.link,
                         "origin": fold.origin, "n_train": fold.n_train,
                         "divergences": fold.divergences, **block})
    print(f"{dataset} / {unit}: {len(folds)} folds, {len(rows)} blocks, "
          f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(done, index=False, float_format="%.10g")
    return rows


COLUMNS = ["dataset", "unit", "link", "origin", "n_train", "divergences", "Q", "B", "a",
           "logdet", "n", "weight", "max_d"]


def main() -> None:
    from results_io import write_csv

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None, help="data sets to (re)compute")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--parts", default="/tmp/bayescale_record_parts",
                        help="one file per finished unit (a rerun skips those)")
    args = parser.parse_args()
    parts = Path(args.parts)
    parts.mkdir(parents=True, exist_ok=True)
    jobs = [(*u, parts) for u in units() if args.only is None or u[0] in args.only]
    # the largest first, so the pool ends together
    jobs.sort(key=lambda u: -len(u[3]) * (1 + len(u[2].get("hierarchy") or {})))
    start = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx) as pool:
        rows = [r for part in pool.map(one, jobs) for r in part]
    table = pd.DataFrame(rows, columns=COLUMNS)
    out = Path(args.out)
    if args.only is not None and out.exists():
        old = pd.read_csv(out)
        table = pd.concat([old[~old["dataset"].isin(args.only)], table], ignore_index=True)
    write_csv(table, out, float_format="%.10g")
    print(f"{len(table)} blocks from {table['dataset'].nunique()} data sets, "
          f"{time.perf_counter() - start:.0f} s -> {out}", file=sys.stderr)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
