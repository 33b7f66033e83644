"""Calibration of extrapolations on published data: bayescale vs the Huber/bootstrap baseline.

    python benchmarks/backtests.py [--quick] [--out benchmarks/results]

1. Revisiting Neural Scaling Laws (Alabdulmohsin et al. 2022): the benchmark's own split
   (fit on ``Training == 1``, score ``Training == 0``), one ``power_law:x`` fit per curve
   (IC curves thinned to at most 60 log-spaced fitting points), scores pooled by domain, and
   the paper's own score (RMSE of log values per curve, averaged over the domain's curves)
   next to the published M1 (power law) and M4 values where the paper gives them.
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
from bayescale.report import frame_table

COLS = ["coverage_50", "coverage_80", "coverage_90", "coverage_95", "interval_score_90",
        "rmse_log", "lpd", "n"]

# Alabdulmohsin et al. 2022, extrapolation RMSE of log values on the held-out part of each curve
# (their Eq. 4: sqrt(mean (log y_pred - log y)^2), x > x_max / 2), per curve in their Tables 2
# (NMT, language modelling) and 3 (BIG-bench), read from the NeurIPS-submission text of
# arXiv:2209.06640; the values below are plain means over the domain's curves of M1 (power law)
# and M4 (their estimator). Image classification: no RMSE values are published (only the share
# of tasks each method wins), so there is nothing to compare with.
PUBLISHED_RNSL = {
    "NMT": {"M1": np.mean([0.26, 0.17, 0.23, 0.25, 0.19]),
            "M4": np.mean([1.0e-2, 1.3e-2, 3.0e-2, 1.0e-2, 1.2e-2])},
    "LM": {"M1": np.mean([1.5e-2, 1.6e-2, 2.3e-2, 1.7e-2, 1.7e-2]),
           "M4": np.mean([3.1e-4, 1.9e-3, 1.8e-3, 7.5e-4, 1.3e-3])},
    "BB": {"M1": np.mean([1.6e-2, 1.7e-2, 4.2e-3, 4.4e-3, 8.3e-3, 1.1e-2, 1.1e-2, 1.6e-2,
                                3.2e-2, 2.9e-2]),
                 "M4": np.mean([1.7e-2, 9.2e-3, 4.4e-3, 4.9e-3, 2.3e-3, 2.9e-3, 1.3e-2, 6.2e-3,
                                1.5e-2, 1.8e-2])},
}


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
            per_curve = [r["table"][method]["rmse_log"] for r in sub if method in r["table"]]
            rows.append({"data": f"RNSL {dom} ({len(sub)} curves)", "method": method,
                         **pooled(sub, method),
                         "rmse_log_curve_mean": float(np.mean(per_curve))})
    return with_published(pd.DataFrame(rows))


def with_published(table: pd.DataFrame) -> pd.DataFrame:
    """The table with the published RNSL scores after each domain's rows (replacing any)."""
    table = table[~table["method"].str.startswith("published")]
    parts = []
    for label, rows in table.groupby("data", sort=False):
        parts.append(rows)
        domain = label.removeprefix("RNSL ").split(" (")[0] if label.startswith("RNSL") else ""
        published = PUBLISHED_RNSL.get(domain, {})  # keyed by the data set's domain codes
        parts.append(pd.DataFrame([{"data": label, "method": f"published {name}",
                                    "rmse_log_curve_mean": float(value)}
                                   for name, value in published.items()]))
    return pd.concat([p for p in parts if len(p)], ignore_index=True)


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
    parser.add_argument("--render", action="store_true",
                        help="re-render backtests.md from backtests.json (published scores "
                             "re-attached) without fitting")
    args = parser.parse_args()
    out = Path(args.out)
    if args.render:
        table = with_published(pd.DataFrame(json.loads((out / "backtests.json").read_text())))
        header = (out / "backtests.md").read_text().splitlines()[0]
        write(out, table, header)
        return
    warnings.simplefilter("ignore")
    fit_kwargs = {"draws": 500, "tune": 500, "chains": 4}
    bootstrap = 100 if args.quick else 200
    start = time.perf_counter()
    table = pd.concat([run_largest(fit_kwargs, bootstrap),
                       run_rnsl(args.quick, fit_kwargs, bootstrap, args.workers)])
    seconds = time.perf_counter() - start
    write(out, table, f"# Backtests ({seconds:.0f} s)")
    print(f"wall time {seconds:.0f} s", file=sys.stderr)


def write(out: Path, table: pd.DataFrame, header: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    records = [{k: v for k, v in r.items() if not (isinstance(v, float) and np.isnan(v))}
               for r in table.to_dict(orient="records")]
    (out / "backtests.json").write_text(json.dumps(records, indent=2))
    md = frame_table(table)
    (out / "backtests.md").write_text(f"{header}\n\n{md}\n")
    print(md)


if __name__ == "__main__":
    main()
