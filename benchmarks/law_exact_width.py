"""Width of the default intervals on data from the law itself, against today's (no term).

    python benchmarks/law_exact_width.py [--reps 10] [--out benchmarks/results]

Each repetition simulates 30 runs of ``1.7 + 400 N^-0.3`` (N from 1e7 to 1e9, log-normal
noise 1%), fits ``power_law:N`` with the defaults, and predicts new runs at 3x, 10x, 30x and
100x the largest N. Reported per factor: the median over repetitions of the ratio of the
90% interval widths (log scale) with and without the extrapolation term, and the coverage
of the truth by each. The issue's bar is a ratio of at most 1.1. Writes
``law_exact_width.md``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
FACTORS = (3.0, 10.0, 30.0, 100.0)


def one(rep: int) -> pd.DataFrame:
    import bayescale as bs

    rng = np.random.default_rng(1000 + rep)
    n = np.geomspace(1e7, 1e9, 30)
    data = pd.DataFrame({"N": n, "loss": (1.7 + 400 * n ** -0.3)
                         * np.exp(0.01 * rng.standard_normal(30))})
    target = 1e9 * np.array(FACTORS)
    truth = (1.7 + 400 * target ** -0.3) * np.exp(0.01 * rng.standard_normal(len(target)))
    fit = bs.Model("power_law:N").fit(data, seed=rep, progressbar=False, warn=False)
    rows = pd.DataFrame({"N": target})
    out = {"rep": rep, "factor": FACTORS}
    for name, on in (("default", True), ("no term", False)):
        pred = fit.predict(rows, ci_prob=0.9, seed=rep, extrapolation=on)
        lo, hi = pred["obs_eti90_lb"].to_numpy(), pred["obs_eti90_ub"].to_numpy()
        out[f"width {name}"] = np.log(hi / lo)
        out[f"covered {name}"] = (lo <= truth) & (truth <= hi)
    risk = fit.extrapolation_risk().summary()["median"]
    out["tau"], out["mu"] = risk["spread tau"], risk["drift mu"]
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from bayescale.report import frame_table

    start = time.perf_counter()
    runs = pd.concat([one(r) for r in range(args.reps)], ignore_index=True)
    runs["ratio"] = runs["width default"] / runs["width no term"]
    table = runs.groupby("factor").agg(
        median_ratio=("ratio", "median"), min_ratio=("ratio", "min"),
        max_ratio=("ratio", "max"), width_default=("width default", "median"),
        width_no_term=("width no term", "median"), coverage_default=("covered default", "mean"),
        coverage_no_term=("covered no term", "mean")).reset_index()
    text = (f"# Data from the law itself: 90% widths with and without the term "
            f"({args.reps} data sets, {time.perf_counter() - start:.0f} s)\n\n"
            + frame_table(table, digits=3)
            + f"\n\nLearned spread tau (median over data sets): {runs['tau'].median():.4f}; "
            f"drift mu: {runs['mu'].median():.4f}\n")
    Path(args.out, "law_exact_width.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
