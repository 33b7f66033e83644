"""Speed of the Chinchilla refit and of hierarchical fits, as ratios measured in one run.

    python benchmarks/speed.py [--out benchmarks/results] [--skip-pymc-nuts] [--quick]

1. Chinchilla refit (240 runs, 4 chains x 1000 draws after 1000 tuning steps), each set-up in
   a fresh Python process (imports, model building, compilation and sampling all counted):

   - ``bayescale``: ``bs.Model("chinchilla").fit(runs)`` with default settings, once with an
     empty JAX compilation cache (a first-ever fit) and once with the cache the first left;
   - ``bayescale, refit``: the same model refitted to 8 bootstrap resamples of the runs in
     one process, with the default sampler (numpyro: the programs compiled for the first fit
     run again, the data are their inputs), the same with ``warm_start=first_fit`` (chains
     start where the first fit's ended, its mass matrix kept through warm-up) and with
     ``sampler="nutpie"`` (compiled once, data swapped in): seconds per refit (median);
   - ``pymc (hand-written, pm.sample defaults)``: the same law and likelihood written directly
     in PyMC the way a user would (raw parameters ``log A - alpha log N``, no centring),
     ``pm.sample(draws=1000, tune=1000, chains=4)``; PyMC 6 picks nutpie when installed;
   - ``pymc (hand-written, PyMC's own NUTS)``: the same with ``nuts_sampler="pymc"``, the
     set-up of the ~320 s anchor in ``../shared/ANCHORS.md``;
   - ``Epoch bootstrap``: Huber loss (delta 1e-3) on log loss, L-BFGS from 64 starts, 4000
     bootstrap refits (``bayescale.baseline.HuberBootstrap``), Epoch AI's protocol.

   Reported: wall time of the process, minimum bulk ESS over ``E, A, B, alpha, beta`` (bulk
   ESS is rank-based, so it is the same on any monotone scale), ESS per second of wall time,
   and ratios to the hand-written PyMC default.
2. Hierarchical fits, crossed family x task (``sigmoid_accuracy:C``, Beta-Binomial, ``x50`` by
   family and task, slope and headroom by task, the observational-scaling model): simulated
   runs with 8 tasks and 3 models per family, 10 / 25 / 50 families (``--families``); then
   25 families with 2 / 4 / 8 models each (``--models``); 4 chains x 500 draws after 500
   tuning steps. Reported: wall time
   of the fit, seconds per group and per run, min bulk ESS, and the log-log slope of time
   against groups and against runs (1 = linear).

Writes ``speed.md`` and ``speed.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
LAW_PARAMS = ["E", "A", "B", "alpha", "beta"]
DRAWS = {"draws": 1000, "tune": 1000, "chains": 4}
HIER_DRAWS = {"draws": 500, "tune": 500, "chains": 4}


# ---------------------------------------------------------------------------- child processes
def _runs() -> pd.DataFrame:
    import bayescale as bs
    from bayescale.datasets import highest_loss_excluded
    from bayescale.replications.chinchilla import EXCLUDED_HIGHEST_LOSS

    return highest_loss_excluded(bs.datasets.load("chinchilla_epoch"), EXCLUDED_HIGHEST_LOSS)


def _min_ess(idata, names: list[str]) -> float:
    import arviz as az

    ess = az.ess(idata, var_names=names, method="bulk").to_dataset()
    return float(min(float(ess[v].min()) for v in ess.data_vars))


def child_bayescale() -> dict:
    import bayescale as bs

    fit = bs.Model("chinchilla").fit(_runs(), seed=1, progressbar=False, **DRAWS)
    d = fit.diagnostics
    return {"min_ess_bulk": _min_ess(fit.idata, LAW_PARAMS), "divergences": d.divergences,
            "max_rhat": d.max_rhat, "sampler": d.sampler, "E": fit.interval("E")[0],
            "alpha": fit.interval("alpha")[0], "beta": fit.interval("beta")[0]}


def child_bayescale_refit(sampler: str, warm: bool = False) -> dict:
    """A first fit, then 8 refits on bootstrap resamples in the same process: numpyro runs
    the programs compiled for the first fit, nutpie its compiled model with the data swapped
    in. ``warm``: each refit starts from the first fit's chains and metric
    (``fit(warm_start=first_fit)``)."""
    import bayescale as bs

    runs = _runs()
    model = bs.Model("chinchilla")
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    first_fit = model.fit(runs, seed=0, progressbar=False, sampler=sampler, **DRAWS)
    first = time.perf_counter() - start
    seconds, ess = [], []
    for i in range(8):
        sample = runs.iloc[rng.integers(0, len(runs), len(runs))].reset_index(drop=True)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = model.fit(sample, seed=i + 1, progressbar=False, sampler=sampler,
                            warm_start=first_fit if warm else None, **DRAWS)
        seconds.append(time.perf_counter() - start)
        ess.append(_min_ess(fit.idata, LAW_PARAMS))
    return {"first_fit_seconds": first, "refit_seconds": float(np.median(seconds)),
            "min_ess_bulk": float(np.median(ess)), "min_ess_bulk_min": float(np.min(ess)),
            "sampler": first_fit.diagnostics.sampler}


def child_pymc(nuts_sampler: str | None) -> dict:
    """The Chinchilla model as a user writes it in PyMC, with PyMC's defaults."""
    import pymc as pm
    import pytensor.tensor as pt

    runs = _runs()
    log_n, log_d = np.log(runs["N"].to_numpy()), np.log(runs["D"].to_numpy())
    log_loss = np.log(runs["loss"].to_numpy())
    with pm.Model():
        log_a = pm.Normal("log_A", 6.0, 3.0)
        log_b = pm.Normal("log_B", 7.0, 3.0)
        log_e = pm.Normal("log_E", 0.5, 1.0)
        alpha = pm.LogNormal("alpha", np.log(0.3), 0.5)
        beta = pm.LogNormal("beta", np.log(0.3), 0.5)
        mu = pt.logsumexp(pt.stack([log_a - alpha * log_n, log_b - beta * log_d,
                                    log_e + 0.0 * log_n]), axis=0)
        sigma = pm.HalfNormal("sigma", 0.1)
        nu = pm.Gamma("nu", 2.0, 0.1)
        pm.StudentT("log_loss", nu=nu, mu=mu, sigma=sigma, observed=log_loss)
        pm.Deterministic("E", pt.exp(log_e))
        pm.Deterministic("A", pt.exp(log_a))
        pm.Deterministic("B", pt.exp(log_b))
        kwargs = {} if nuts_sampler is None else {"nuts_sampler": nuts_sampler}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = pm.sample(random_seed=1, progressbar=False, **DRAWS, **kwargs)
    post = idata["posterior"]
    return {"min_ess_bulk": _min_ess(idata, LAW_PARAMS),
            "divergences": int(idata["sample_stats"]["diverging"].sum()),
            "sampler": post.attrs.get("inference_library", nuts_sampler or "default"),
            "E": float(post["E"].median()), "alpha": float(post["alpha"].median()),
            "beta": float(post["beta"].median())}


def child_bootstrap() -> dict:
    import bayescale as bs
    from bayescale.baseline import HuberBootstrap

    base = HuberBootstrap(bs.Model("chinchilla"), starts=64, bootstrap=4000, seed=0)
    base.fit(_runs())
    return {"bootstrap": 4000, "starts": 64, "converged": base.converged}


CHILDREN = {
    "bayescale": child_bayescale,
    "bayescale_refit": lambda: child_bayescale_refit("auto"),
    "nutpie_refit": lambda: child_bayescale_refit("nutpie"),
    "warm_refit": lambda: child_bayescale_refit("auto", warm=True),
    "pymc_default": lambda: child_pymc(None),
    "pymc_nuts": lambda: child_pymc("pymc"),
    "bootstrap": child_bootstrap,
}


def run_child(name: str, env: dict[str, str] | None = None) -> dict:
    """Run one set-up in a fresh process; wall time measured from outside."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", name], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=ROOT, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"setup": name, "wall_seconds": wall, **result}


# ---------------------------------------------------------------------------- hierarchical
def crossed_runs(families: int, per_family: int, tasks: int = 8, seed: int = 0
                 ) -> pd.DataFrame:
    """Simulated downstream scores: family f, task t, model compute C (log-uniform, one
    decade per family), accuracy ~ BetaBinomial(n=500, mean=sigmoid law, kappa=200)."""
    import bayescale as bs

    law = bs.get_law("sigmoid_accuracy:C")
    rng = np.random.default_rng(seed)
    fam_eff = rng.normal(0.0, 1.0, families)
    task_eff = rng.normal(0.0, 1.0, tasks)
    slope = np.exp(rng.normal(np.log(0.8), 0.2, tasks))
    headroom = rng.uniform(0.6, 0.95, tasks)
    rows = []
    for f in range(families):
        lo = rng.uniform(np.log(1e20), np.log(1e23))
        compute = np.exp(rng.uniform(lo, lo + np.log(10.0), per_family))
        for t in range(tasks):
            values = {"floor": 0.25, "headroom": headroom[t], "slope": slope[t],
                      "x50": 1e22 * np.exp(fam_eff[f] + task_eff[t])}
            mean = law.evaluate({"C": compute}, values)
            p = rng.beta(mean * 200, (1 - mean) * 200)
            rows.append(pd.DataFrame({"family": f"f{f:03d}", "task": f"t{t}", "C": compute,
                                      "accuracy": rng.binomial(500, p) / 500, "trials": 500}))
    return pd.concat(rows, ignore_index=True)


def crossed_model():
    import bayescale as bs

    return bs.Model("sigmoid_accuracy:C", likelihood="beta_binomial", target="accuracy",
                    hierarchy={"x50": ["family", "task"], "slope": "task", "headroom": "task"},
                    fixed={"floor": 0.25}, min_group_size=1)


def child_crossed(families: int, per_family: int) -> dict:
    """One crossed fit in this (fresh) process: time, peak memory, diagnostics, device."""
    import resource

    import jax

    import bayescale as bs  # noqa: F401  (sets up JAX devices before the first fit)

    runs = crossed_runs(families, per_family)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = crossed_model().fit(runs, seed=1, progressbar=False, target_accept=0.9,
                                  **HIER_DRAWS)
    seconds = time.perf_counter() - start
    d = fit.diagnostics
    steps = fit.idata["sample_stats"]["n_steps"].values
    groups = families + 8
    return {"families": families, "models_per_family": per_family, "runs": len(runs),
            "groups": groups, "fit_seconds": seconds, "sampling_seconds": d.sampling_seconds,
            "seconds_per_group": seconds / groups, "seconds_per_run": seconds / len(runs),
            "min_ess_bulk": d.min_ess_bulk, "divergences": d.divergences,
            "max_rhat": d.max_rhat, "refits": d.refits, "history": list(d.history),
            "mean_leapfrog_steps": float(steps.mean()),
            "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "backend": f"{jax.default_backend()} x{jax.local_device_count()}"}


def run_hierarchical(grid: list[tuple[int, int]]) -> pd.DataFrame:
    """Each crossed fit in a fresh process (its own peak memory). On a machine with a GPU
    and the ``gpu`` extra, JAX's default backend is the GPU and the chains run vectorised
    on it; the ``backend`` column says where each fit ran."""
    rows = []
    for families, per in grid:
        row = run_child(f"crossed:{families}:{per}")
        rows.append(row)
        print(f"crossed {families} families x {per}: {row['fit_seconds']:.1f} s",
              file=sys.stderr)
    return pd.DataFrame(rows).drop(columns=["setup", "wall_seconds", "history"],
                                   errors="ignore")


def slope(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


# ---------------------------------------------------------------------------- report
def _chinchilla_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in ["setup", "wall_seconds", "first_fit_seconds", "refit_seconds",
                        "min_ess_bulk", "ess_per_second", "x_vs_pymc_default",
                        "x_vs_pymc_nuts", "divergences", "sampler"] if c in table.columns]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--skip-pymc-nuts", action="store_true",
                        help="leave out PyMC's own NUTS (about 5 minutes)")
    parser.add_argument("--quick", action="store_true", help="smaller hierarchical grid")
    parser.add_argument("--chinchilla-only", action="store_true",
                        help="only the Chinchilla set-ups: speed_chinchilla.json and .md")
    parser.add_argument("--families", default="10,25,50",
                        help="numbers of families (3 models each) for the groups scan")
    parser.add_argument("--models", default="2,4,8",
                        help="models per family (25 families) for the runs scan")
    args = parser.parse_args()
    if args.child:
        warnings.simplefilter("ignore")
        if args.child.startswith("crossed:"):
            _, families, per = args.child.split(":")
            result = child_crossed(int(families), int(per))
        else:
            result = CHILDREN[args.child]()
        print(json.dumps(result, default=float))
        return

    from bayescale.report import frame_table

    start = time.perf_counter()
    chin = []
    with tempfile.TemporaryDirectory() as cache:
        env = {"BAYESCALE_CACHE_DIR": cache}
        chin.append({**run_child("bayescale", env), "setup": "bayescale (empty JAX cache)"})
        chin.append({**run_child("bayescale", env), "setup": "bayescale (warm JAX cache)"})
    # wall time of the process: the first fit (compiles) and 8 refits on bootstrap resamples
    chin.append({**run_child("bayescale_refit"),
                 "setup": "bayescale refit (defaults: numpyro, programs reused)"})
    chin.append({**run_child("warm_refit"),
                 "setup": "bayescale refit (numpyro, warm_start=first fit)"})
    chin.append({**run_child("nutpie_refit"), "setup": "bayescale refit (nutpie, compiled once)"})
    chin.append({**run_child("pymc_default"), "setup": "PyMC hand-written, pm.sample defaults"})
    if not args.skip_pymc_nuts:
        chin.append({**run_child("pymc_nuts"), "setup": "PyMC hand-written, PyMC NUTS"})
    chin.append({**run_child("bootstrap"), "setup": "Epoch bootstrap (4000 refits)"})
    table = pd.DataFrame(chin)
    table["ess_per_second"] = table["min_ess_bulk"] / table["wall_seconds"]
    for ref, label in (("PyMC hand-written, pm.sample defaults", "x_vs_pymc_default"),
                       ("PyMC hand-written, PyMC NUTS", "x_vs_pymc_nuts")):
        if ref in set(table["setup"]):
            base = table.set_index("setup").loc[ref, "wall_seconds"]
            table[label] = base / table["wall_seconds"]

    families = [int(f) for f in args.families.split(",")]
    models = [int(m) for m in args.models.split(",")]
    if args.quick:
        families, models = [10, 20], [2, 4]
    runs_at = families[len(families) // 2]
    grid = [(f, 3) for f in families] + [(runs_at, m) for m in models if m != 3]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed_chinchilla.json").write_text(json.dumps(table.to_dict(orient="records"),
                                                          indent=2, default=float))
    print(frame_table(table), file=sys.stderr)
    if args.chinchilla_only:
        (out / "speed_chinchilla.md").write_text(
            f"# Chinchilla refit speed ({time.perf_counter() - start:.0f} s, "
            f"{os.cpu_count()} cores)\n\n" + frame_table(table[_chinchilla_columns(table)])
            + "\n")
        return
    hier = run_hierarchical(grid)
    by_groups = hier[hier["models_per_family"] == 3]
    by_runs = hier[hier["families"] == runs_at]
    slopes = {"time_vs_groups": slope(by_groups["groups"], by_groups["fit_seconds"]),
              "time_vs_runs": slope(by_runs["runs"], by_runs["fit_seconds"]),
              "sampling_vs_groups": slope(by_groups["groups"], by_groups["sampling_seconds"]),
              "sampling_vs_runs": slope(by_runs["runs"], by_runs["sampling_seconds"])}

    seconds = time.perf_counter() - start
    (out / "speed.json").write_text(json.dumps(
        {"chinchilla": table.to_dict(orient="records"),
         "hierarchical": hier.to_dict(orient="records"), "slopes": slopes,
         "total_seconds": seconds, "cpu_count": os.cpu_count()}, indent=2, default=float))
    chin_cols = _chinchilla_columns(table)
    md = (f"# Speed ({seconds:.0f} s, {os.cpu_count()} cores)\n\n## Chinchilla refit, 240 runs, "
          "4 chains x 1000 draws, fresh process each\n\n"
          + frame_table(table[chin_cols])
          + "\n\n## Crossed family x task fits (sigmoid_accuracy:C, Beta-Binomial, "
            "4 chains x 500 draws)\n\n"
          + frame_table(hier)
          + "\n\nLog-log slopes (1 = linear): "
          + ", ".join(f"{k} {v:.2f}" for k, v in slopes.items()) + "\n")
    (out / "speed.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
