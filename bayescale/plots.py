"""Figures from fits (matplotlib); every function returns the ``Figure``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .fit import Fit

__all__ = ["plot_tokens_per_parameter", "plot_shrinkage"]


def plot_tokens_per_parameter(fit: Fit, compute: Sequence[float], *,
                              references: Mapping[str, Sequence[float]] | None = None,
                              ci_prob: Sequence[float] = (0.5, 0.95),
                              mark: float | None = None) -> Figure:
    """Posterior of the compute-optimal ``D*/N*`` against compute (log-log), with bands.

    ``references`` maps a label to values of ``D/N`` at the same ``compute`` (e.g. from
    published parameters), drawn as lines; ``mark`` draws a vertical line at a budget.
    """
    compute = np.asarray(compute, dtype=float)
    table = fit.compute_optimal(compute, groups="population", ci_prob=ci_prob)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for p, alpha in zip(sorted(ci_prob, reverse=True), (0.2, 0.4, 0.6), strict=False):
        pct = f"{100 * p:.10g}"
        ax.fill_between(table["compute"], table[f"tokens_per_parameter_eti{pct}_lb"],
                        table[f"tokens_per_parameter_eti{pct}_ub"], color="C0", alpha=alpha,
                        lw=0, label=f"bayescale {pct}% interval")
    ax.plot(table["compute"], table["tokens_per_parameter_median"], color="C0",
            label="bayescale median")
    for i, (label, values) in enumerate((references or {}).items()):
        ax.plot(compute, values, ls="--", color=f"C{i + 1}", label=label)
    if mark is not None:
        ax.axvline(mark, color="grey", lw=0.8, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="training compute C (FLOP)",
           ylabel="compute-optimal tokens per parameter D*/N*")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_shrinkage(fits: Mapping[str, Fit], param: str, column: str, *,
                   truth: Mapping[str, float] | None = None, ci_prob: float = 0.9) -> Figure:
    """Per-group estimates of ``param`` under several fits (e.g. pooled vs unpooled), with
    intervals, the pooled population median, and the true values when known."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    first = next(iter(fits.values()))
    levels = list(first.posterior[column].values)
    offsets = np.linspace(-0.15, 0.15, len(fits))
    q = [(1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2]
    for k, (label, fit) in enumerate(fits.items()):
        by = fit.posterior[f"{param}_by_{column}"]
        lo, med, hi = (by.quantile(qq, dim=("chain", "draw")).values for qq in q)
        x = np.arange(len(levels)) + offsets[k]
        ax.errorbar(x, med, yerr=[med - lo, hi - med], fmt="o", capsize=3, color=f"C{k}",
                    label=f"{label} ({100 * ci_prob:g}% interval)")
    pop = float(first.posterior[param].median())
    ax.axhline(pop, color="C0", lw=0.8, ls="--", label=f"population median ({next(iter(fits))})")
    if truth:
        ax.scatter(range(len(levels)), [truth[lv] for lv in levels], marker="x", color="k",
                   zorder=3, label="true value")
    ax.set_xticks(range(len(levels)), levels)
    ax.set(xlabel=column, ylabel=param)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
