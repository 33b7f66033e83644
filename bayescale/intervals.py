"""Intervals of draws: one naming scheme, computed by arviz-stats, one default probability.

Every interval bayescale reports is equal-tailed (``arviz_stats.eti``: the ``(1 - p) / 2`` and
``(1 + p) / 2`` quantiles, linear interpolation) and named as ArviZ names them in summaries:
``{quantity}_median``, ``{quantity}_eti{P}_lb`` and ``{quantity}_eti{P}_ub`` with ``P`` in
percent. The default probability is ArviZ's ``rcParams["stats.ci_prob"]`` (0.89 unless the
user set it), so ``arviz_base.rcParams["stats.ci_prob"] = 0.95`` changes every default at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["default_ci_prob", "ci_probs", "percent_of", "eti_bounds", "median_interval",
           "interval_columns", "interval_score"]


def default_ci_prob() -> float:
    """ArviZ's default interval probability, ``rcParams["stats.ci_prob"]``."""
    from arviz_base import rcParams

    return float(rcParams["stats.ci_prob"])


def ci_probs(ci_prob: float | Sequence[float] | None) -> tuple[float, ...]:
    """One or several probabilities in (0, 1); None: :func:`default_ci_prob`."""
    if ci_prob is None:
        ci_prob = default_ci_prob()
    probs = (ci_prob,) if np.isscalar(ci_prob) else tuple(ci_prob)
    for p in probs:
        if not (isinstance(p, (int, float, np.floating)) and 0 < p < 1):
            raise ValueError(f"ci_prob values must be in (0, 1), got {p!r}")
    return tuple(float(p) for p in probs)


def percent_of(p: float) -> str:
    """``0.95 -> "95"``, ``0.895 -> "89.5"``: the ``P`` of ``eti{P}``."""
    return f"{100 * p:.10g}"


def eti_bounds(draws: np.ndarray, prob: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bound of the equal-tailed ``prob`` interval of ``draws`` along
    ``axis`` (arviz-stats' ``eti``, on arrays: ``arviz_stats.base.array_stats``)."""
    from arviz_stats.base import array_stats

    bounds = array_stats.eti(np.asarray(draws, dtype=float), prob, axis=axis)
    return bounds[..., 0], bounds[..., 1]


def median_interval(values: np.ndarray, prob: float) -> tuple[float, float, float]:
    """``(median, lower, upper)`` of a set of scalar draws; NaN when there are none."""
    values = np.ravel(values)
    if values.size == 0:
        return (np.nan, np.nan, np.nan)
    lo, hi = eti_bounds(values, prob)
    return float(np.median(values)), float(lo), float(hi)


def interval_columns(draws: np.ndarray, probs: Iterable[float], prefix: str
                     ) -> dict[str, np.ndarray]:
    """``{prefix}_median`` and ``{prefix}_eti{P}_lb/_ub`` of draws (samples on axis 0)."""
    cols = {f"{prefix}_median": np.median(draws, axis=0)}
    for p in probs:
        cols[f"{prefix}_eti{percent_of(p)}_lb"], cols[f"{prefix}_eti{percent_of(p)}_ub"] = \
            eti_bounds(draws, p)
    return cols


def interval_score(y: np.ndarray, lower: np.ndarray, upper: np.ndarray, prob: float
                   ) -> np.ndarray:
    """Gneiting & Raftery (2007) interval score of the central ``prob`` interval."""
    a = 1.0 - prob
    return ((upper - lower) + (2 / a) * np.clip(lower - y, 0, None)
            + (2 / a) * np.clip(y - upper, 0, None))
