"""Calibration of held-out predictions in a backtest: interval coverage and PIT histograms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from scipy import stats

from ..intervals import percent_of as _pct
from .common import finish, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..calibrate import Backtest

__all__ = ["plot_calibration", "plot_pit"]


def _methods(backtest: Backtest, methods: Sequence[str] | None) -> list[str]:
    have = [m for m in ("bayescale", "bayescale (no extrapolation term)", "baseline")
            if any(m in f for f in backtest.folds)]
    if methods is None:
        return have
    missing = [m for m in methods if m not in have]
    if missing:
        raise ValueError(f"the backtest has no scores for {missing}; it has {have}")
    return list(methods)


def _binomial_band(n: int, p: np.ndarray, band_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``band_prob`` interval of Binomial(n, p) / n."""
    lo = stats.binom.ppf((1 - band_prob) / 2, n, p) / n
    hi = stats.binom.ppf((1 + band_prob) / 2, n, p) / n
    return lo, hi


def plot_calibration(backtest: Backtest, *, methods: Sequence[str] | None = None,
                     band_prob: float = 0.9, ax: Axes | None = None) -> Figure:
    """Empirical coverage of held-out runs against the nominal probability of each central
    interval, per method (default: ``bayescale`` and ``baseline``, those the backtest has),
    with the diagonal and the central ``band_prob`` range of a calibrated method's coverage
    (Binomial(n, p) / n for the n held-out runs)."""
    names = _methods(backtest, methods)
    table = backtest.table()
    probs = np.asarray(backtest.probs, dtype=float)
    fig, ax, own = new_axes(ax, figsize=(5.0, 4.8))
    n = int(table.loc[names[0], "n"])
    p = np.linspace(0.005, 0.995, 199)
    lo, hi = _binomial_band(n, p, band_prob)
    ax.fill_between(p, lo, hi, step="mid", color="0.5", alpha=0.2, lw=0, gid="binomial_band",
                    label=f"{_pct(band_prob)}% range if calibrated (n = {n})")
    ax.plot([0, 1], [0, 1], color="0.3", lw=0.8, ls="--", label="nominal = empirical",
            gid="diagonal")
    for i, m in enumerate(names):
        cover = [float(table.loc[m, f"coverage_{100 * q:g}"]) for q in probs]
        ax.plot(probs, cover, marker="os"[i % 2], color=f"C{i}", lw=1.2, gid=f"coverage {m}",
                label=f"{m} ({int(table.loc[m, 'n'])} held-out runs)")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), aspect="equal",
           xlabel="nominal probability of the central interval",
           ylabel="empirical coverage of held-out runs",
           title=f"backtest {backtest.holdout}: interval coverage")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="upper left")
    return finish(fig, own)


def plot_pit(backtest: Backtest, *, methods: Sequence[str] | None = None, bins: int = 10,
             band_prob: float = 0.9) -> Figure:
    """Histograms of the held-out runs' PIT values ``P(y_rep <= y)``, one panel per method,
    with the uniform expectation ``n / bins`` and the central ``band_prob`` range of a bin's
    count under uniformity (Binomial(n, 1/bins))."""
    names = _methods(backtest, methods)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2), sharey=True,
                             squeeze=False)
    edges = np.linspace(0.0, 1.0, bins + 1)
    for ax, m in zip(axes[0], names, strict=True):
        pit = backtest.pit(m)
        n = len(pit)
        lo, hi = stats.binom.ppf([(1 - band_prob) / 2, (1 + band_prob) / 2], n, 1 / bins)
        ax.axhspan(lo, hi, color="0.5", alpha=0.2, lw=0,
                   label=f"{_pct(band_prob)}% range if uniform")
        ax.hist(pit, bins=edges, color="C0" if m == "bayescale" else "C1", edgecolor="k",
                lw=0.5, label=f"{m} ({n} held-out runs)")
        ax.axhline(n / bins, color="k", lw=1, ls="--", label="uniform (calibrated)")
        ax.set(xlim=(0, 1), xlabel="PIT = P(y_rep <= y) of held-out runs", title=m)
        ax.set_ylim(0, 1.1 * max(hi, np.histogram(pit, bins=edges)[0].max()))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    axes[0][0].set_ylabel(f"held-out runs per bin ({bins} bins)")
    fig.tight_layout()
    return fig
