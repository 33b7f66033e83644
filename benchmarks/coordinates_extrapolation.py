"""Extrapolation of a power law by family in law and in curve coordinates, over seeds.

    python benchmarks/coordinates_extrapolation.py [--seeds 8] [--out DIR]

4 families x 12 runs of ``L = E + A C^-alpha`` (population E 1.7, A 2e3, alpha 0.15; spreads
0.08, 0.3, 0.1 on the log scale, i.e. nearly one floor), C in 1e17-1e21, 2% noise; the same
simulation as ``tests/test_coordinates.py`` (seed offset = benchmark seed). Fits E, A, alpha by
family (500 + 500 draws, 2 chains) with ``coordinates="law"`` and ``"curve"`` and records, per
family, z = (log truth - posterior mean) / posterior sd of log L at 10x and 1000x the largest
fitted compute, and of log E. Writes ``coordinates_extrapolation.{jsonl,md}`` under ``--out``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from fresh_process import collect

POPULATION = {"E": 1.7, "A": 2e3, "alpha": 0.15}


def run_one(coords: str, offset: int) -> dict:
    import bayescale as bs
    from bayescale.predict import draws_matrix
    from bayescale.simulate import simulate_runs

    warnings.simplefilter("ignore")
    seed = offset * 7919
    sim = simulate_runs("power_law:C", population=POPULATION,
                        group_sizes={f"f{i}": 12 for i in range(4)},
                        spreads={"E": 0.08, "A": 0.3, "alpha": 0.1}, ranges={"C": (1e17, 1e21)},
                        sigma=0.02, seed=seed + 11)
    model = bs.Model("power_law:C", hierarchy={p: "family" for p in POPULATION},
                     coordinates=coords)
    fit = model.fit(sim.runs, draws=500, tune=500, chains=2, seed=seed + 12, progressbar=False)
    out = {"coords": coords, "seed": offset, "divergences": fit.diagnostics.divergences,
           "max_rhat": float(fit.diagnostics.max_rhat)}
    for mult in (10, 1000):
        far = pd.DataFrame({"C": 1e21 * mult, "family": list(sim.by_group)})
        draws = np.log(draws_matrix(fit.predict(far, kind="draws", seed=1)["predictions"]["curve"]))
        truth = [np.log(t["E"] + t["A"] * (1e21 * mult) ** -t["alpha"])
                 for t in sim.by_group.values()]
        out[f"z{mult}"] = [float((t - draws[:, j].mean()) / draws[:, j].std())
                           for j, t in enumerate(truth)]
    out["zE"] = []
    for family, t in sim.by_group.items():
        e = np.log(fit.posterior["E_by_family"].sel(family=family).values.ravel())
        out["zE"].append(float((np.log(t["E"]) - e.mean()) / e.std()))
    return out


def main() -> None:
    collected = collect(__file__, __doc__, ("coordinates", "COORDS"), "law,curve", run_one,
                        "coordinates_extrapolation.jsonl", "coords")
    if collected is None:
        return
    out, systems, records = collected
    rows = []
    for coords in systems:
        mine = [r for r in records if r.get("coords") == coords and "z10" in r]
        row = {"coordinates": coords, "seeds": len(mine)}
        for key in ("z10", "z1000", "zE"):
            z = np.abs(np.concatenate([r[key] for r in mine]))
            row[f"{key}: |z|>2"] = f"{int((z > 2).sum())}/{z.size}"
            row[f"{key}: max |z|"] = round(float(z.max()), 2)
            row[f"{key}: rms z"] = round(float(np.sqrt(np.mean(z**2))), 2)
        rows.append(row)
    from bayescale.report import frame_table

    text = ("# Extrapolation z-scores by coordinates (4 families, nearly one floor)\n\n"
            + frame_table(pd.DataFrame(rows)) + "\n")
    (out / "coordinates_extrapolation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
