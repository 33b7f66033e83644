"""Calibration of extrapolations on published data: bayescale vs the Huber/bootstrap baseline.

    python benchmarks/backtests.py [--quick] [--out benchmarks/results]

1. Revisiting Neural Scaling Laws (Alabdulmohsin et al. 2022): the benchmark's own split
   (fit on ``Training == 1``, score ``Training == 0``), one ``power_law:x`` fit per curve
   (IC curves thinned to at most 60 log-spaced fitting points), scores pooled by domain.
2. Held-out largest runs: Chinchilla (the 24 largest-compute runs of 240), datablations (the 30
   largest-compute runs of the paper's 296), obsscaling (the largest model of every family,
   MMLU, Beta-Binomial, families partially pooled).
Writes ``backtests.md`` and ``backtests.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

import bayescale as bs
from bayescale.calibrate import backtest
from bayescale.datasets import highest_loss_excluded, obsscaling_long

COLS = ["coverage_50", "coverage_80", "coverage_90", "coverage_95", "interval_score_90",
        "rmse_log", "lpd", "n"]


def rnsl_curve(args: tuple) -> dict:
    """One RNSL curve: backtest on the paper's split (module-level for the process pool)."""
    curve, frame, fit_kwargs, bootstrap = args
    warnings.simplefilter("ignore")
    fitpart = frame[~frame["heldout"]]
    if len(fitpart) > 60:  # dense IC curves: keep 60 log-spaced fitting points
        idx = np.unique(np.geomspace(1, len(fitpart), 60).astype(int) - 1)
        frame = pd.concat([fitpart.iloc[idx], frame[frame["heldout"]]])
    data = pd.DataFrame({"x": frame["x"].to_numpy(), "loss": frame["y"].to_numpy(),
                         "heldout": frame["heldout"].to_numpy()})
    bt = backtest(bs.Model("power_law:x"), data, holdout="column:heldout",
                  bootstrap=bootstrap, starts=8, fit_kwargs=fit_kwargs, seed=0)
    return {"curve": curve, "table": bt.table().to_dict(orient="index")}


def pooled(rows: list[dict], method: str) -> dict:
    parts = [r["table"][method] for r in rows if method in r["table"]]
    n = np.array([p["n"] for p in parts])
    return {k: float(np.average([p[k] for p in parts], weights=n)) if k != "n"
            else int(n.sum()) for k in COLS}


def run_rnsl(quick: bool, fit_kwargs: dict, bootstrap: int, workers: int) -> pd.DataFrame:
    data = bs.datasets.load("revisiting_nsl")
    data = data[data["y"] > 0]
    curves = list(data.groupby("curve"))
    if quick:
        curves = curves[::8]
    jobs = [(name, frame, fit_kwargs, bootstrap) for name, frame in curves]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        results = list(pool.map(rnsl_curve, jobs))
    domain = {name: frame["domain"].iloc[0] for name, frame in curves}
    rows = []
    for dom in sorted(set(domain.values())):
        sub = [r for r in results if domain[r["curve"]] == dom]
        for method in ("bayescale", "baseline"):
            rows.append({"data": f"RNSL {dom} ({len(sub)} curves)", "method": method,
                         **pooled(sub, method)})
    return pd.DataFrame(rows)


def run_largest(fit_kwargs: dict, bootstrap: int) -> pd.DataFrame:
    rows = []
    chin = highest_loss_excluded(bs.datasets.load("chinchilla_epoch"), 5)
    db = bs.datasets.load("datablations")
    db = db[db["used_in_paper_fit"]][["N", "D", "U", "loss"]].reset_index(drop=True)
    obs = obsscaling_long()
    obs = obs[(obs["task"] == "MMLU") & obs["C"].notna() & (obs["flag"] == "")].copy()
    obs["trials"] = 14042
    cases = [
        ("Chinchilla, 24 largest of 240", bs.Model("chinchilla"), chin, "largest:24"),
        ("datablations, 30 largest of 296", bs.Model("data_constrained"), db, "largest:30"),
        ("obsscaling MMLU, largest model per family",
         bs.Model("sigmoid_accuracy:C", likelihood="beta_binomial", target="accuracy",
                  hierarchy={"x50": "family"}, fixed={"floor": 0.25}, min_group_size=1),
         obs, "largest:1"),
    ]
    for label, model, data, hold in cases:
        start = time.perf_counter()
        bt = backtest(model, data, holdout=hold, bootstrap=bootstrap, starts=16,
                      fit_kwargs=fit_kwargs, seed=0)
        table = bt.table()
        for method in table.index:
            rows.append({"data": label, "method": method,
                         **{k: table.loc[method, k] for k in COLS}})
        print(f"{label}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every 8th RNSL curve, fewer draws")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    fit_kwargs = {"draws": 500, "tune": 500, "chains": 4}
    bootstrap = 100 if args.quick else 200
    start = time.perf_counter()
    table = pd.concat([run_largest(fit_kwargs, bootstrap),
                       run_rnsl(args.quick, fit_kwargs, bootstrap, args.workers)])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "backtests.json").write_text(json.dumps(table.to_dict(orient="records"), indent=2))
    with pd.option_context("display.float_format", "{:.3f}".format):
        md = table.to_markdown(index=False, floatfmt=".3f") if _has_tabulate() else \
            table.to_string(index=False)
    seconds = time.perf_counter() - start
    (out / "backtests.md").write_text(f"# Backtests ({seconds:.0f} s)\n\n{md}\n")
    print(md)
    print(f"wall time {seconds:.0f} s", file=sys.stderr)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
