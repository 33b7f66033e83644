"""Does extrapolation error scale with a data set's own predictive scale? A measured negative.

    python benchmarks/record_prior_scale.py      # ~12 min on 2 cores

The record prior (:meth:`bayescale.extrapolation.Record.prior`) is in absolute link units per
e-fold. Across the record's units the slope's size correlates with the unit's predictive
scale ``r = exp(sum w logdet / (2 sum w n))`` (the geometric-mean predictive sd of its scored
runs; corr of logs 0.75), so a prior whose scale grows as ``r^k`` might transfer better to a
new data set: ``mu ~ Normal(m (r/r0)^k, s (r/r0)^k)``, ``log tau ~ Normal(t + k log(r/r0),
v)``, ``r0 = 0.01``. For k = 0 (today's form), k = 1 (scale-free) and k learned, each data
set's prior is fitted without it (leave-one-data-set-out, marginal likelihood, each data set
weighing 1) and scored by the mean log marginal likelihood of its units' blocks. Writes
``results/record_prior_scale.md``.
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp

from bayescale.report import frame_table

OUT = Path(__file__).resolve().parent / "results" / "record_prior_scale.md"
R0 = np.log(0.01)


def units() -> list[tuple[str, float, np.ndarray]]:
    from bayescale.extrapolation import Record, grid_loglik

    out = []
    for (dataset, _), part in Record.load().blocks.groupby(["dataset", "unit"]):
        w = part["weight"].to_numpy()
        log_r = float((w * part["logdet"]).sum() / (2 * (w * part["n"]).sum()))
        out.append((dataset, log_r, grid_loglik(part.to_dict("records"))))
    return out


def log_prior(theta: np.ndarray, log_r: float, k: float) -> np.ndarray:
    from bayescale.extrapolation import LOG_TAU, MU

    m, log_s, t, log_v = theta
    shift = k * (log_r - R0)
    sd = max(np.exp(log_s + shift), 1e-4)
    lm = -0.5 * ((MU - m * np.exp(shift)) / sd) ** 2 - np.log(sd) + np.log(np.gradient(MU))
    lt = -0.5 * ((LOG_TAU - t - shift) / max(np.exp(log_v), 0.25)) ** 2
    lp = lm[:, None] + lt[None, :]
    return lp - logsumexp(lp)


def score(mode: str) -> list[dict]:
    warnings.simplefilter("ignore")
    all_units = units()
    rows = []
    for held in sorted({u[0] for u in all_units}):
        train = [u for u in all_units if u[0] != held]
        per = pd.Series([u[0] for u in train]).value_counts()
        w = np.array([1.0 / per[u[0]] for u in train])

        def objective(z: np.ndarray, k: float, w=w, train=train) -> float:
            return -sum(wi * logsumexp(ll + log_prior(z, lr, k))
                        for wi, (_, lr, ll) in zip(w, train, strict=True))

        start = np.array([0.0, np.log(0.012), np.log(0.011), np.log(0.7)])
        if mode == "learned":
            fits = [minimize(lambda z: objective(z[:4], z[4]), np.append(start, k0),
                             method="Nelder-Mead",
                             options={"maxiter": 1500, "xatol": 1e-3, "fatol": 1e-4})
                    for k0 in (0.0, 0.5, 1.0)]
            best = min(fits, key=lambda f: f.fun)
            theta, k = best.x[:4], float(best.x[4])
        else:
            k = float(mode)
            theta = minimize(lambda z, k=k: objective(z, k), start, method="Nelder-Mead",
                             options={"maxiter": 1000, "xatol": 1e-3, "fatol": 1e-4}).x
        held_units = [u for u in all_units if u[0] == held]
        value = np.mean([logsumexp(ll + log_prior(theta, lr, k)) for _, lr, ll in held_units])
        rows.append({"data": held, "k": mode, "k_fitted": k, "held_out_log_marginal": value})
    return rows


def main() -> None:
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=3) as pool:
        rows = [r for part in pool.map(score, ["0", "1", "learned"]) for r in part]
    table = pd.DataFrame(rows)
    wide = table.pivot(index="data", columns="k", values="held_out_log_marginal")
    wide = wide.rename(columns={"0": "k = 0 (today)", "1": "k = 1 (scale-free)",
                                "learned": "k learned"})
    ks = table[table["k"] == "learned"].set_index("data")["k_fitted"]
    wide["k learned: value"] = ks
    total = wide.drop(columns="k learned: value").sum()
    lines = [f"# Record prior scaled by each data set's predictive scale "
             f"({time.perf_counter() - start:.0f} s)", "",
             "Held-out (leave-one-data-set-out) mean log marginal likelihood of a data set's "
             "units under a prior learned without it; higher is better.", "",
             frame_table(wide.round(2), index=True, digits=6), "",
             "Totals: " + ", ".join(f"{c} {v:.2f}" for c, v in total.items()), ""]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
