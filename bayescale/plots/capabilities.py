"""Figures of a latent-capability fit (:class:`bayescale.capabilities.CapabilityFit`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..intervals import percent_of
from .common import band_alphas, distinct_colours, finish, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..capabilities import CapabilityFit

__all__ = ["plot_family_efficiency", "plot_score_forecast"]


def plot_family_efficiency(fit: CapabilityFit, *, dim: int = 0, ci_prob: float = 0.9,
                           ax: Axes | None = None) -> Figure:
    """Forest plot of each family's capability at the reference compute (``a_f``, dimension
    ``dim``; on dimension 1 in e-folds of compute: 1 = the average family with e times its
    compute), median and ``ci_prob`` interval, labelled with P(best) and the family's number
    of models; families sorted by median."""
    eff = fit.family_efficiency(dim=dim, ci_prob=ci_prob)
    p = percent_of(ci_prob)
    counts = pd.Series(fit.data.model_family).map(dict(enumerate(fit.data.families)))
    counts = counts.value_counts()
    fig, ax, own = new_axes(ax, figsize=(6.4, 1.2 + 0.22 * len(eff)))
    y = np.arange(len(eff))[::-1]
    med = eff["intercept_median"].to_numpy()
    lo, hi = eff[f"intercept_eti{p}_lb"].to_numpy(), eff[f"intercept_eti{p}_ub"].to_numpy()
    ax.axvline(0.0, color="C0", lw=1, ls="--", label="average family")
    ax.errorbar(med, y, xerr=[med - lo, hi - med], fmt="o", color="k", capsize=2, ms=4,
                label=f"median, {p}% interval")
    ax.set_yticks(y, [f"{r.family} (n={counts.get(r.family, 0)}, P(best) {r.prob_best:.2f})"
                      for r in eff.itertuples()], fontsize=7)
    unit = "e-folds of compute" if dim == 0 else "spread of models off their line"
    ax.set(xlabel=f"capability s{dim + 1} at the reference compute ({unit})",
           title="Families' capability at equal compute")
    ax.legend(fontsize=7, loc="lower right")
    return finish(fig, own)


def plot_score_forecast(fit: CapabilityFit, family: str, benchmarks: Sequence[str],
                        floors: Sequence[float], compute: Sequence[float], *,
                        observed: Any = None, ci_prob: Sequence[float] = (0.5, 0.9),
                        seed: int | None = 0, ax: Axes | None = None) -> Figure:
    """Predicted scores of a new model of ``family`` (known to the fit or not) against its
    training compute, one band per benchmark (its floor from ``floors``), with the
    ``observed`` scores (columns as in the fit) of that family drawn as points."""
    col = fit.spec.column
    compute = np.asarray(compute, dtype=float)
    fig, ax, own = new_axes(ax)
    colours = distinct_colours(len(benchmarks))
    for bench, floor, colour in zip(benchmarks, floors, colours, strict=True):
        rows = pd.DataFrame({col("family"): family, col("compute"): compute,
                             col("benchmark"): bench, col("floor"): floor})
        out = fit.predict(rows, ci_prob=list(ci_prob), seed=seed)
        for prob, alpha in band_alphas(ci_prob):
            p = percent_of(prob)
            ax.fill_between(compute, out[f"curve_eti{p}_lb"], out[f"curve_eti{p}_ub"],
                            color=colour, alpha=alpha, lw=0)
        ax.plot(compute, out["curve_median"], color=colour, lw=1.5, label=bench)
        if observed is not None:
            seen = observed[(observed[col("family")] == family)
                            & (observed[col("benchmark")] == bench)]
            ax.plot(seen[col("compute")], seen[col("score")], "o", color=colour, ms=5,
                    mec="k", mew=0.5)
    known = family in fit.data.families
    ax.set(xscale="log", xlabel="training compute (FLOP)", ylabel="score",
           title=f"{family}: {'a new model' if known else 'a family not in the fit'} "
                 f"({', '.join(f'{100 * p:g}%' for p in sorted(ci_prob))} bands of the mean "
                 "score)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    return finish(fig, own)
