"""Fit and prediction time of one bayescale tree, for before/after ratios in one session.

    PYTHONPATH=/path/to/tree python benchmarks/predict_speed.py --label after \
        --out benchmarks/results/predict_speed.jsonl

Measures, in one process: the Chinchilla refit (chinchilla_epoch, default model, 4 chains x
1000 draws; first fit, then a second one of the same structure), then ``predict`` of 10,000
rows x 4,000 draws (summary; first call, which compiles, and the best of 3 later calls), and
the same for a hierarchical fit (power_law:C, E and A by family, 5 families) predicting
10,000 rows of known and new families. Run each tree in its own process, alternating, and
compare medians: absolute seconds depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd

ROWS = 10_000


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def predict_times(fit, rows: pd.DataFrame, **kwargs) -> dict[str, float]:
    first, _ = timed(lambda: fit.predict(rows, seed=1, **kwargs))
    later = [timed(lambda: fit.predict(rows, seed=2, **kwargs))[0] for _ in range(3)]
    return {"predict_first_s": round(first, 3), "predict_best_s": round(min(later), 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import bayescale as bs

    rng = np.random.default_rng(0)
    runs = bs.datasets.load("chinchilla_epoch")
    model = bs.Model("chinchilla")
    fit_first, fit = timed(lambda: model.fit(runs, seed=1, progressbar=False))
    fit_second, fit = timed(lambda: model.fit(runs, seed=2, progressbar=False))
    rows = pd.DataFrame({"N": np.exp(rng.uniform(np.log(1e7), np.log(1e12), ROWS)),
                         "D": np.exp(rng.uniform(np.log(1e9), np.log(1e14), ROWS))})
    record = {"label": args.label, "case": "chinchilla", "fit_first_s": round(fit_first, 3),
              "fit_second_s": round(fit_second, 3),
              "draws": int(fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]),
              "rows": ROWS, **predict_times(fit, rows)}
    print(json.dumps(record))
    records = [record]

    sim = bs.simulate.simulate_runs(
        "power_law:C", population={"E": 1.7, "A": 2e3, "alpha": 0.15},
        group_sizes={f"f{i}": 8 for i in range(5)}, spreads={"E": 0.1, "A": 0.3},
        ranges={"C": (1e17, 1e20)}, seed=3)
    model = bs.Model("power_law:C", hierarchy={"E": "family", "A": "family"})
    fit_first, fit = timed(lambda: model.fit(sim.runs, seed=1, progressbar=False))
    rows = pd.DataFrame({"C": np.exp(rng.uniform(np.log(1e17), np.log(1e23), ROWS)),
                         "family": rng.choice([*sim.by_group, "new_a", "new_b"], ROWS)})
    record = {"label": args.label, "case": "power_law_by_family", "fit_first_s":
              round(fit_first, 3), "draws": int(fit.posterior.sizes["chain"]
                                                * fit.posterior.sizes["draw"]),
              "rows": ROWS, **predict_times(fit, rows, new_groups=True)}
    print(json.dumps(record))
    records.append(record)
    with open(args.out, "a") as handle:
        for r in records:
            handle.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
