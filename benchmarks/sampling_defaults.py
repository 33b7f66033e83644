"""Clean sampling by default: divergences, R-hat and ESS of the default fit, over seeds.

    python benchmarks/sampling_defaults.py [--seeds 10] [--cases NAME,...] [--out DIR]

Cases:

* each shipped data set's natural hierarchical model (the model a user of that data set fits
  first; see ``real_cases``), fitted with every default left as it is;
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
PUBLISHED_EXPONENT = 0.353     # Muennighoff et al. 2023: alpha = beta, fitted on unique data
SIM_GROUPS = (2, 3, 5)


def thin_log(frame: pd.DataFrame, by: str, x: str, k: int) -> pd.DataFrame:
    """At most ``k`` rows per group, log-spaced in ``x``."""
    parts = []
    for _, group in frame.groupby(by):
        group = group.sort_values(x)
        idx = np.unique(np.geomspace(1, len(group), k).astype(int) - 1)
        parts.append(group.iloc[idx])
    return pd.concat(parts, ignore_index=True)


def real_cases() -> dict:
    """``{name: (Model, runs)}``: the natural hierarchical model of each shipped data set.

    Natural = the parameters a grouping can identify: in ``gemstones`` (22 width x depth
    shapes, one run each) the N term varies by width: within a width, depth changes N, so
    alpha is seen inside each group. ``gemstones_A_by_run`` lets A vary by run, a stress
    case: each run has one N, so alpha is identified only through the spread of the runs'
    A (a ridge between alpha and that spread). ``datablations_repetition`` is the paper's
    repetition experiment: per corpus, three model sizes within half a decade of N, each
    trained on its compute-optimal D (D/N = 19.6-20.5) from 8 amounts of unique data. The
    runs measure what repetition costs (R_D, R_N) and each corpus's level (E by corpus); N
    and D move together, so they cannot tell the N term's exponent from the D term's: as in
    the paper, the exponents are the unique-data fit's (alpha = beta = 0.353) and the rest is
    fitted. (Left free, alpha's posterior spans 0.15-1.24 with A over ten decades; the
    default fit mixed on 6 of 10 seeds: ``sampling_defaults_repetition_free_exponents.jsonl``.)
    ``datablations_repetition_EAB`` keeps exponents free and E, A and B by corpus as a stress
    case (weakly identified: A and B by corpus trade off against E by corpus).
    """
    import bayescale as bs
    from bayescale.datasets import highest_loss_excluded, obsscaling_long
    from bayescale.replications.obsscaling import ITEMS

    out = {}
    out["chinchilla_epoch"] = (bs.Model("chinchilla"), highest_loss_excluded(
        bs.datasets.load("chinchilla_epoch"), 5))
    db = bs.datasets.load("datablations")
    out["datablations"] = (bs.Model("data_constrained"),
                           db[db["used_in_paper_fit"]][["N", "D", "U", "loss"]])
    rep = bs.datasets.load("datablations_repetition")
    out["datablations_repetition"] = (
        bs.Model("data_constrained", hierarchy={"E": "corpus"},
                 fixed={"alpha": PUBLISHED_EXPONENT, "beta": PUBLISHED_EXPONENT}),
        rep[rep["final"]][["N", "D", "U", "loss", "corpus"]])
    out["datablations_repetition_EAB"] = (
        bs.Model("data_constrained", hierarchy={"E": "corpus", "A": "corpus", "B": "corpus"}),
        rep[rep["final"]][["N", "D", "U", "loss", "corpus"]])
    obs = obsscaling_long()
    obs = obs[obs["task"].isin(list(ITEMS)) & obs["C"].notna() & (obs["flag"] == "")].copy()
    obs["trials"] = obs["task"].map(ITEMS)
    out["obsscaling"] = (bs.Model("sigmoid_accuracy:C", likelihood="beta_binomial",
                                  target="accuracy", hierarchy={"x50": ["family", "task"],
                                                                "slope": "task",
                                                                "headroom": "task"},
                                  fixed={"floor": 0.25}, min_group_size=1), obs)
    rnsl = bs.datasets.load("revisiting_nsl")
    rnsl = rnsl[(rnsl["y"] > 0) & ~rnsl["heldout"]].rename(columns={"y": "loss"})
    for domain in ("BB", "LM", "NMT", "IC"):
        sub = thin_log(rnsl[rnsl["domain"] == domain], "curve", "x", 20 if domain == "IC" else 60)
        out[f"revisiting_nsl_{domain}"] = (
            bs.Model("power_law:x", hierarchy={"E": "curve", "A": "curve", "alpha": "curve"}),
            sub[["x", "loss", "curve"]])
    porian = bs.datasets.load("porian_rsld")
    out["porian_rsld"] = (bs.Model("chinchilla", hierarchy={"E": "config", "A": "config",
                                                            "B": "config"}),
                          porian[["N", "D", "loss", "config"]])
    moe = bs.datasets.load("routing_moe")
    grid = moe[moe["final"] & (moe["k"] == 1) & (moe["routing_frequency"] == 0.5)
               & (moe["flop_increase"] == 1)].copy()
    grid["config"] = np.where(grid["router"] == "Dense", "Dense",
                              grid["router"] + " E=" + grid["E"].astype(str).str.zfill(3))
    out["routing_moe"] = (bs.Model("power_law:N", hierarchy={"A": "config", "alpha": "config"}),
                          grid[["N", "loss", "config"]])
    gem = bs.datasets.load("gemstones")
    gem = thin_log(gem[gem["D"] >= 2e10], "run", "D", 12)
    out["gemstones"] = (bs.Model("chinchilla", hierarchy={"A": "width"}),
                        gem[["N", "D", "loss", "width"]])
    out["gemstones_A_by_run"] = (bs.Model("chinchilla", hierarchy={"A": "run"}),
                                 gem[["N", "D", "loss", "run"]])
    return out


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
