"""Group-level estimates: forest plots of ``{param}_by_{column}`` and shrinkage across fits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

from ..hierarchy import by_name, dim_name
from ..intervals import ci_probs, eti_bounds, median_interval
from ..intervals import percent_of as _pct
from ..predict import POPULATION, parameter_draws
from .common import finish, new_axes, plain_log_labels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..fit import Fit

__all__ = ["plot_forest", "plot_shrinkage"]


def plot_forest(fit: Fit, param: str, column: str, *, ci_prob: float | None = None,
                data: Any = None, new_group: bool = True, seed: int | None = 0,
                xscale: str | None = None, ax: Axes | None = None) -> Figure:
    """Forest plot of the group-level values ``{param}_by_{column}``: median and equal-tailed
    ``ci_prob`` interval per group, the population value (line and band), and each group's
    number of observed runs in its label, so shrinkage of small groups toward the population
    is visible. ``new_group`` adds the interval for a group the fit has not seen (the
    population distribution). Run counts come from the fitted data (or ``data`` for a fit
    loaded from disk). ``xscale`` defaults to log when the intervals span a factor > 10.
    """
    name = by_name(param, column)
    if name not in fit.posterior:
        varying = [v for v in fit.posterior.data_vars if "_by_" in str(v)]
        raise ValueError(f"{name!r} is not in the posterior: {param} does not vary by {column} "
                         f"in this model (group-level variables: {varying})")
    (prob,) = ci_probs(ci_prob)
    dim = dim_name(column)
    levels = [str(v) for v in fit.posterior[dim].values]
    by = fit.posterior[name].stack(sample=("chain", "draw")).transpose(dim, "sample").values
    med = np.median(by, axis=1)
    lo, hi = eti_bounds(by, prob, axis=1)
    counts = _run_counts(fit, column, levels, data)
    pop = fit.posterior[param].values.reshape(-1)
    pop_med, pop_lo, pop_hi = median_interval(pop, prob)
    fig, ax, own = new_axes(ax, figsize=(6.4, 2.0 + 0.42 * (len(levels) + new_group)))
    y = np.arange(len(levels))[::-1] + (1 if new_group else 0)
    ax.axvspan(pop_lo, pop_hi, color="C0", alpha=0.12, lw=0,
               label=f"population {param} ({_pct(prob)}% interval)")
    ax.axvline(pop_med, color="C0", lw=1, ls="--", label=f"population {param} (median)",
               gid="population")
    bars = ax.errorbar(med, y, xerr=[med - lo, hi - med], fmt="o", color="k", capsize=3, ms=5,
                       label=f"{column} (median, {_pct(prob)}% interval)")
    bars.lines[0].set_gid("groups")
    labels = [f"{lv} (n={counts[lv]})" if counts else lv for lv in levels]
    ticks = list(y)
    if new_group:
        new = _new_group_draws(fit, param, column, seed)
        n_med, n_lo, n_hi = median_interval(new, prob)
        ax.errorbar([n_med], [0], xerr=[[n_med - n_lo], [n_hi - n_med]], fmt="D",
                    color="C1", capsize=3, ms=5, label=f"new {column} (population distribution)")
        ticks.append(0)
        labels.append(f"new {column}")
    ax.set_yticks(ticks, labels)
    lows = np.concatenate([lo, [pop_lo]])
    highs = np.concatenate([hi, [pop_hi]])
    if xscale is None:
        xscale = "log" if lows.min() > 0 and highs.max() / lows.min() > 10 else "linear"
    ax.set(xscale=xscale, xlabel=f"{param}" + (" (log scale)" if xscale == "log" else ""),
           ylabel=column, title=f"{name}: partial pooling toward the population")
    ax.title.set_fontsize(9)
    if xscale == "log":
        plain_log_labels(ax.xaxis)
    # Below the x label: a fixed distance (0.55 inch) whatever the height of the axes.
    height = ax.get_position().height * fig.get_figheight()
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.55 / height), ncol=2)
    return finish(fig, own)


def _run_counts(fit: Fit, column: str, levels: Sequence[str], data: Any) -> dict[str, int]:
    """Observed runs per level of ``column`` (empty when neither the design nor data has it)."""
    if data is not None:
        from ..build import canonical_frame

        frame = canonical_frame(fit.model, data)
        counts = frame[column].astype(str).value_counts()
        return {lv: int(counts.get(lv, 0)) for lv in levels}
    if fit.design is not None and column in fit.design.codes:
        n = np.bincount(fit.design.codes[column], minlength=len(levels))
        return {lv: int(n[i]) for i, lv in enumerate(fit.design.levels[column])}
    return {}


def _new_group_draws(fit: Fit, param: str, column: str, seed: int | None) -> np.ndarray:
    """Draws of ``param`` for a new level of ``column`` (other groupings at their population
    location): the hierarchy's population distribution, as predictions draw it."""
    codes = {c: np.array([-1 if c == column else POPULATION]) for c in fit.model.grouping_columns}
    return parameter_draws(fit, codes, np.random.default_rng(seed))[param][:, 0]


def plot_shrinkage(fits: Mapping[str, Fit], param: str, column: str, *,
                   truth: Mapping[str, float] | None = None, ci_prob: float | None = None,
                   groups: Sequence[str] | None = None) -> Figure:
    """Per-group estimates of ``param`` under several fits (e.g. pooled vs unpooled), with
    intervals, the pooled population median, and the true values when known. ``groups``
    chooses and orders the levels of ``column`` shown (default: all, as in the first fit);
    long or many labels are drawn rotated."""
    first = next(iter(fits.values()))
    dim = dim_name(column)
    levels = [str(v) for v in first.posterior[dim].values]
    if groups is not None:
        unknown = [g for g in groups if str(g) not in levels]
        if unknown:
            raise ValueError(f"groups {unknown} are not levels of {column}; the fit has {levels}")
        levels = [str(g) for g in groups]
    width = max(6.4, min(16.0, 1.6 + 0.45 * len(levels)))
    fig, ax = plt.subplots(figsize=(width, 3.8))
    offsets = np.linspace(-0.15, 0.15, len(fits))
    (ci_prob,) = ci_probs(ci_prob)
    for k, (label, fit) in enumerate(fits.items()):
        by = fit.posterior[by_name(param, column)]
        values = {str(v): v for v in by[dim].values}
        by = by.sel({dim: [values[lv] for lv in levels]})
        draws = by.stack(sample=("chain", "draw")).transpose("sample", dim).values
        med = np.median(draws, axis=0)
        lo, hi = eti_bounds(draws, ci_prob)
        x = np.arange(len(levels)) + offsets[k]
        ax.errorbar(x, med, yerr=[med - lo, hi - med], fmt="o", capsize=3, color=f"C{k}",
                    label=f"{label} ({_pct(ci_prob)}% interval)")
    pop = float(first.posterior[param].median())
    ax.axhline(pop, color="C0", lw=0.8, ls="--", label=f"population median ({next(iter(fits))})")
    if truth:
        ax.scatter(range(len(levels)), [truth[lv] for lv in levels], marker="x", color="k",
                   zorder=3, label="true value")
    crowded = len(levels) > 8 or max(len(lv) for lv in levels) * len(levels) > 60
    tick_style = {"rotation": 45, "ha": "right", "fontsize": 8} if crowded else {}
    ax.set_xticks(range(len(levels)), levels, **tick_style)
    ax.set(xlabel=column, ylabel=param)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
