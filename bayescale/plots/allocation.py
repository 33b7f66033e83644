"""Compute allocation: IsoFLOP curves, the compute-optimal frontier ``N*(C)`` and tokens per
parameter ``D*/N*``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..intervals import ci_probs, eti_bounds
from ..intervals import percent_of as _pct
from ..predict import curve_draws
from .common import band_alphas, distinct_colours, finish, new_axes, plain_log_labels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..fit import Fit

__all__ = ["plot_isoflop", "plot_frontier", "plot_tokens_per_parameter"]


def plot_isoflop(fit: Fit, compute: Sequence[float], *,
                 n_range: tuple[float, float] | None = None, ci_prob: float | None = None,
                 data: Any = None, group: Mapping[str, Any] | None = None,
                 tolerance: float = 0.15, flops_per_param_token: float = 6.0,
                 n_points: int = 80, seed: int | None = 0, ax: Axes | None = None) -> Figure:
    """IsoFLOP curves: the loss against ``N`` at fixed compute ``C = 6 N D`` (``D = C/(6N)``),
    one curve (median and ``ci_prob`` band of the law's curve) per budget, with the posterior
    compute-optimal ``N*`` marked (median, and its ``ci_prob`` interval as a horizontal bar).

    ``group`` chooses a group ``{column: level}``; default the population location (all group
    effects zero, as ``compute_optimal(groups="population")``). ``n_range`` is the range of
    ``N`` (default ``N*/30`` to ``30 N*`` per budget). Runs in ``data`` whose ``6ND`` lies
    within ``tolerance`` (log10 units) of a budget are drawn in that budget's colour.
    """
    from ..build import canonical_frame

    law = fit.model.law
    if set(law.inputs) != {"N", "D"}:
        raise ValueError(f"plot_isoflop needs a law in N and D; {law.name} has inputs "
                         f"{list(law.inputs)}")
    (prob,) = ci_probs(ci_prob)
    budgets = np.sort(np.atleast_1d(np.asarray(compute, dtype=float)))
    k = flops_per_param_token
    where: str | Mapping[str, Any] = "population" if not group else dict(group)
    opt = fit.compute_optimal(budgets, groups=where, ci_prob=prob, seed=seed,
                              flops_per_param_token=k, extrapolation=False)  # on the curves
    fig, ax, own = new_axes(ax, figsize=(8.6, 4.4))
    colours = list(plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(budgets))))
    runs = None
    if data is not None:
        runs = canonical_frame(fit.model, data)
        run_c = np.log10(k * runs["N"].to_numpy(float) * runs["D"].to_numpy(float))
    handles: list[Any] = []
    pct = _pct(prob)
    for i, (c, row) in enumerate(zip(budgets, opt.itertuples(index=False), strict=True)):
        n_star = row.N_opt_median
        lo, hi = (n_range if n_range is not None else (n_star / 30, n_star * 30))
        if runs is not None:
            near = np.abs(run_c - np.log10(c)) <= tolerance
            if near.any() and n_range is None:
                lo = min(lo, runs["N"][near].min() / 1.5)
                hi = max(hi, runs["N"][near].max() * 1.5)
        n = np.geomspace(lo, hi, n_points)
        rows = pd.DataFrame({"N": n, "D": c / (k * n)})
        draws = curve_draws(fit, rows, group, seed=seed)
        med = np.median(draws, axis=0)
        lb, ub = eti_bounds(draws, prob)
        colour = colours[i]
        ax.fill_between(n, lb, ub, color=colour, alpha=0.25, lw=0, gid=f"curve_band {c:g}")
        ax.plot(n, med, color=colour, lw=1.4, gid=f"median {c:g}")
        handles.append(Line2D([], [], color=colour, lw=1.4, label=f"C = {c:.3g} FLOP"))
        n_lo, n_hi = getattr(row, f"N_opt_eti{pct}_lb"), getattr(row, f"N_opt_eti{pct}_ub")
        loss_star = row.loss_opt_median
        bar = ax.errorbar([n_star], [loss_star], xerr=[[n_star - n_lo], [n_hi - n_star]],
                          fmt="D", color=colour, markeredgecolor="k", ms=6, capsize=3, zorder=4)
        bar.lines[0].set_gid(f"optimum {c:g}")
        if runs is not None and near.any():
            ax.scatter(runs["N"][near], runs[fit.model.target][near], color=colour, s=18,
                       edgecolor="k", linewidth=0.4, zorder=3, gid=f"runs {c:g}")
    who = "population" if not group else ", ".join(f"{a}={b}" for a, b in group.items())
    handles.append(Patch(color="0.4", alpha=0.25, lw=0, label=f"curve {pct}% interval"))
    handles.append(Line2D([], [], color="0.4", marker="D", markeredgecolor="k", ls="none",
                          label=f"compute-optimal N* (median, {pct}% interval)"))
    if runs is not None:
        handles.append(Line2D([], [], color="0.4", marker="o", markeredgecolor="k", ls="none",
                              label=f"observed runs ({k:g}ND within a factor "
                                    f"{10 ** tolerance:.3g} of C)"))
    ax.set(xscale="log", xlabel="N (log scale)", ylabel=f"{fit.model.target}",
           title=f"IsoFLOP curves ({who}; D = C / ({k:g} N))")
    ax.title.set_fontsize(9)
    # Outside the axes: IsoFLOP curves and their runs leave no corner reliably empty.
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return finish(fig, own)


def plot_frontier(fit: Fit, compute: Sequence[float], *,
                  ci_prob: float | Sequence[float] = (0.5, 0.9),
                  groups: str | Mapping[str, str] = "population",
                  flops_per_param_token: float = 6.0, seed: int | None = 0) -> Figure:
    """Compute-optimal frontier: ``N*(C)`` (left) and ``D*/N*`` (right) against compute, log-log,
    with equal-tailed ``ci_prob`` bands from :meth:`Fit.compute_optimal` (``groups`` as
    there: ``"population"``, ``"all"`` or ``{column: level}``)."""
    probs = ci_probs(ci_prob)
    budgets = np.sort(np.atleast_1d(np.asarray(compute, dtype=float)))
    table = fit.compute_optimal(budgets, groups=groups, ci_prob=probs, seed=seed,
                                flops_per_param_token=flops_per_param_token,
                                extrapolation=False)   # N* and D*/N* do not depend on it
    labels = list(dict.fromkeys(table["group"]))
    colours = distinct_colours(len(labels))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    panels = (("N_opt", "N* (log scale)", "compute-optimal parameters N*"),
              ("tokens_per_parameter", "D*/N* (log scale)", "compute-optimal tokens per parameter"))
    for ax, (q, ylabel, heading) in zip(axes, panels, strict=True):
        handles: list[Any] = []
        for label, colour in zip(labels, colours, strict=True):
            sub = table[table["group"] == label]
            for p, alpha in band_alphas(probs):
                ax.fill_between(sub["compute"], sub[f"{q}_eti{_pct(p)}_lb"],
                                sub[f"{q}_eti{_pct(p)}_ub"], color=colour, alpha=alpha, lw=0,
                                gid=f"band {_pct(p)} {label}")
            ax.plot(sub["compute"], sub[f"{q}_median"], color=colour, lw=1.4,
                    gid=f"median {label}")
            handles.append(Line2D([], [], color=colour, lw=1.4, label=f"{label} (median)"))
        for p, alpha in band_alphas(probs):
            handles.append(Patch(color="0.3", alpha=alpha, lw=0, label=f"{_pct(p)}% interval"))
        ax.set(xscale="log", yscale="log", xlabel="training compute C (FLOP, log scale)",
               ylabel=ylabel)
        ax.set_title(heading, fontsize=9)
        plain_log_labels(ax.yaxis)
        ax.legend(handles=handles, fontsize=7)
    edge = table["boundary_fraction"].max()
    if edge > 0:
        fig.suptitle(f"up to {edge:.0%} of draws have their optimum at the search boundary",
                     fontsize=8)
    fig.tight_layout()
    return fig


def plot_tokens_per_parameter(fit: Fit, compute: Sequence[float], *,
                              references: Mapping[str, Sequence[float]] | None = None,
                              ci_prob: Sequence[float] = (0.5, 0.95),
                              mark: float | None = None) -> Figure:
    """Posterior of the compute-optimal ``D*/N*`` against compute (log-log), with bands.

    ``references`` maps a label to values of ``D/N`` at the same ``compute`` (e.g. from
    published parameters), drawn as lines; ``mark`` draws a vertical line at a budget.
    """
    compute = np.asarray(compute, dtype=float)
    table = fit.compute_optimal(compute, groups="population", ci_prob=ci_prob,
                                extrapolation=False)   # D*/N* does not depend on the term
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for p, alpha in zip(sorted(ci_prob, reverse=True), (0.2, 0.4, 0.6), strict=False):
        pct = _pct(p)
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
