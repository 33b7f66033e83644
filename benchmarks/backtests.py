"""Calibration of extrapolations on published data: bayescale vs the Huber/bootstrap baseline.

    python benchmarks/backtests.py [--quick] [--out benchmarks/results]

The data sets, models and held-out sets are those of ``calibration_cases.py`` (see there for
each choice and how far each case extrapolates):

1. Held-out largest runs (``largest_cases``): Chinchilla (the 24 largest-compute runs of 240),
   datablations (the 30 largest-compute runs of the paper's 296), datablations repetition (the
   8.7B runs), obsscaling (the largest model of every family, MMLU, Beta-Binomial, families
   partially pooled), routed LMs (the 1.3B models, notebook 02), Porian et al. (the top 3
   compute levels of each configuration), Gemstones (checkpoints beyond 1/8 of the largest
   compute).
2. Revisiting Neural Scaling Laws (Alabdulmohsin et al. 2022, ``rnsl_cases``): the benchmark's
   own split (fit on ``Training == 1``, score ``Training == 0``), one ``power_law:x`` fit per
   curve (IC curves thinned to at most 60 log-spaced fitting points), scores pooled by domain,
   and the paper's own score (RMSE of log values per curve, averaged over the domain's curves)
   next to the published M1 (power law) and M4 values where the paper gives them.

Per data set and method: coverage of central 50/80/90/95% intervals, the 90% interval score,
the median absolute error of the log median prediction, RMSE of log values, log predictive
density, n, and whether the 90% and 50% coverages lie inside the binomial 90% band of a
calibrated method with that n (``in_band_90``, ``in_band_50``; ``binomial_band``). RNSL
domains pool their curves: n-weighted means of the per-curve scores (for
``median_abs_error_log`` the n-weighted mean of the per-curve medians), the band with the
domain's total n (which treats a curve's held-out points as independent; they are not, so the
band is too narrow there). Writes ``backtests.md``, ``backtests.json``,
``backtests_calibration.json`` (per data set: the table and the PIT values of every method)
and ``calibration.png`` (``plot_calibration``) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from calibration_cases import Case, largest_cases, rnsl_cases

import bayescale as bs
from bayescale.calibrate import Backtest, backtest
from bayescale.report import frame_table

COLS = ["coverage_50", "coverage_80", "coverage_90", "coverage_95", "interval_score_90",
        "median_abs_error_log", "rmse_log", "lpd", "n"]
NOMINAL = (0.5, 0.8, 0.9, 0.95)

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


def binomial_band(n: int, p: float, level: float = 0.9) -> tuple[float, float]:
    """Central ``level`` range of the coverage (share of ``n`` runs inside) of a calibrated
    ``p`` interval: binomial(n, p) quantiles over n."""
    from scipy.stats import binom

    tail = (1.0 - level) / 2
    return float(binom.ppf(tail, n, p) / n), float(binom.ppf(1.0 - tail, n, p) / n)


def run_case(args: tuple) -> dict:
    """One case's backtest (module-level for the process pool; the model travels as a dict)
    as a ``summarise`` dict, kept in ``parts`` so that a rerun skips finished cases. The
    extrapolation term's prior is the record's, learned without this case's data set."""
    spec, data, holdout, fit_kwargs, bootstrap, starts, dataset, key, parts = args
    done = Path(parts) / f"{key}.json"
    if done.exists():
        return json.loads(done.read_text())
    warnings.simplefilter("ignore")
    from bayescale.extrapolation import record_prior

    model = bs.Model.from_dict(spec)
    prior, _ = record_prior(exclude=(dataset,), link=model.likelihood.link)
    start = time.perf_counter()
    bt = backtest(model, data, holdout=holdout, bootstrap=bootstrap, starts=starts,
                  fit_kwargs=fit_kwargs, seed=0, extrapolation=prior)
    summary = summarise(bt, dataset) | {
        "seconds": time.perf_counter() - start, "prior": prior.source,
        "extrapolation": [f.get("extrapolation") for f in bt.folds]}
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary))
    tmp.replace(done)
    print(f"{key}: {summary['seconds']:.0f} s", file=sys.stderr, flush=True)
    return summary


def case_job(case: Case, fit_kwargs: dict, bootstrap: int, starts: int, key: str,
             parts: Path) -> tuple:
    return (case.model.to_dict(), case.data, case.holdout, fit_kwargs, bootstrap, starts,
            case.dataset, key, str(parts))


def pooled(summaries: Sequence[dict], dataset: str) -> dict:
    """Several ``summarise`` dicts (e.g. one per RNSL curve) pooled: n-weighted scores,
    PIT values concatenated."""
    methods = list(dict.fromkeys(m for s in summaries for m in s["table"]))
    table, pit = {}, {}
    for method in methods:
        parts = [s["table"][method] for s in summaries if method in s["table"]]
        n = np.array([float(p["n"]) for p in parts])
        table[method] = {k: float(np.average([float(p[k]) for p in parts], weights=n))
                         for k in parts[0] if k != "n"} | {"n": int(n.sum())}
        pit[method] = [v for s in summaries for v in s["pit"].get(method, [])]
    return {"dataset": dataset, "table": table, "pit": pit}


def run_all(quick: bool, fit_kwargs: dict, bootstrap: int, workers: int, parts: Path,
            results: dict) -> pd.DataFrame:
    """Every case in one process pool (the largest first); each data set's summary goes
    into ``results`` keyed by its table label."""
    largest = largest_cases()
    rnsl = rnsl_cases(quick)
    keys = [f"case{i}" for i in range(len(largest))] + \
        [f"rnsl_{c.data['curve'].iloc[0]}".replace("/", "_") for c in rnsl]
    jobs = [case_job(c, fit_kwargs, bootstrap, 16, k, parts)
            for c, k in zip(largest, keys, strict=False)]
    jobs += [case_job(c, fit_kwargs, bootstrap, 8, k, parts)
             for c, k in zip(rnsl, keys[len(largest):], strict=True)]
    order = sorted(range(len(jobs)),
                   key=lambda i: -len(jobs[i][1]) * (10 if i < len(largest) else 1))
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        done = dict(zip(order, pool.map(run_case, [jobs[i] for i in order]), strict=True))
    rows = []
    for i, case in enumerate(largest):
        results[case.label] = done[i]
        rows += summary_rows(case.label, done[i])
    for dataset in sorted({c.dataset for c in rnsl}):
        idx = [len(largest) + j for j, c in enumerate(rnsl) if c.dataset == dataset]
        label = f"{rnsl[idx[0] - len(largest)].label} ({len(idx)} curves)"
        summary = pooled([done[i] for i in idx], dataset)
        results[label] = summary
        for row in summary_rows(label, summary):
            per_curve = [done[i]["table"][row["method"]]["rmse_log"] for i in idx
                         if row["method"] in done[i]["table"]]
            rows.append(row | {"rmse_log_curve_mean": float(np.mean(per_curve))})
    return with_published(pd.DataFrame(rows))


def summarise(backtests: Backtest | Sequence[Backtest], dataset: str = "") -> dict:
    """``{"dataset", "table": {method: {score: value}}, "pit": {method: [values]}}`` of one
    data set's backtests: scores are n-weighted means over the backtests (as
    ``Backtest.table`` pools folds), PIT values concatenated; every method in any
    ``Backtest.table().index`` is kept."""
    if isinstance(backtests, Backtest):
        backtests = [backtests]
    tables = [bt.table() for bt in backtests]
    methods = list(dict.fromkeys(m for t in tables for m in t.index))
    table, pit = {}, {}
    for method in methods:
        parts = [t.loc[method] for t in tables if method in t.index]
        n = np.array([float(p["n"]) for p in parts])
        table[method] = {k: float(np.average([float(p[k]) for p in parts], weights=n))
                         for k in parts[0].index if k != "n"} | {"n": int(n.sum())}
        pit[method] = [float(v) for bt in backtests for f in bt.folds
                       for v in f["pit"].get(method, [])]
    return {"dataset": dataset, "table": table, "pit": pit}


def as_summary(result: Any) -> dict:
    """A ``summarise`` dict from a Backtest, a list of them, or such a dict."""
    if isinstance(result, Mapping):
        return dict(result)
    return summarise(result)


def summary_rows(label: str, summary: dict) -> list[dict]:
    """Table rows (one per method) of one data set, with the binomial-band checks."""
    rows = []
    for method, scores in summary["table"].items():
        row = {"data": label, "method": method,
               **{k: scores.get(k, float("nan")) for k in COLS}}
        for p in (0.9, 0.5):
            lo, hi = binomial_band(int(scores["n"]), p)
            row[f"in_band_{100 * p:g}"] = bool(lo <= scores[f"coverage_{100 * p:g}"] <= hi)
        rows.append(row)
    return rows


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


def plot_calibration(results: Mapping[str, Any], path: str | Path) -> Path:
    """Per data set (one row each): coverage of the central intervals against their nominal
    probability, one line per method, with the diagonal and the binomial 90% band of a
    calibrated method with that data set's n; then one PIT histogram per method (density;
    1 = uniform). ``results``: ``{label: Backtest | [Backtest, ...] | summarise dict}``;
    methods are whatever their ``Backtest.table().index`` holds. Saved as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summaries = {label: as_summary(r) for label, r in results.items()}
    methods = list(dict.fromkeys(m for s in summaries.values() for m in s["table"]))
    colors = {m: f"C{i}" for i, m in enumerate(methods)}
    ncols = 1 + len(methods)
    fig, axes = plt.subplots(len(summaries), ncols, figsize=(3.2 * ncols, 2.7 * len(summaries)),
                             squeeze=False)
    nominal = np.array(NOMINAL)
    for row, (label, summary) in zip(axes, summaries.items(), strict=True):
        ax = row[0]
        n = max(int(s["n"]) for s in summary["table"].values())
        band = np.array([binomial_band(n, p) for p in nominal])
        ax.fill_between(nominal, band[:, 0], band[:, 1], color="0.85")
        ax.plot([0.45, 1], [0.45, 1], color="0.4", lw=0.8, ls="--")
        for method, scores in summary["table"].items():
            cover = [scores.get(f"coverage_{100 * p:g}", np.nan) for p in nominal]
            ax.plot(nominal, cover, "o-", color=colors[method], ms=4)
        ax.set(xlim=(0.45, 1), ylim=(0, 1.02), xlabel="nominal", ylabel="coverage")
        ax.set_title(f"{label}\ngrey: binomial 90% band, n={n}", fontsize=7, loc="left")
        for ax, method in zip(row[1:], methods, strict=True):
            pit = np.asarray(summary["pit"].get(method, []), dtype=float)
            if not len(pit):
                ax.set_axis_off()
                continue
            bins = int(np.clip(np.sqrt(len(pit)), 4, 20))
            ax.hist(pit, bins=np.linspace(0, 1, bins + 1), density=True, color=colors[method],
                    alpha=0.7)
            ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
            ax.set(xlim=(0, 1), xlabel="PIT")
            ax.set_title(f"{method} (n={len(pit)})", fontsize=8, loc="left")
    handles = [plt.Line2D([], [], color=colors[m], marker="o", ms=4) for m in methods]
    fig.legend(handles, methods, loc="upper center", ncol=len(methods), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every 8th RNSL curve, fewer draws")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--parts", default="/tmp/bayescale_backtest_parts",
                        help="one file per finished case (a rerun skips those)")
    parser.add_argument("--render", action="store_true",
                        help="re-render backtests.md from backtests.json (published scores "
                             "re-attached) and calibration.png from backtests_calibration.json, "
                             "without fitting")
    args = parser.parse_args()
    out = Path(args.out)
    if args.render:
        table = with_published(pd.DataFrame(json.loads((out / "backtests.json").read_text())))
        header = (out / "backtests.md").read_text().splitlines()[0]
        write(out, table, header)
        if (out / "backtests_calibration.json").exists():
            plot_calibration(json.loads((out / "backtests_calibration.json").read_text()),
                             out / "calibration.png")
        return
    warnings.simplefilter("ignore")
    fit_kwargs = {"draws": 500, "tune": 500, "chains": 4}
    bootstrap = 100 if args.quick else 200
    start = time.perf_counter()
    results: dict = {}
    parts = Path(args.parts)
    parts.mkdir(parents=True, exist_ok=True)
    table = run_all(args.quick, fit_kwargs, bootstrap, args.workers, parts, results)
    seconds = time.perf_counter() - start
    write(out, table, f"# Backtests ({seconds:.0f} s)", results)
    print(f"wall time {seconds:.0f} s", file=sys.stderr)


def write(out: Path, table: pd.DataFrame, header: str, results: dict | None = None) -> None:
    """``backtests.json`` and ``backtests.md``; with ``results`` (label -> summary) also
    ``backtests_calibration.json`` and ``calibration.png``."""
    out.mkdir(parents=True, exist_ok=True)
    if results:
        (out / "backtests_calibration.json").write_text(json.dumps(results))
        plot_calibration(results, out / "calibration.png")
    records = [{k: v for k, v in r.items() if not (isinstance(v, float) and np.isnan(v))}
               for r in table.to_dict(orient="records")]
    (out / "backtests.json").write_text(json.dumps(records, indent=2))
    md = frame_table(table)
    (out / "backtests.md").write_text(f"{header}\n\n{md}\n")
    print(md)


if __name__ == "__main__":
    main()
