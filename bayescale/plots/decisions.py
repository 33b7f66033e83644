"""Decisions between groups: where two groups' curves cross (:func:`plot_crossover`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..intervals import percent_of as _pct
from .common import finish, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..decisions import Crossover

__all__ = ["plot_crossover"]


def plot_crossover(result: Crossover, *, bins: int = 40, title: str | None = None,
                   ax: Axes | None = None) -> Figure:
    """Posterior of the first crossing point of two groups' curves (histogram of the draws that
    cross, on a log axis), its median and ``ci_prob`` interval, and ``P(cross)``, the share of
    draws that cross within the grid, in the title and legend."""
    draws = result.draws
    fig, ax, own = new_axes(ax)
    pct = _pct(result.ci_prob)
    if draws.size:
        lo_edge, hi_edge = draws.min(), draws.max()
        if hi_edge <= lo_edge:
            lo_edge, hi_edge = lo_edge / 1.1, hi_edge * 1.1
        ax.hist(draws, bins=np.geomspace(lo_edge, hi_edge, bins + 1), color="C0", alpha=0.7,
                edgecolor="k", lw=0.4, label=f"first crossing ({draws.size} of "
                f"{result.first.size} draws cross; P = {result.prob_cross:.2f})")
        ax.axvline(result.median, color="k", lw=1.2, label=f"median {result.median:.3g}")
        ax.axvline(result.lower, color="C3", lw=1, ls="--",
                   label=f"{pct}% interval [{result.lower:.3g}, {result.upper:.3g}]")
        ax.axvline(result.upper, color="C3", lw=1, ls="--")
    else:
        ax.text(0.5, 0.5, "no posterior draw crosses within the grid", ha="center",
                va="center", transform=ax.transAxes)
        ax.plot([], [], color="C0", label="P(cross) = 0")
    if result.prob_multiple > 0:
        ax.plot([], [], ls="none", label=f"P(more than one crossing) = {result.prob_multiple:.2f}")
    ax.set(xscale="log", xlabel=f"{result.along} at the first crossing (log scale)",
           ylabel="posterior draws")
    head = f"{title}: " if title else ""
    ax.set_title(f"{head}P(curves cross in range) = {result.prob_cross:.2f}", fontsize=9)
    ax.legend(fontsize=7)
    return finish(fig, own)
