"""Simulation-based calibration of three models at realistic designs (Talts et al. 2018).

    python benchmarks/sbc.py [--simulations N] [--out DIR] [--workers W] [--models ...]

Models and designs (the target of each design only sets the data-scaled priors, which are then
fixed for every simulation and fit; see ``bayescale.sbc``):

* ``chinchilla``: global ``L = E + A N^-alpha + B D^-beta``, Student-t on log loss; 30 runs,
  N log-uniform in [5e7, 1e10], D in [1e9, 3e11].
* ``power_law``: ``power_law:C``, ``L = E + A C^-alpha``; 20 runs, C in [1e17, 1e21].
* ``chinchilla_hier``: ``chinchilla`` with ``E`` varying by family; 4 families x 8 runs
  (non-centred effects), same ranges.

Every simulation is fitted by NUTS (nutpie compiled once per model when installed, else
``bayescale.fit``), 2 chains x ``--draws`` draws after ``--tune``; ranks among every
``--thin``-th draw. Writes ``sbc_summary.json``, ``sbc_summary.md``, and per model the rank
histograms (``sbc_<model>.png``), ranks and per-simulation diagnostics (CSV).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

import numpy as np

import bayescale as bs
from bayescale.sbc import SBCResult, sbc
from bayescale.simulate import simulate_runs

TRUTH = {"E": 1.8, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.30}
RANGES = {"N": (5e7, 1e10), "D": (1e9, 3e11)}
P_MIN = 1e-3


def designs() -> dict[str, tuple[bs.Model, object]]:
    """``{name: (model, design data)}`` of the benchmark."""
    chin = simulate_runs("chinchilla", population=TRUTH, group_sizes={"g": 30}, ranges=RANGES,
                         sigma=0.02, seed=3).runs.drop(columns="family")
    power = simulate_runs("power_law:C", population={"E": 2.0, "A": 50.0, "alpha": 0.3},
                          group_sizes={"g": 20}, ranges={"C": (1e17, 1e21)}, sigma=0.02,
                          seed=1).runs.drop(columns="family")
    hier = simulate_runs("chinchilla", population=TRUTH,
                         group_sizes={f"f{i}": 8 for i in range(4)}, spreads={"E": 0.1},
                         ranges=RANGES, sigma=0.02, seed=3).runs
    return {
        "chinchilla": (bs.Model("chinchilla"), chin),
        "power_law": (bs.Model("power_law:C"), power),
        "chinchilla_hier": (bs.Model("chinchilla", hierarchy={"E": "family"}), hier),
    }


def markdown(results: dict[str, dict], header: str) -> str:
    """The Markdown report of all models."""
    lines = [header, ""]
    for name, r in results.items():
        lines += [f"## {name}", "",
                  f"{r['simulations']} simulations, L = {r['n_draws']}, {r['runs']} runs; "
                  f"{r['rejected']} prior draws redrawn (impossible data); "
                  f"{r['divergent']} simulations with divergences, {r['flagged']} flagged "
                  f"(divergences or R-hat > 1.01), {r['failed']} failed; "
                  f"{r['wide_data']} data sets span more than a factor 100 "
                  f"({r['wide_flagged']} of them flagged); "
                  f"median {r['seconds_per_fit']:.2f} s per fit, {r['wall_seconds']:.0f} s in all.",
                  "",
                  "| parameter | mean rank | sd rank | mean z | chi2 | dof | p-value |",
                  "|---|---|---|---|---|---|---|"]
        for row in r["summary"]:
            lines.append(f"| {row['parameter']} | {row['mean_rank']:.3f} | "
                         f"{row['sd_rank']:.3f} | {row['mean_z']:+.1f} | "
                         f"{row['statistic']:.1f} | {row['dof']} | "
                         f"{row['p_value']:.3g} |")
        verdict = "calibrated" if r["min_p"] >= P_MIN else "NOT calibrated"
        lines += ["", f"Smallest p-value {r['min_p']:.3g}: {verdict} at p >= {P_MIN:g} per "
                  "parameter. Uniform ranks: mean 0.5, sd 0.289; mean z is the mean's distance "
                  "from 0.5 in standard errors.", "",
                  f"![{name}](sbc_{name}.png)", ""]
    return "\n".join(lines)


def run_one(name: str, model: bs.Model, data: object, args: argparse.Namespace,
            executor: Executor | None, out: Path) -> dict:
    """SBC of one model; writes its figure and tables, returns its JSON record."""
    start = time.perf_counter()
    result: SBCResult = sbc(model, data, simulations=args.simulations, draws=args.draws,
                            thin=args.thin, seed=args.seed, executor=executor,
                            fit_kwargs={"chains": 2, "tune": args.tune},
                            progressbar=args.progress)
    wall = time.perf_counter() - start
    result.histogram().savefig(out / f"sbc_{name}.png", dpi=110)
    result.ranks.to_csv(out / f"sbc_{name}_ranks.csv")
    result.diagnostics.to_csv(out / f"sbc_{name}_diagnostics.csv")
    record = result.to_dict()
    d = result.diagnostics
    wide = (d["y_max"] / d["y_min"]) > 100
    flagged = d.index.isin(result.flagged().index)
    record.update(wall_seconds=round(wall, 1), runs=result.settings["runs"],
                  flagged=int(flagged.sum()), wide_data=int(wide.sum()),
                  wide_flagged=int((wide & flagged).sum()),
                  min_p=float(np.nanmin([row["p_value"] for row in record["summary"]])))
    print(f"{name}: {result.simulations} simulations in {wall:.0f} s; smallest p "
          f"{record['min_p']:.3g}; {record['divergent']} with divergences", flush=True)
    return record


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=200)
    parser.add_argument("--draws", type=int, default=500, help="posterior draws per chain")
    parser.add_argument("--thin", type=int, default=5)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--workers", type=int, default=1,
                        help="processes (1: in this process; nutpie runs the 2 chains on 2 "
                             "threads either way)")
    parser.add_argument("--models", nargs="+", default=None,
                        help="subset of chinchilla, power_law, chinchilla_hier")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/sbc"))
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    cases = designs()
    names = args.models or list(cases)
    executor = (ProcessPoolExecutor(args.workers,
                                    mp_context=multiprocessing.get_context("spawn"))
                if args.workers > 1 else None)
    start = time.perf_counter()
    try:
        results = {n: run_one(n, *cases[n], args, executor, args.out) for n in names}
    finally:
        if executor is not None:
            executor.shutdown()
    total = time.perf_counter() - start
    header = (f"# Simulation-based calibration\n\n{args.simulations} simulations per model, 2 "
              f"chains x {args.draws} draws after {args.tune} tuning, thin {args.thin}; "
              f"{args.workers} worker(s); {total:.0f} s in all on {platform.machine()} "
              f"({multiprocessing.cpu_count()} CPUs). Chi-square test of uniform ranks per "
              f"parameter; p < {P_MIN:g} fails.")
    (args.out / "sbc_summary.md").write_text(markdown(results, header) + "\n")
    (args.out / "sbc_summary.json").write_text(json.dumps(
        {"wall_seconds": round(total, 1), "args": {k: str(v) for k, v in vars(args).items()},
         "results": results}, indent=2, default=str) + "\n")
    print(f"wrote {args.out}/sbc_summary.md ({total:.0f} s)")
    return results


if __name__ == "__main__":
    main()
