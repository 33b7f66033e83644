"""Prior and posterior predictive checks of one fit, as numbers.

:func:`check` reports PIT values and interval coverage of the fitted runs under the posterior
predictive, the prior predictive mass on the observed range, and posterior predictive
p-values of test statistics; :class:`CheckResult` holds them.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pymc as pm

from .intervals import eti_bounds, interval_columns, percent_of

if TYPE_CHECKING:
    from .fit import Fit

__all__ = ["check", "CheckResult"]

PRIOR_MASS_MIN = 0.01
PPP_EXTREME = 0.01


@dataclass(frozen=True, eq=False)
class CheckResult:
    """Prior and posterior predictive checks of one fit, as numbers.

    ``runs``: per run, the observed value, the posterior predictive median and central
    50%/90% intervals (``obs_median``, ``obs_eti50_lb`` ...), and
    ``pit = P(y_rep_i < y_i) + P(y_rep_i = y_i) / 2``.
    ``coverage``: ``{0.5: ..., 0.9: ...}`` fraction of runs inside those intervals.
    ``statistics``: test statistics ``T`` (min, max, mean of log y; of y for targets that
    may be zero or negative) with observed value, posterior and prior predictive medians and
    ``p_value = P(T(y_rep) >= T(y))`` under the posterior predictive.
    ``prior_mass_in_range``: fraction of prior predictive draws (over draws and runs) within
    the observed ``[min y, max y]``; ``prior_flagged`` when below 1%.
    """

    runs: pd.DataFrame
    coverage: dict[float, float]
    statistics: pd.DataFrame
    observed_range: tuple[float, float]
    prior_range: tuple[float, float]          # 1% and 99% prior predictive quantiles
    prior_mass_in_range: float
    prior_flagged: bool
    warnings: list[str]

    @property
    def pit(self) -> np.ndarray:
        return self.runs["pit"].to_numpy()

    def __str__(self) -> str:
        lo, hi = self.observed_range
        plo, phi = self.prior_range
        lines = [f"Predictive checks on {len(self.runs)} runs",
                 "  posterior predictive coverage: " + ", ".join(
                     f"{100 * p:g}% interval {c:.2f}" for p, c in self.coverage.items()),
                 f"  prior predictive 1-99%: [{plo:.4g}, {phi:.4g}] vs observed [{lo:.4g}, "
                 f"{hi:.4g}]; prior mass in observed range {self.prior_mass_in_range:.3f}"
                 + (" (FLAGGED)" if self.prior_flagged else "")]
        with pd.option_context("display.float_format", "{:.4g}".format):
            lines.append(self.statistics.to_string())
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _to_natural(fit: Fit, raw: np.ndarray) -> np.ndarray:
    """Observed-scale values (last axis = runs) to the target's natural scale."""
    lik = fit.model.likelihood
    if fit.design is None:
        raise ValueError("this fit has no data (design); refit it")
    return lik.target_from_observed(raw, fit.design.extra)


def _sample_observed(fit: Fit, draws: int | None, seed: int | None, *, prior: bool
                     ) -> np.ndarray:
    """Predictive draws (sample, run) of the observed variable, on the natural scale."""
    name = fit.model.likelihood.observed_name
    model = fit.pymc_model()
    logger = logging.getLogger("pymc")
    level = logger.level
    group = "prior_predictive" if prior else "posterior_predictive"
    try:
        logger.setLevel(logging.ERROR)   # not "Sampling: [...]"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            if prior:
                tree = pm.sample_prior_predictive(draws=draws, model=model, var_names=[name],
                                                  random_seed=seed)
            else:
                tree = pm.sample_posterior_predictive(fit.idata, model=model, var_names=[name],
                                                      random_seed=seed, progressbar=False)
    finally:
        logger.setLevel(level)
    da = tree[group][name]
    values = da.stack(sample=("chain", "draw")).transpose("sample", ...).values
    with np.errstate(over="ignore"):
        return _to_natural(fit, np.asarray(values, dtype=float))


def _statistic_values(y: np.ndarray, use_log: bool) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log(y) if use_log else y
    label = "log y" if use_log else "y"
    return {f"min {label}": np.min(z, axis=-1), f"max {label}": np.max(z, axis=-1),
            f"mean {label}": np.mean(z, axis=-1)}


def check(fit: Fit, *, draws: int = 500, seed: int | None = None,
          prior_mass_min: float = PRIOR_MASS_MIN) -> CheckResult:
    """Prior and posterior predictive checks of a fit, in one call.

    The posterior predictive ``y_rep^s ~ p(y | theta^s)`` uses every posterior draw
    ``theta^s`` at the fitted runs; the prior predictive uses ``draws`` draws of
    ``theta ~ p(theta)``. Reported, on the target's natural scale:

    * ``pit_i = P(y_rep_i < y_i) + P(y_rep_i = y_i) / 2``, near uniform on (0, 1) for a
      calibrated model (values near 0 or 1: runs the model does not expect);
    * coverage: the fraction of runs with ``y_i`` in the central 50% and 90% posterior
      predictive intervals (about 0.5 and 0.9 when calibrated);
    * prior mass ``P_prior(min y <= y_rep <= max y)`` over draws and runs, flagged when
      below ``prior_mass_min`` (a prior that cannot produce data like the observed);
    * posterior predictive p-values ``P(T(y_rep) >= T(y))`` of ``T`` = min, max and mean of
      ``log y`` (of ``y`` for targets that may be zero or negative); values below 0.01 or
      above 0.99 are listed in ``warnings``.

    Every entry of ``warnings`` is also raised as a :class:`UserWarning`.

    Parameters
    ----------
    fit : a fit with its data (``fit.design``; not a fit loaded from disk).
    draws : number of prior predictive draws.
    seed : seed of the prior and posterior predictive draws.
    prior_mass_min : flag the prior below this mass on the observed range.

    Returns
    -------
    CheckResult
    """
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    if fit.design is None:
        raise ValueError("check needs the fitted data (design); refit it")
    y = fit.design.y
    rng = np.random.default_rng(seed)
    prior_seed, post_seed = (int(s) for s in rng.integers(2**31, size=2))
    prior = _sample_observed(fit, draws, prior_seed, prior=True)
    post = _sample_observed(fit, None, post_seed, prior=False)

    probs = (0.5, 0.9)
    runs = pd.DataFrame({"observed": y, **interval_columns(post, probs, "obs")})
    coverage = {}
    for p in probs:
        lo, hi = (runs[f"obs_eti{percent_of(p)}_{b}"].to_numpy() for b in ("lb", "ub"))
        coverage[p] = float(np.mean((lo <= y) & (y <= hi)))
    runs["pit"] = (post < y).mean(axis=0) + 0.5 * (post == y).mean(axis=0)
    runs.index.name = "run"

    y_lo, y_hi = float(y.min()), float(y.max())
    inside = (prior >= y_lo) & (prior <= y_hi)   # NaN and inf count as outside
    mass = float(inside.mean())
    finite = prior[np.isfinite(prior)]
    q_lo, q_hi = ((float(v) for v in eti_bounds(finite, 0.98)) if finite.size
                  else (np.nan, np.nan))
    flagged = mass < prior_mass_min

    use_log = fit.model.likelihood.target_support == "positive"
    t_obs = _statistic_values(y, use_log)
    t_post = _statistic_values(post, use_log)
    t_prior = _statistic_values(prior, use_log)
    rows = {}
    for name, value in t_obs.items():
        rep = t_post[name]
        rows[name] = {"observed": float(value), "posterior_median": float(np.median(rep)),
                      "prior_median": float(np.nanmedian(t_prior[name])),
                      "p_value": float((rep > value).mean() + 0.5 * (rep == value).mean())}
    stats = pd.DataFrame.from_dict(rows, orient="index")

    messages = []
    if flagged:
        messages.append(f"the prior puts {mass:.2%} of its predictive mass within the observed "
                        f"range [{y_lo:.4g}, {y_hi:.4g}] (< {prior_mass_min:.0%}); its 1-99% "
                        f"range is [{q_lo:.4g}, {q_hi:.4g}]: revise the priors")
    for name, row in stats.iterrows():
        if not PPP_EXTREME <= row["p_value"] <= 1 - PPP_EXTREME:
            messages.append(f"posterior predictive p-value of {name} is {row['p_value']:.3f} "
                            f"(observed {row['observed']:.4g}, replicated median "
                            f"{row['posterior_median']:.4g}): the model does not reproduce it")
    for msg in messages:
        warnings.warn(f"bayescale check: {msg}", UserWarning, stacklevel=2)
    return CheckResult(runs=runs, coverage=coverage, statistics=stats,
                       observed_range=(y_lo, y_hi), prior_range=(q_lo, q_hi),
                       prior_mass_in_range=mass, prior_flagged=flagged, warnings=messages)
