"""Prototype: a power law's hierarchy placed on what each curve's data pin down.

    python benchmarks/curve_coordinates.py [--seeds 3] [--cases NAME,...] [--out DIR]

``L = E + A_ref (x/x_ref)^-alpha`` with E, A, alpha varying by curve. Each curve's runs pin its
level at the reference input, ``L0 = E + A_ref``, to a fraction of a percent, and its local
slope ``-dlogL/dlogx = alpha w`` (``w = A_ref / L0``, the reducible share); the share itself
(how far the curve is from its floor) is what they leave open. bayescale's sampled coordinates
(log E, log A_ref, log alpha, effects non-centred) make the level a curved combination of
three variables, so NUTS needs a tiny step (and hits its tree-depth limit). This script fits,
on the same runs and seeds,

* ``default``: ``bs.Model("power_law:x", hierarchy=E, A, alpha by curve,
  coordinates="law").fit(refits=0)`` (the default before bayescale placed such a hierarchy
  in curve coordinates, :mod:`bayescale.coordinates`, which grew out of this prototype and
  differs from it in the spreads' prior and the zero-sum effects);
* ``curve_coordinates``: a PyMC model (written here, not in bayescale) with the population
  and group spreads on ``l = log L0`` (effects centred: the data pin it), ``t = logit w`` and
  ``s = log(alpha w)`` (effects non-centred); ``log E = l - softplus(t)``, ``log A_ref =
  l - softplus(-t)``, ``log alpha = s + softplus(-t)``. Same likelihood (Student-t on log y,
  nu and sigma with bayescale's default priors); its priors are on the new coordinates, so
  it is another (equally weak) prior, not the same model.

Writes ``curve_coordinates.jsonl`` and ``curve_coordinates.md`` under ``--out``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from fresh_process import collect

CASES = ("revisiting_nsl_BB", "revisiting_nsl_LM", "revisiting_nsl_NMT", "sim:power_law:C:2",
         "sim:power_law:C:5")
ARMS = ("default", "curve_coordinates")


def case_runs(case: str, seed: int) -> pd.DataFrame:
    """Columns x, loss, curve."""
    from sampling_defaults import real_cases, sim_case

    if case.startswith("sim:"):
        _, runs = sim_case("power_law:C", int(case.rsplit(":", 1)[1]), seed)
        return runs.rename(columns={"C": "x", "family": "curve"})[["x", "loss", "curve"]]
    return real_cases()[case][1][["x", "loss", "curve"]]


def fit_curve_coordinates(runs: pd.DataFrame, seed: int) -> dict:
    import pymc as pm
    import pytensor.tensor as pt

    codes, levels = pd.factorize(runs["curve"])
    log_x = np.log(runs["x"].to_numpy())
    log_x = log_x - log_x.mean()
    log_y = np.log(runs["loss"].to_numpy())
    with pm.Model(coords={"curve": list(levels)}):
        mu = {"l": pm.Normal("mu_l", np.median(log_y), 1.0), "t": pm.Normal("mu_t", 0.0, 1.5),
              "s": pm.Normal("mu_s", np.log(0.1), 1.5)}
        sd = {k: pm.HalfNormal(f"sd_{k}", 0.5) for k in mu}
        l_ = pm.Normal("l", mu["l"], sd["l"], dims="curve")
        t = mu["t"] + sd["t"] * pm.Normal("z_t", 0.0, 1.0, dims="curve")
        s = mu["s"] + sd["s"] * pm.Normal("z_s", 0.0, 1.0, dims="curve")
        log_e, log_a = l_ - pt.softplus(t), l_ - pt.softplus(-t)
        alpha = pt.exp(s + pt.softplus(-t))
        mean = pt.logaddexp(log_e[codes], log_a[codes] - alpha[codes] * log_x)
        pm.StudentT("y", nu=pt.exp(pm.Normal("log_nu", np.log(10.0), 1.0)), mu=mean,
                    sigma=pt.exp(pm.Normal("log_sigma", np.log(0.05), 1.5)), observed=log_y)
        idata = pm.sample(1000, tune=1000, chains=4, random_seed=seed, target_accept=0.9,
                          nuts_sampler="numpyro", progressbar=False)
    return _record(idata)


def _record(idata) -> dict:
    import arviz_stats as azs

    stats = idata["sample_stats"]
    post = idata["posterior"]
    rhat = azs.rhat(post)
    ess = azs.ess(post, method="bulk")
    return {"divergences": int(np.asarray(stats["diverging"]).sum()),
            "max_rhat": float(max(np.nanmax(np.asarray(rhat[k])) for k in rhat.data_vars)),
            "min_ess_bulk": float(min(np.nanmin(np.asarray(ess[k])) for k in ess.data_vars)),
            "mean_tree_depth": float(np.asarray(stats["tree_depth"]).mean()),
            "step_size": float(np.median(np.asarray(stats["step_size"])))}


def run_one(name: str, seed: int) -> dict:
    import bayescale as bs

    warnings.simplefilter("ignore")
    case, arm = name.split("|")
    runs = case_runs(case, seed)
    start = time.perf_counter()
    if arm == "default":
        model = bs.Model("power_law:x", hierarchy={p: "curve" for p in ("E", "A", "alpha")},
                         coordinates="law")
        fit = model.fit(runs, seed=seed, progressbar=False, warn=False, refits=0)
        record = _record(fit.idata)
    else:
        record = fit_curve_coordinates(runs, seed)
    return {"name": name, "seed": seed, "runs": len(runs), **record,
            "seconds": time.perf_counter() - start}


def main() -> None:
    collected = collect(__file__, __doc__, ("cases", "CASE"), None, run_one,
                        "curve_coordinates.jsonl", "name",
                        names=lambda cases: [f"{c}|{a}" for c in cases or CASES for a in ARMS])
    if collected is None:
        return
    out, _, records = collected
    frame = pd.DataFrame([r for r in records if "divergences" in r])
    frame[["case", "arm"]] = frame["name"].str.split("|", expand=True)
    frame["clean"] = (frame["divergences"] == 0) & (frame["max_rhat"] <= 1.01)
    table = frame.groupby(["case", "arm"], sort=False).agg(
        seeds=("seed", "size"),
        clean=("clean", "sum"),
        max_divergences=("divergences", "max"), max_rhat=("max_rhat", "max"),
        min_ess_bulk=("min_ess_bulk", "min"), tree_depth=("mean_tree_depth", "mean"),
        step_size=("step_size", "median"), median_s=("seconds", "median")).reset_index()
    table["max_rhat"] = table["max_rhat"].map("{:.3f}".format)
    from bayescale.report import frame_table

    text = ("# A power law's hierarchy on level, share and slope (prototype), one attempt per "
            "fit, no refits\n\n" + frame_table(table.round(4)) + "\n")
    (out / "curve_coordinates.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
