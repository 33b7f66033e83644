"""Leave one family out on the obsscaling main table: latent capabilities against two baselines.

    python benchmarks/capabilities_lofo.py [--forecasters latent,pca,crossed] [--draws 500]

For each family with >= 3 models (a compute estimate and no flag), fit on every other family
plus the family's smallest model and predict its other models' 8 benchmark scores
(:func:`bayescale.capability_backtest.leave_one_family_out`). Forecasters: the latent model
(``Capabilities()``, K = 1; ``latent_offsets``: with ``family_offsets=True``;
``latent_ceiling``, ``latent_offsets_ceiling``: with ``ceiling=True``, alone or with offsets;
``latent_level``: the families' slope spread held near 0 by its prior; ``latent_on_line``:
a model's spread off its family's line held near 0), Ruan et al.'s
PCA + sigmoid (3 components, 200 family bootstraps) and the crossed family x benchmark sigmoid
(bayescale's per-benchmark model). Each
held-out family's forecasts are appended to ``benchmarks/results/capabilities_lofo.csv`` as
they finish (a rerun skips the families and forecasters already there); the table of mean
absolute error and 90% coverage per benchmark goes to ``capabilities_lofo.md``.
"""

from __future__ import annotations

import argparse
import platform
import warnings
from pathlib import Path

import pandas as pd
from results_io import write_csv, write_text

import bayescale as bs
from bayescale import capability_backtest as cb

COLUMNS = {"benchmark": "task"}
PROB = 0.9
#: ``latent_level``: families differ (almost) only in level, like the crossed model's
#: family effect: their slopes' spread held near 0 by its prior
LEVEL_ONLY = bs.Prior("HalfNormal", sigma=0.05)
#: ``latent_on_line``: a family's models lie (almost) on its line, as in the crossed model:
#: the spread of a model off its family's line held near 0 by its prior
ON_LINE = bs.Prior("HalfNormal", sigma=0.05)


def table_markdown(forecasts: pd.DataFrame) -> str:
    """MAE and coverage per benchmark, one column pair per forecaster."""
    t = cb.error_table(forecasts, benchmark="task")
    wide = t.pivot(index="task", columns="forecaster", values=["mae", "coverage"])
    order = [b for b in [*dict.fromkeys(forecasts["task"]), "all"] if b in wide.index]
    names = list(dict.fromkeys(forecasts["forecaster"]))
    n = t[t.forecaster == names[0]].set_index("task")["n"]
    head = ("| benchmark | rows | " + " | ".join(f"MAE {f}" for f in names) + " | "
            + " | ".join(f"cov90 {f}" for f in names) + " |")
    lines = [head, "|" + "---|" * (2 + 2 * len(names))]
    for b in order:
        lines.append(f"| {b} | {int(n[b])} | "
                     + " | ".join(f"{wide.loc[b, ('mae', f)]:.4f}" for f in names) + " | "
                     + " | ".join(f"{wide.loc[b, ('coverage', f)]:.3f}" for f in names) + " |")
    return "\n".join(lines)


def describe(frame: pd.DataFrame) -> str:
    """One line on a forecaster's run: rows, seconds and, for NUTS fits, its sampling."""
    first = frame.iloc[0]
    extra = (f", {int(first.divergences)} div, R-hat {first.max_rhat:.3f}"
             if "divergences" in frame else "")
    return f"{first.forecaster}: {len(frame)} rows, {first.seconds:.1f} s{extra}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forecasters", default="latent,pca,crossed")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    scores = bs.datasets.obsscaling_long()
    scores = scores[scores["C"].notna() & (scores["flag"] == "")].reset_index(drop=True)
    sampling = {"draws": args.draws, "tune": args.draws, "chains": 4}
    make = {
        "latent": lambda: cb.latent_forecaster(bs.Capabilities(columns=COLUMNS), prob=PROB,
                                               seed=args.seed, **sampling),
        "latent_offsets": lambda: cb.latent_forecaster(
            bs.Capabilities(columns=COLUMNS, family_offsets=True), prob=PROB, seed=args.seed,
            **sampling),
        "latent_ceiling": lambda: cb.latent_forecaster(
            bs.Capabilities(columns=COLUMNS, ceiling=True), prob=PROB, seed=args.seed,
            **sampling),
        "latent_offsets_ceiling": lambda: cb.latent_forecaster(
            bs.Capabilities(columns=COLUMNS, family_offsets=True, ceiling=True), prob=PROB,
            seed=args.seed, **sampling),
        "latent_level": lambda: cb.latent_forecaster(
            bs.Capabilities(columns=COLUMNS, priors={"tau_slope": LEVEL_ONLY}), prob=PROB,
            seed=args.seed, **sampling),
        "latent_on_line": lambda: cb.latent_forecaster(
            bs.Capabilities(columns=COLUMNS, priors={"sigma": ON_LINE}), prob=PROB,
            seed=args.seed, **sampling),
        "pca": lambda: cb.pca_forecaster(bs.PCAScaling(columns=COLUMNS), prob=PROB,
                                         seed=args.seed),
        "crossed": lambda: cb.crossed_forecaster(prob=PROB, seed=args.seed, columns=COLUMNS,
                                                 target_accept=0.95, **sampling),
    }
    names = args.forecasters.split(",")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "capabilities_lofo.csv"
    done = pd.read_csv(path) if path.exists() else pd.DataFrame(
        columns=["held_out", "forecaster"])
    finished = set(zip(done["held_out"], done["forecaster"], strict=True))
    for split in cb.family_splits(scores, columns=COLUMNS):
        todo = {name: make[name]() for name in names if (split[0], name) not in finished}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.SamplingWarning)  # recorded per row
            for frame in cb.forecast_splits([split], todo, label="held_out"):
                keep = ["held_out", "forecaster", "model", "family", "task", "C", "accuracy",
                        "point", "lower", "upper", "seconds",
                        *(c for c in ("divergences", "max_rhat") if c in frame)]
                done = pd.concat([done, frame[keep]], ignore_index=True)
                write_csv(done, path)
                print(f"{split[0]} {describe(frame)}", flush=True)
    present = [n for n in ("latent", "latent_offsets", "latent_ceiling",
                           "latent_offsets_ceiling", "latent_level", "latent_on_line", "pca",
                           "crossed", "latent_uncorrelated")
               if n in set(done["forecaster"])]
    done["forecaster"] = pd.Categorical(done["forecaster"], categories=present)
    text = (f"# Leave one family out, obsscaling main table ({platform.machine()})\n\n"
            f"{done['held_out'].nunique()} held-out families, {len(done) // len(present)} "
            f"held-out scores per forecaster; 90% intervals for the observed score.\n\n"
            + table_markdown(done.sort_values("forecaster")) + "\n")
    write_text(text, out / "capabilities_lofo.md")
    print(text)


if __name__ == "__main__":
    main()
