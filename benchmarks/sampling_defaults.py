"""Clean sampling by default: divergences, R-hat and ESS of the default fit, over seeds.

    python benchmarks/sampling_defaults.py [--seeds 10] [--cases NAME,...] [--out DIR]

Cases:

* each shipped data set's natural hierarchical model (the model a user of that data set fits
  first; see ``calibration_cases.natural_cases``), fitted with every default left as it is;
* few-group simulations: 2, 3 and 5 groups of unequal size (40, 12, 25, 6, 18 runs), every
  law parameter varying by group, 2% log-normal noise, for the Chinchilla law and a power law
  in compute; a new simulation per seed.

Each (case, seed) is one default ``Model.fit`` in a fresh process (so compilation is counted
and no state is shared). Writes ``sampling_defaults.jsonl`` (one line per fit) and
``sampling_defaults.md`` (one row per case) under ``--out``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from calibration_cases import natural_cases
from fresh_process import collect

SIM_LAWS = {
    "chinchilla": dict(population={"E": 1.8, "A": 400.0, "B": 1500.0, "alpha": 0.34,
                                   "beta": 0.30},
                       spreads={"E": 0.08, "A": 0.3, "B": 0.3, "alpha": 0.1, "beta": 0.1},
                       ranges={"N": (5e7, 1e10), "D": (1e9, 3e11)}),
    "power_law:C": dict(population={"E": 1.7, "A": 2e3, "alpha": 0.15},
                        spreads={"E": 0.08, "A": 0.3, "alpha": 0.1},
                        ranges={"C": (1e17, 1e21)}),
}
SIM_SIZES = (40, 12, 25, 6, 18)
SIM_GROUPS = (2, 3, 5)


def real_cases() -> dict:
    """``{name: (Model, runs)}``: the natural hierarchical model of each shipped data set,
    defined in ``calibration_cases.natural_cases`` (see there for the choices)."""
    return natural_cases()


def sim_case(law: str, groups: int, seed: int) -> tuple:
    import bayescale as bs

    spec = SIM_LAWS[law]
    sim = bs.simulate.simulate_runs(law, population=spec["population"],
                                    group_sizes={f"g{i}": SIM_SIZES[i] for i in range(groups)},
                                    spreads=spec["spreads"], ranges=spec["ranges"], sigma=0.02,
                                    seed=seed)
    return bs.Model(law, hierarchy={p: "family" for p in spec["population"]}), sim.runs


def case_names() -> list[str]:
    real = ["chinchilla_epoch", "datablations", "datablations_repetition",
            "datablations_repetition_EAB", "obsscaling",
            "revisiting_nsl_BB", "revisiting_nsl_LM", "revisiting_nsl_NMT", "revisiting_nsl_IC",
            "porian_rsld", "routing_moe", "gemstones", "gemstones_A_by_run"]
    sims = [f"sim:{law}:{k}" for law in SIM_LAWS for k in SIM_GROUPS]
    return real + sims


def run_one(case: str, seed: int) -> dict:
    """One default fit (called in a fresh process by main)."""
    warnings.simplefilter("ignore")
    if case.startswith("sim:"):
        _, law, *rest = case.split(":")
        law = ":".join([law, *rest[:-1]]) if len(rest) > 1 else law
        model, runs = sim_case(law, int(rest[-1]), seed)
    else:
        model, runs = real_cases()[case]
    start = time.perf_counter()
    fit = model.fit(runs, seed=seed, progressbar=False, warn=False)
    d = fit.diagnostics
    return {"case": case, "seed": seed, "runs": len(runs), "divergences": d.divergences,
            "max_rhat": d.max_rhat, "min_ess_bulk": d.min_ess_bulk, "refits": d.refits,
            "history": list(d.history), "seconds": time.perf_counter() - start}


def summarise(records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    order = {name: i for i, name in enumerate(case_names())}
    frame = frame.sort_values("case", key=lambda c: c.map(order).fillna(len(order)),
                              kind="stable")
    rows = []
    for case, part in frame.groupby("case", sort=False):
        ok = part.dropna(subset=["divergences"])
        rows.append({
            "case": case, "runs": int(ok["runs"].iloc[0]) if len(ok) else 0,
            "seeds": len(part),
            "seeds clean": int(((ok["divergences"] == 0) & (ok["max_rhat"] <= 1.01)).sum()),
            "max divergences": int(ok["divergences"].max()) if len(ok) else -1,
            "max R-hat": f"{ok['max_rhat'].max():.3f}" if len(ok) else "-",
            "min bulk ESS": int(ok["min_ess_bulk"].min()) if len(ok) else 0,
            "refits (seeds)": int((ok["refits"] > 0).sum()),
            "median s": round(float(ok["seconds"].median()), 1) if len(ok) else np.nan,
            "errors": int(part["divergences"].isna().sum()),
        })
    return pd.DataFrame(rows)


def main() -> None:
    collected = collect(__file__, __doc__, ("cases", "CASE"), None, run_one,
                        "sampling_defaults.jsonl", "case",
                        names=lambda cases: cases or case_names())
    if collected is None:
        return
    out, _, records = collected
    table = summarise(records)
    from bayescale.report import frame_table

    header = ("# Default fits over seeds (one fresh process per fit, 2 CPU cores)\n\n"
              "Clean: 0 divergences and max R-hat <= 1.01 after the automatic refits.\n")
    (out / "sampling_defaults.md").write_text(header + "\n" + frame_table(table) + "\n")
    print(frame_table(table))


if __name__ == "__main__":
    main()
