"""The benchmark's data sets and models, defined once: each shipped data set's natural model
(``natural_cases``, fitted by ``sampling_defaults.py``), the held-out-largest-run backtests
(``largest_cases``, ``rnsl_cases``, run by ``backtests.py``) and the full-data fits from which
an extrapolation error can be learned across data sets (``record_cases``).

Held-out sets of ``largest_cases`` (each a real extrapolation; ``python
benchmarks/calibration_cases.py`` prints, per case, max held-out compute / max training compute,
over all runs and per group):

1. Chinchilla (Epoch's 240 runs, the 5 highest-loss runs dropped): the 24 largest-compute runs.
2. datablations (the paper's 296 runs of the data-constrained fit): the 30 largest-compute runs.
3. datablations repetition (final checkpoints; per corpus 3 model sizes x 8 amounts of unique
   data, each size trained on one D, so the 8 runs of a size share one compute): the 8
   largest-compute runs of each corpus, i.e. all 8.7B runs; the 2.8B and 4.2B runs (16 per
   corpus) are fitted. Fewer than 8 would pick some 8.7B runs out of a tie at random. The
   8.7B runs have 4.3x the compute of the 4.2B runs.
4. obsscaling MMLU: the largest-compute model of every family.
5. Routed LMs (notebook 02): the 1.3B model of each of the 28 configurations, fitted on the
   15M-370M models (3.6x in N).
6. Porian et al.: each configuration's runs lie on doubling compute levels (1.25e16 to
   1.28e19 or 2.56e19, 6-12 runs per level); the top 3 levels of each configuration are held
   out (compute 2x, 4x and 8x beyond the largest fitted level).
7. Gemstones (the natural model's runs: checkpoints with D >= 2e10, 12 log-spaced per run):
   every checkpoint with compute above 1/8 of the largest compute of all runs is held out, so
   every held-out checkpoint lies beyond every fitted one (up to 8x). Held-out checkpoints are
   the last 2, 4 and 6 of the 11 checkpoints of the ten runs of 0.48B, 1B and 2B parameters
   (38 of 242); these runs keep their earlier checkpoints in the fit (5-9 per run), so each
   width still has fitted runs. (Holding out the largest models whole would leave their
   widths, and so their A, unseen.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import bayescale as bs

PUBLISHED_EXPONENT = 0.353     # Muennighoff et al. 2023: alpha = beta, fitted on unique data
RNSL_FIT_POINTS = 60           # at most this many log-spaced fitting points per RNSL curve


@dataclass(frozen=True)
class Case:
    label: str          # table label, e.g. "Chinchilla, 24 largest of 240"
    dataset: str        # record key used for leave-one-data-set-out, e.g. "chinchilla_epoch"
    model: bs.Model
    data: pd.DataFrame  # all runs (training + held out)
    holdout: str        # e.g. "largest:24" or "column:heldout"; "" in record_cases


def thin_log(frame: pd.DataFrame, by: str, x: str, k: int) -> pd.DataFrame:
    """At most ``k`` rows per group, log-spaced in ``x``."""
    parts = []
    for _, group in frame.groupby(by):
        group = group.sort_values(x)
        idx = np.unique(np.geomspace(1, len(group), k).astype(int) - 1)
        parts.append(group.iloc[idx])
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------- runs of each data set

def chinchilla_runs() -> pd.DataFrame:
    import bayescale as bs
    from bayescale.datasets import highest_loss_excluded

    return highest_loss_excluded(bs.datasets.load("chinchilla_epoch"), 5)


def datablations_runs() -> pd.DataFrame:
    import bayescale as bs

    db = bs.datasets.load("datablations")
    return db[db["used_in_paper_fit"]][["N", "D", "U", "loss"]]


def repetition_runs() -> pd.DataFrame:
    import bayescale as bs

    rep = bs.datasets.load("datablations_repetition")
    return rep[rep["final"]][["N", "D", "U", "loss", "corpus"]]


def obsscaling_runs(tasks: list[str] | None = None) -> pd.DataFrame:
    """Models with a compute estimate and no flag, on the obsscaling replication's three tasks
    unless ``tasks``."""
    from bayescale.datasets import obsscaling_long
    from bayescale.replications.obsscaling import TASKS

    obs = obsscaling_long()
    return obs[obs["task"].isin(list(tasks or TASKS)) & obs["C"].notna()
               & (obs["flag"] == "")].copy()


def rnsl_runs() -> pd.DataFrame:
    import bayescale as bs

    rnsl = bs.datasets.load("revisiting_nsl")
    return rnsl[rnsl["y"] > 0]


def porian_runs() -> pd.DataFrame:
    """With ``heldout``: the top 3 compute levels of each configuration."""
    import bayescale as bs

    porian = bs.datasets.load("porian_rsld")[["N", "D", "C", "loss", "config"]].copy()
    third = porian.groupby("config")["C"].transform(lambda c: np.sort(c.unique())[-3])
    porian["heldout"] = porian["C"] >= third
    return porian.drop(columns="C")


def routing_grid() -> pd.DataFrame:
    """Notebook 02's runs (final checkpoints, top-1 routing, every other layer routed, no
    extra FLOPs), with ``config`` and ``heldout`` (the 1.3B models)."""
    import bayescale as bs

    moe = bs.datasets.load("routing_moe")
    grid = moe[moe["final"] & (moe["k"] == 1) & (moe["routing_frequency"] == 0.5)
               & (moe["flop_increase"] == 1)].copy()
    grid["config"] = np.where(grid["router"] == "Dense", "Dense",
                              grid["router"] + " E=" + grid["E"].astype(str).str.zfill(3))
    grid["heldout"] = grid["size_label"] == "1.3B"
    return grid


def gemstones_runs() -> pd.DataFrame:
    """Checkpoints with D >= 2e10, 12 log-spaced per run (at most), with ``heldout``: compute
    above 1/8 of the largest."""
    import bayescale as bs

    gem = bs.datasets.load("gemstones")
    gem = thin_log(gem[gem["D"] >= 2e10], "run", "D", 12)
    compute = gem["N"] * gem["D"]
    gem["heldout"] = compute > compute.max() / 8
    return gem


# ---------------------------------------------------------------- natural models

def natural_cases() -> dict:
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

    out = {}
    out["chinchilla_epoch"] = (bs.Model("chinchilla"), chinchilla_runs())
    out["datablations"] = (bs.Model("data_constrained"), datablations_runs())
    out["datablations_repetition"] = (
        bs.Model("data_constrained", hierarchy={"E": "corpus"},
                 fixed={"alpha": PUBLISHED_EXPONENT, "beta": PUBLISHED_EXPONENT}),
        repetition_runs())
    out["datablations_repetition_EAB"] = (
        bs.Model("data_constrained", hierarchy={"E": "corpus", "A": "corpus", "B": "corpus"}),
        repetition_runs())
    out["obsscaling"] = (bs.Model("sigmoid_accuracy:C", likelihood="beta_binomial",
                                  target="accuracy", hierarchy={"x50": ["family", "task"],
                                                                "slope": "task",
                                                                "headroom": "task"},
                                  fixed={"floor": 0.25}, min_group_size=1), obsscaling_runs())
    rnsl = rnsl_runs()
    rnsl = rnsl[~rnsl["heldout"]].rename(columns={"y": "loss"})
    for domain in ("BB", "LM", "NMT", "IC"):
        sub = thin_log(rnsl[rnsl["domain"] == domain], "curve", "x", 20 if domain == "IC" else 60)
        out[f"revisiting_nsl_{domain}"] = (
            bs.Model("power_law:x", hierarchy={"E": "curve", "A": "curve", "alpha": "curve"}),
            sub[["x", "loss", "curve"]])
    out["porian_rsld"] = (porian_model(), porian_runs()[["N", "D", "loss", "config"]])
    out["routing_moe"] = (routing_model(), routing_grid()[["N", "loss", "config"]])
    gem = gemstones_runs()
    out["gemstones"] = (gemstones_model(), gem[["N", "D", "loss", "width"]])
    out["gemstones_A_by_run"] = (bs.Model("chinchilla", hierarchy={"A": "run"}),
                                 gem[["N", "D", "loss", "run"]])
    return out


def porian_model() -> bs.Model:
    import bayescale as bs

    return bs.Model("chinchilla", hierarchy={"E": "config", "A": "config", "B": "config"})


def routing_model() -> bs.Model:
    import bayescale as bs

    return bs.Model("power_law:N", hierarchy={"A": "config", "alpha": "config"})


def gemstones_model() -> bs.Model:
    import bayescale as bs

    return bs.Model("chinchilla", hierarchy={"A": "width"})


def mmlu_model() -> bs.Model:
    """obsscaling's natural model on one task: x50 by family (no task effects)."""
    import bayescale as bs

    return bs.Model("sigmoid_accuracy:C", likelihood="beta_binomial", target="accuracy",
                    hierarchy={"x50": "family"}, fixed={"floor": 0.25}, min_group_size=1)


# ---------------------------------------------------------------- backtest cases

def largest_cases() -> list[Case]:
    """Cases 1-7 of the module docstring: the natural model of each data set, the largest
    runs held out."""
    nat = natural_cases()
    rep_model, rep = nat["datablations_repetition"]
    routing = routing_grid()[["N", "loss", "config", "heldout"]]
    porian = porian_runs()
    gem = gemstones_runs()[["N", "D", "loss", "width", "heldout"]]
    return [
        Case("Chinchilla, 24 largest of 240", "chinchilla_epoch", *nat["chinchilla_epoch"],
             "largest:24"),
        Case("datablations, 30 largest of 296", "datablations", *nat["datablations"],
             "largest:30"),
        Case(f"datablations repetition, 8.7B runs ({int((rep['N'] == rep['N'].max()).sum())} "
             f"of {len(rep)})",
             "datablations_repetition", rep_model, rep, "largest:8"),
        Case("obsscaling MMLU, largest model per family", "obsscaling", mmlu_model(),
             obsscaling_runs(["MMLU"]), "largest:1"),
        Case(f"routed LMs, 1.3B runs ({int(routing['heldout'].sum())} of {len(routing)})",
             "routing_moe", routing_model(), routing, "column:heldout"),
        Case(f"Porian, top 3 compute levels per config ({int(porian['heldout'].sum())} of "
             f"{len(porian)})", "porian_rsld", porian_model(), porian, "column:heldout"),
        Case(f"Gemstones, compute > 1/8 of the largest ({int(gem['heldout'].sum())} of "
             f"{len(gem)} checkpoints)", "gemstones", gemstones_model(), gem,
             "column:heldout"),
    ]


def rnsl_cases(quick: bool = False) -> list[Case]:
    """One ``power_law:x`` backtest per RNSL curve on the paper's split (fit on
    ``Training == 1``, score ``Training == 0``); curves with more than 60 fitting points
    (image classification) keep 60 log-spaced ones. ``quick``: every 8th curve."""
    import bayescale as bs

    cases = []
    curves = list(rnsl_runs().groupby("curve"))
    for name, frame in curves[::8] if quick else curves:
        fitpart = frame[~frame["heldout"]]
        if len(fitpart) > RNSL_FIT_POINTS:
            fitpart = thin_log(fitpart, "curve", "x", RNSL_FIT_POINTS)
        frame = pd.concat([fitpart, frame[frame["heldout"]]], ignore_index=True)
        domain = frame["domain"].iloc[0]
        data = pd.DataFrame({"x": frame["x"].to_numpy(), "loss": frame["y"].to_numpy(),
                             "heldout": frame["heldout"].to_numpy(), "curve": name})
        cases.append(Case(f"RNSL {domain}", f"revisiting_nsl_{domain}",
                          bs.Model("power_law:x"), data, "column:heldout"))
    return cases


def record_cases() -> list[Case]:
    """Every backtest case fitted on all its runs (``holdout=""``): the same models and runs
    as ``largest_cases`` and ``rnsl_cases`` (RNSL: one case per curve, image-classification
    fitting parts thinned as there; obsscaling: MMLU). The ``heldout`` columns are kept (the
    runs the backtest holds out), ignored by the fit."""
    records = [replace(c, label=f"{c.dataset} (all runs)", holdout="") for c in largest_cases()]
    records += [replace(c, label=f"RNSL {c.data['curve'].iloc[0]} (all runs)", holdout="")
                for c in rnsl_cases()]
    return records


# ---------------------------------------------------------------- how far each case extrapolates

def heldout_mask(case: Case) -> np.ndarray:
    """The held-out runs of ``case`` as ``bayescale.calibrate.backtest`` selects them (rows of
    its canonical frame, i.e. of ``case.data`` with rows lacking a target dropped)."""
    from bayescale.build import canonical_frame
    from bayescale.calibrate import _folds, parse_holdout

    frame = canonical_frame(case.model, case.data)
    folds = _folds(case.model, frame, parse_holdout(case.holdout), None)
    return np.any([m for _, m in folds], axis=0)


def extrapolation(case: Case) -> dict:
    """n training / n held-out runs, and max held-out scale / max training scale (scale: the
    backtest's axis, compute N*D, C, or the law's input) over all runs and per group (median
    over the groups of the model's top grouping columns that have held-out runs)."""
    from bayescale.build import canonical_frame
    from bayescale.calibrate import _axis_values
    from bayescale.hierarchy import group_keys, top_columns

    frame = canonical_frame(case.model, case.data)
    mask = heldout_mask(case)
    scale = _axis_values(case.model, frame, None)
    keys = group_keys(frame, top_columns(case.model.grouping_columns))
    ratios = []
    for key in keys[mask].unique():
        rows = (keys == key).to_numpy()
        if (rows & ~mask).any():
            ratios.append(scale[rows & mask].max() / scale[rows & ~mask].max())
    inputs = case.model.law.inputs
    axis = "N*D" if {"N", "D"} <= set(inputs) else ("C" if "C" in inputs else inputs[0])
    return {"label": case.label, "train": int((~mask).sum()), "heldout": int(mask.sum()),
            "axis": axis, "ratio_all": float(scale[mask].max() / scale[~mask].max()),
            "ratio_group_median": float(np.median(ratios)) if ratios else float("nan"),
            "groups": len(ratios)}


def main() -> None:
    """Print each backtest case's n training / n held-out runs and how far it extrapolates
    (RNSL: the quick curves, summed per domain; ratios the median over the curves)."""
    import warnings

    warnings.simplefilter("ignore")
    rows = [extrapolation(c) for c in largest_cases()]
    rnsl = pd.DataFrame([extrapolation(c) for c in rnsl_cases(quick=True)])
    for label, part in rnsl.groupby("label"):
        rows.append({"label": f"{label} ({len(part)} curves, quick)",
                     "train": int(part["train"].sum()), "heldout": int(part["heldout"].sum()),
                     "axis": "x", "ratio_all": float(part["ratio_all"].median()),
                     "ratio_group_median": float(part["ratio_all"].median()),
                     "groups": len(part)})
    with pd.option_context("display.width", 200, "display.max_colwidth", 80,
                           "display.float_format", "{:.3g}".format):
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
