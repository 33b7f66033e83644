"""SBC statistics: binning ranks and testing them for uniformity (no model, no sampler)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["default_bins", "rank_bins", "uniformity_test"]


def default_bins(simulations: int) -> int:
    """Histogram bins for ``simulations`` ranks: about 5 expected per bin, 2 to 20 bins."""
    return int(min(20, max(2, simulations // 5)))


def rank_bins(n_draws: int, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin index of every rank ``0 .. n_draws`` and each bin's probability under uniformity.

    Ranks take ``n_draws + 1`` values; bin ``k`` holds the ranks ``r`` with
    ``floor(r * bins / (n_draws + 1)) == k``, so bins differ by at most one rank value when
    ``bins`` does not divide ``n_draws + 1``, and their probabilities are exact.

    Parameters
    ----------
    n_draws : int
        ``L``, the number of posterior draws each rank was computed against.
    bins : int
        Number of bins (at most ``n_draws + 1``).

    Returns
    -------
    index : ndarray of int, shape (n_draws + 1,)
        The bin of each rank value.
    prob : ndarray of float, shape (bins,)
        The probability of each bin when ranks are uniform.
    """
    if not 1 <= bins <= n_draws + 1:
        raise ValueError(f"bins must be within 1 .. {n_draws + 1}, got {bins}")
    index = (np.arange(n_draws + 1) * bins) // (n_draws + 1)
    return index, np.bincount(index, minlength=bins) / (n_draws + 1)


def uniformity_test(ranks: Sequence[int] | np.ndarray, n_draws: int,
                    bins: int | None = None) -> dict[str, float]:
    """Pearson chi-square test that ranks are uniform on ``0 .. n_draws``.

    Parameters
    ----------
    ranks : array of int
        Ranks in ``0 .. n_draws``; NaN entries (failed fits) are dropped.
    n_draws : int
        ``L``, the number of posterior draws each rank was computed against.
    bins : int, optional
        Number of bins; :func:`default_bins` of the number of ranks by default.

    Returns
    -------
    dict
        ``statistic``, ``dof`` (``bins - 1``), ``p_value`` (chi-square survival function),
        ``bins`` and ``simulations`` (the number of ranks used).
    """
    r = np.asarray(ranks, dtype=float)
    r = r[np.isfinite(r)].astype(np.int64)
    if r.size and (r.min() < 0 or r.max() > n_draws):
        raise ValueError(f"ranks must lie in 0 .. {n_draws}")
    bins = default_bins(r.size) if bins is None else int(bins)
    if r.size == 0:
        return {"statistic": math.nan, "dof": bins - 1, "p_value": math.nan, "bins": bins,
                "simulations": 0}
    index, prob = rank_bins(n_draws, bins)
    observed = np.bincount(index[r], minlength=bins)
    expected = r.size * prob
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return {"statistic": statistic, "dof": bins - 1,
            "p_value": float(stats.chi2.sf(statistic, bins - 1)), "bins": bins,
            "simulations": int(r.size)}
