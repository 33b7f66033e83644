"""Law-form uncertainty on Chinchilla: stacking weights from leave-future-out scores, and
what the stack and each candidate do on the 24 largest runs held out.

    python benchmarks/stacking_laws.py [--out benchmarks/results]

Candidates (fitted on the 216 smaller runs with the default sampler): Hoffmann et al.'s
law ``E + A/N^alpha + B/D^beta``, the same without the irreducible term (``E`` fixed at
1e-6), and Kaplan et al.'s ``((N_c/N)^(alpha_N/alpha_D) + D_c/D)^alpha_D``.
:func:`bayescale.stack` weighs them by their leave-future-out predictive densities on the
training runs; the held-out runs are then scored by each candidate and by the stack (90%
coverage, 90% interval score and median absolute error of log loss, all with the default
extrapolation term, its prior learned from the record without Chinchilla). Writes
``stacking_laws.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def scores(frame: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    from bayescale.intervals import interval_score

    lo, hi = np.log(frame["obs_eti90_lb"]), np.log(frame["obs_eti90_ub"])
    ly = np.log(y)
    return {"coverage_90": float(np.mean((lo <= ly) & (ly <= hi))),
            "interval_score_90": float(np.mean(interval_score(ly, lo, hi, 0.9))),
            "median_abs_error_log": float(np.median(np.abs(np.log(frame["obs_median"]) - ly)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from calibration_cases import chinchilla_runs

    import bayescale as bs
    from bayescale.extrapolation import log_scale
    from bayescale.report import frame_table

    runs = chinchilla_runs().reset_index(drop=True)
    candidates = {"chinchilla": bs.Model("chinchilla"),
                  "chinchilla, no E": bs.Model("chinchilla", fixed={"E": 1e-6}),
                  "kaplan": bs.Model("kaplan")}
    scale = log_scale(candidates["chinchilla"], runs)
    held = np.argsort(scale)[-24:]
    train = runs.drop(index=held).reset_index(drop=True)
    test = runs.loc[held].reset_index(drop=True)
    start = time.perf_counter()
    fits = {name: m.fit(train, seed=1, progressbar=False, warn=False)
            for name, m in candidates.items()}
    prior, _ = bs.record_prior(exclude=("chinchilla_epoch",))   # leave-one-data-set-out
    for fit in fits.values():
        fit.extrapolation_risk(prior=prior)
    stack = bs.stack(fits)
    rows = []
    for name, fit in fits.items():
        rows.append({"method": name, "stacking weight": stack.weights[name],
                     "elpd_lfo": stack.elpd[name],
                     "divergences": fit.diagnostics.divergences,
                     **scores(fit.predict(test, ci_prob=0.9, seed=2), test["loss"].to_numpy())})
    rows.append({"method": "stack", "stacking weight": 1.0, "elpd_lfo": np.nan,
                 "divergences": np.nan,
                 **scores(stack.predict(test, ci_prob=0.9, seed=2), test["loss"].to_numpy())})
    table = pd.DataFrame(rows)
    seconds = time.perf_counter() - start
    text = (f"# Stacking on Chinchilla, 24 largest of 240 held out ({seconds:.0f} s)\n\n"
            + frame_table(table, digits=4) + "\n")
    Path(args.out, "stacking_laws.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
