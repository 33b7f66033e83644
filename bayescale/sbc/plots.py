"""Figures of SBC ranks. matplotlib is imported when a figure is drawn, not with this module."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from .stats import rank_bins

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["rank_histograms"]


def rank_histograms(ranks: pd.DataFrame, n_draws: int, tests: pd.DataFrame, *,
                    band: float = 0.99, var_names: Sequence[str] | None = None,
                    ncols: int = 4, title: str = "") -> Figure:
    """Rank histograms with the ``band`` interval of a bin's count under uniformity.

    The band of bin ``k`` holds ``band`` of the mass of ``Binomial(S, p_k)``, ``S`` the
    number of ranks and ``p_k`` the bin's probability (:func:`~bayescale.sbc.rank_bins`); it
    is pointwise (with 20 bins about one bin in five histograms falls outside a 99% band by
    chance).

    Parameters
    ----------
    ranks : DataFrame
        One column per parameter, ranks in ``0 .. n_draws`` (``<NA>``: failed fits, left out).
    n_draws : int
        ``L``, the number of posterior draws each rank was computed against.
    tests : DataFrame
        The uniformity test per parameter (index: parameter; columns ``bins`` and
        ``p_value``), as :meth:`SBCResult.uniformity <bayescale.sbc.SBCResult.uniformity>`
        returns it: each panel uses its number of bins and shows its p-value.
    band : float
        Probability of the uniform band.
    var_names : sequence of str, optional
        Parameters to draw (all columns of ``ranks`` by default).
    ncols : int
        Panels per row.
    title : str
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    names = list(var_names) if var_names is not None else list(ranks.columns)
    ncols = max(1, min(ncols, len(names)))
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(3.3 * ncols, 2.5 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, name in zip(axes, names, strict=False):
        r = ranks[name].to_numpy(dtype=float, na_value=np.nan)
        r = r[np.isfinite(r)].astype(np.int64)
        k = int(tests.loc[name, "bins"])
        index, prob = rank_bins(n_draws, k)
        counts = np.bincount(index[r], minlength=k)
        lo = stats.binom.ppf((1 - band) / 2, r.size, prob)
        hi = stats.binom.ppf((1 + band) / 2, r.size, prob)
        edges = np.append(np.searchsorted(index, np.arange(k)), n_draws + 1)
        ax.stairs(hi, edges, baseline=lo, fill=True, color="0.85",
                  label=f"{100 * band:g}% band (uniform)")
        ax.stairs(r.size * prob, edges, color="0.4", lw=0.8, ls="--")
        ax.stairs(counts, edges, color="C0", lw=1.5, label="ranks")
        p = tests.loc[name, "p_value"]
        ax.set_title(f"{name}  (p = {p:.2g})", fontsize=9)
        ax.set_xlim(0, n_draws + 1)
        ax.tick_params(labelsize=7)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title, fontsize=10)
    return fig
