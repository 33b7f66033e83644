"""Model criticism across specifications: PSIS-LOO comparison, predictive checks, sensitivity.

* :func:`compare`: which law / hierarchy / likelihood predicts held-out runs best, by
  PSIS-LOO (Vehtari et al. 2017, 2024), with high Pareto-k runs named.
* :func:`check`: prior and posterior predictive checks as numbers (PIT values, interval
  coverage, prior mass on the observed range, test statistics).
* :func:`sensitivity`: refit the same runs under several specifications (law, likelihood,
  priors, exclusion rules) and tabulate one derived quantity per specification; published
  conclusions can flip with such choices (Li et al. 2025, "(Mis)Fitting scaling laws").
"""

from __future__ import annotations

import json
import logging
import re
import sys
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from ._validate import as_frame
from .fit import SamplingWarning, fit
from .laws import Law, get_law
from .model import Model
from .predict import compute_optimal

if TYPE_CHECKING:
    from .fit import Fit

__all__ = ["compare", "CompareResult", "check", "CheckResult", "sensitivity", "quantity_draws"]

_COUNT_LIKELIHOODS = ("binomial", "beta_binomial")   # observe success counts, not y


# ---------------------------------------------------------------------------- observed data
def _observed_name(fit: Fit) -> str:
    return fit.model.likelihood.observed_name


def _observed_raw(fit: Fit) -> np.ndarray:
    """What the likelihood observes (log y, y or counts), from the fit's ``observed_data``."""
    return np.asarray(fit.idata["observed_data"][_observed_name(fit)].values, dtype=float)


def _to_natural(fit: Fit, raw: np.ndarray) -> np.ndarray:
    """Observed-scale values (last axis = runs) to the target's natural scale."""
    lik = fit.model.likelihood
    if "trials" in lik.columns and fit.design is None:
        raise ValueError("this fit was loaded from disk without its data (trials unknown)")
    return lik.target_from_observed(raw, fit.design.extra if fit.design else {})


def _scale_kind(fit: Fit) -> str:
    return "counts" if fit.model.likelihood.name in _COUNT_LIKELIHOODS else "continuous"


def _check_same_data(fits: Mapping[str, Fit]) -> None:
    """Refuse fits whose observed runs differ (LOO differences need the same runs)."""
    kinds = {name: _scale_kind(f) for name, f in fits.items()}
    if len(set(kinds.values())) > 1:
        raise ValueError(f"cannot compare likelihoods on counts with likelihoods on a continuous "
                         f"target (densities and probabilities are not on one scale): {kinds}")
    names = list(fits)
    first = names[0]
    ref = _observed_natural(fits[first])
    for name in names[1:]:
        y = _observed_natural(fits[name])
        if y.shape != ref.shape:
            raise ValueError(f"models {first!r} and {name!r} were fitted to different data: "
                             f"{ref.size} vs {y.size} observed runs; PSIS-LOO compares models "
                             "fitted to the same runs")
        bad = ~np.isclose(y, ref, rtol=1e-9, atol=0.0)
        if bad.any():
            rows = np.flatnonzero(bad)
            shown = ", ".join(f"run {i}: {ref[i]:.6g} vs {y[i]:.6g}" for i in rows[:5])
            raise ValueError(f"models {first!r} and {name!r} were fitted to different data: "
                             f"observed values differ in {rows.size} run(s) ({shown}); "
                             "PSIS-LOO compares models fitted to the same runs")
        d0, d1 = fits[first].design, fits[name].design
        if d0 is not None and d1 is not None:
            for inp in sorted(set(d0.log_x) & set(d1.log_x)):
                if not np.allclose(d0.log_x[inp], d1.log_x[inp], rtol=0, atol=1e-12):
                    raise ValueError(f"models {first!r} and {name!r} were fitted to different "
                                     f"data: input {inp!r} differs")


def _observed_natural(fit: Fit) -> np.ndarray:
    """Observed targets on the natural scale (counts for count likelihoods)."""
    raw = _observed_raw(fit)
    return np.exp(raw) if _observed_name(fit) == "log_y" else raw


# ---------------------------------------------------------------------------- compare
@dataclass(frozen=True, eq=False)
class CompareResult:
    """PSIS-LOO comparison of fits to the same runs.

    ``table``: :func:`arviz.compare`'s frame (best first: ``rank``, ``elpd_diff``, ``dse``,
    ``p_worse``, ``diag_diff``, ``diag_elpd``, ``p``, ``elpd``, ``se``, ``weight``) plus
    ``n_high_pareto_k`` and ``max_pareto_k``; ``pareto_k``: ``{model: k per run}``;
    ``warnings``: one line per model with runs above the Pareto-k threshold.
    """

    table: pd.DataFrame
    warnings: list[str]
    pareto_k: dict[str, np.ndarray] = field(repr=False)
    loo: dict[str, Any] = field(repr=False)
    pareto_k_threshold: float = 0.7

    @property
    def best(self) -> str:
        """Name of the model with the highest ELPD."""
        return str(self.table.index[0])

    def __str__(self) -> str:
        cols = ["rank", "elpd", "se", "elpd_diff", "dse", "p", "weight", "n_high_pareto_k"]
        with pd.option_context("display.width", 120, "display.float_format", "{:.2f}".format):
            text = f"PSIS-LOO (elpd of y on its natural scale)\n{self.table[cols].to_string()}"
        if self.warnings:
            text += "\n" + "\n".join(f"warning: {w}" for w in self.warnings)
        return text


def _loo(fit: Fit) -> Any:
    """PSIS-LOO of one fit, pointwise, on the natural scale of y.

    A likelihood on ``z = log y`` gives densities of ``z``; ``p(y) = p(z) |dz/dy|`` adds the
    log-Jacobian ``-log y_i`` to each run, so fits on ``log y`` and on ``y`` compare.
    """
    fit.log_likelihood()
    jacobian = None
    if _observed_name(fit) == "log_y":
        raw = fit.idata["observed_data"][_observed_name(fit)]
        jacobian = xr.DataArray(-np.asarray(raw.values, dtype=float), dims=raw.dims,
                                coords={d: raw.coords[d].values for d in raw.dims
                                        if d in raw.coords})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # Pareto k: reported by compare itself
        warnings.simplefilter("ignore", RuntimeWarning)
        from arviz_stats import loo

        return loo(fit.idata, pointwise=True, var_name=_observed_name(fit),
                      log_jacobian=jacobian)


def compare(fits: Mapping[str, Fit], *, pareto_k_threshold: float = 0.7) -> CompareResult:
    """Compare fits to the same runs by PSIS-LOO.

    For each model, ``elpd_loo = sum_i log p(y_i | y_-i)``, with
    ``p(y_i | y_-i) ~= sum_s w_i^s p(y_i | theta^s) / sum_s w_i^s`` and Pareto-smoothed
    importance weights ``w_i^s ~ 1 / p(y_i | theta^s)``; ``elpd_diff`` is relative to the
    best model and ``dse = sqrt(n var_i(elpd_i^a - elpd_i^b))`` is its standard error.
    Densities are of y on its natural scale (log-y likelihoods get the Jacobian ``-log y_i``).

    Runs whose Pareto shape ``k_i > pareto_k_threshold`` (0.7: Vehtari et al. 2024) make the
    estimate unreliable for that run (an outlier or a run the posterior hinges on): each
    model with such runs raises a :class:`UserWarning` naming the runs (row positions in the
    fitted data) and their ``k``, also listed in ``.warnings``.

    Parameters
    ----------
    fits : ``{name: Fit}``, at least one, fitted to the same runs in the same order (laws,
        hierarchies, likelihoods, priors may differ).
    pareto_k_threshold : runs above it are reported.

    Returns
    -------
    CompareResult

    Raises
    ------
    ValueError
        If the fits' observed data differ in length or values (the message names the models),
        or count and continuous likelihoods are mixed.
    """
    if not isinstance(fits, Mapping) or not fits:
        raise ValueError("compare needs a mapping {name: Fit} with at least one fit")
    fits = {str(k): v for k, v in fits.items()}
    _check_same_data(fits)
    loos = {name: _loo(f) for name, f in fits.items()}
    if len(loos) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            from arviz_stats import compare as arviz_compare

            table = arviz_compare(loos, round_to="none")
    else:
        (name, res), = loos.items()
        table = pd.DataFrame({"rank": [0], "elpd_diff": [0.0], "dse": [0.0],
                              "p_worse": [np.nan], "diag_diff": [""], "diag_elpd": [""],
                              "p": [res.p], "elpd": [res.elpd], "se": [res.se],
                              "weight": [1.0]}, index=[name])
    ks = {name: np.asarray(res.pareto_k.values, dtype=float).reshape(-1)
          for name, res in loos.items()}
    table["n_high_pareto_k"] = [int((ks[m] > pareto_k_threshold).sum()) for m in table.index]
    table["max_pareto_k"] = [float(np.nanmax(ks[m])) for m in table.index]
    messages = []
    for name in table.index:
        k = ks[name]
        high = np.flatnonzero(k > pareto_k_threshold)
        if high.size:
            runs = ", ".join(f"run {i} (k={k[i]:.2f})" for i in high[np.argsort(-k[high])])
            messages.append(f"model {name!r}: {high.size} run(s) with Pareto k > "
                            f"{pareto_k_threshold:g}: {runs}; PSIS-LOO is unreliable there "
                            "(outlier or highly influential run): check these runs, refit "
                            "without them for exact LOO, or use a robust likelihood")
    for msg in messages:
        warnings.warn(msg, UserWarning, stacklevel=2)
    return CompareResult(table=table, warnings=messages, pareto_k=ks, loo=loos,
                         pareto_k_threshold=pareto_k_threshold)


# ---------------------------------------------------------------------------- check
PRIOR_MASS_MIN = 0.01
PPP_EXTREME = 0.01


@dataclass(frozen=True, eq=False)
class CheckResult:
    """Prior and posterior predictive checks of one fit, as numbers.

    ``runs``: per run, the observed value, the posterior predictive median and central
    50%/90% intervals, and ``pit = P(y_rep_i < y_i) + P(y_rep_i = y_i) / 2``.
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


def _sample_observed(fit: Fit, draws: int | None, seed: int | None, *, prior: bool
                     ) -> np.ndarray:
    """Predictive draws (sample, run) of the observed variable, on the natural scale."""
    name = _observed_name(fit)
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
        raise ValueError("check needs the fitted data; a fit loaded from disk has none, refit it")
    y = fit.design.y
    rng = np.random.default_rng(seed)
    prior_seed, post_seed = (int(s) for s in rng.integers(2**31, size=2))
    prior = _sample_observed(fit, draws, prior_seed, prior=True)
    post = _sample_observed(fit, None, post_seed, prior=False)

    runs = pd.DataFrame({"observed": y, "pp_median": np.median(post, axis=0)})
    coverage = {}
    for p in (0.5, 0.9):
        lo, hi = np.quantile(post, [(1 - p) / 2, (1 + p) / 2], axis=0)
        runs[f"pp_eti{100 * p:g}_lb"], runs[f"pp_eti{100 * p:g}_ub"] = lo, hi
        coverage[p] = float(np.mean((lo <= y) & (y <= hi)))
    runs["pit"] = (post < y).mean(axis=0) + 0.5 * (post == y).mean(axis=0)
    runs.index.name = "run"

    y_lo, y_hi = float(y.min()), float(y.max())
    inside = (prior >= y_lo) & (prior <= y_hi)   # NaN and inf count as outside
    mass = float(inside.mean())
    finite = prior[np.isfinite(prior)]
    q_lo, q_hi = ((float(v) for v in np.quantile(finite, [0.01, 0.99])) if finite.size
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


# ---------------------------------------------------------------------------- sensitivity
Quantity = Callable[["Fit"], np.ndarray] | str
_QUANTITY = re.compile(r"^\s*(tokens_per_parameter|compute_for_loss)\s*@\s*(\S+)\s*$")
FRONTIER_COMPUTE = (1e15, 1e31)   # compute range searched by compute_for_loss (FLOP)
FRONTIER_PER_DECADE = 10          # grid points a decade where the target loss is crossed


def _parse_quantity(quantity: Quantity) -> tuple[str, float] | None:
    if callable(quantity):
        return None
    match = _QUANTITY.match(str(quantity))
    value = None
    if match:
        try:
            value = float(match.group(2))
        except ValueError:
            value = None
    if value is None or not np.isfinite(value) or value <= 0:
        raise ValueError(f"unknown quantity {quantity!r}; expected a function fit -> draws, "
                         "'tokens_per_parameter@C' (D*/N* at compute C, e.g. "
                         "'tokens_per_parameter@5.88e23') or 'compute_for_loss@L' (the least "
                         "compute whose compute-optimal loss is <= L)")
    return match.group(1), value


def _frontier_compute(fit: Fit, loss: float, seed: int | None) -> np.ndarray:
    """Per draw, the least ``C`` with ``min_N L(N, C / 6N) <= loss``.

    The compute-optimal loss ``L*(C)`` is evaluated one point a decade on
    ``FRONTIER_COMPUTE``, then ``FRONTIER_PER_DECADE`` points a decade over the decades that
    bracket ``loss`` for some draw; between the two grid points that bracket the first
    crossing, ``log C`` is interpolated linearly in ``log L*``. NaN where ``L*`` stays above
    ``loss`` on the grid, or is already below it at its lower end.
    """
    def gap(grid: np.ndarray) -> np.ndarray:   # log L*(C) - log loss, (sample, budget)
        best = compute_optimal(fit, grid, groups="population", kind="draws", seed=seed)
        return np.log(best["loss_opt"].values.T) - np.log(loss)

    lo, hi = FRONTIER_COMPUTE
    grid = np.geomspace(lo, hi, int(round(np.log10(hi / lo))) + 1)
    f = gap(grid)
    below = f <= 0
    j = np.argmax(below, axis=1)
    inner = below.any(axis=1) & (j > 0)
    if inner.any():   # refine the decades where some draw crosses
        a, b = grid[j[inner] - 1].min(), grid[j[inner]].max()
        fine = np.geomspace(a, b, int(round(FRONTIER_PER_DECADE * np.log10(b / a))) + 1)
        keep = (grid < a * (1 - 1e-9)) | (grid > b * (1 + 1e-9))
        grid = np.concatenate([grid[keep], fine])
        f = np.concatenate([f[:, keep], gap(fine)], axis=1)
        order = np.argsort(grid)
        grid, f = grid[order], f[:, order]
        below = f <= 0
        j = np.argmax(below, axis=1)
        inner = below.any(axis=1) & (j > 0)
    out = np.full(len(f), np.nan)
    idx = np.flatnonzero(inner)
    lc = np.log(grid)
    fa, fb = f[idx, j[idx] - 1], f[idx, j[idx]]
    t = fa / (fa - fb)
    out[idx] = np.exp(lc[j[idx] - 1] + t * (lc[j[idx]] - lc[j[idx] - 1]))
    return out


def quantity_draws(fit: Fit, quantity: Quantity, *, seed: int | None = None) -> np.ndarray:
    """Posterior draws of a derived quantity of one fit, as :func:`sensitivity` computes it.

    Parameters
    ----------
    quantity : ``"tokens_per_parameter@C"``, ``"compute_for_loss@L"`` (see
        :func:`sensitivity`) or a function ``fit -> draws``.
    seed : seed of any new-group draws (none at the population level).

    Returns
    -------
    ndarray, one value per posterior draw (NaN where undefined).
    """
    parsed = _parse_quantity(quantity)
    if parsed is None:
        return np.asarray(quantity(fit), dtype=float).reshape(-1)
    name, value = parsed
    if set(fit.model.law.inputs) != {"N", "D"}:
        raise ValueError(f"quantity {quantity!r} needs a law in N and D; {fit.model.law.name} "
                         f"has inputs {list(fit.model.law.inputs)}: pass a function fit -> "
                         "draws (e.g. from bayescale.inverse_predict) instead")
    if name == "tokens_per_parameter":
        out = compute_optimal(fit, value, groups="population", kind="draws", seed=seed)
        return np.asarray(out["tokens_per_parameter"].values[0], dtype=float)
    return _frontier_compute(fit, value, seed)


def _fit_variant(data: pd.DataFrame, model_spec: dict[str, Any], law: Law | None,
                 quantity: Quantity, fit_kwargs: dict[str, Any], ci_prob: float
                 ) -> dict[str, Any]:
    """Fit one variant and summarise it (module level so process pools can pickle it).

    Returns only plain numbers and strings, no Fit.
    """
    model = Model.from_dict(model_spec, law=law)
    result = fit(model, data, **{**fit_kwargs, "warn": False})
    draws = quantity_draws(result, quantity, seed=fit_kwargs.get("seed"))
    finite = draws[np.isfinite(draws)]
    if finite.size:
        lo, med, hi = (float(v) for v in np.quantile(finite, [(1 - ci_prob) / 2, 0.5,
                                                               (1 + ci_prob) / 2]))
    else:
        lo = med = hi = np.nan
    d = result.diagnostics
    return {"median": med, "lower": lo, "upper": hi,
            "fraction_undefined": float(1 - finite.size / max(draws.size, 1)),
            "divergences": int(d.divergences), "max_rhat": float(d.max_rhat),
            "min_ess_bulk": float(d.min_ess_bulk), "problems": "; ".join(d.problems())}


def _fork_after_jax(executor: Executor) -> bool:
    """A process pool that forks a process whose JAX runtime is running.

    XLA's CPU client owns thread pools and locks; a forked child inherits the initialised
    client without its threads, and its first JAX call deadlocks or aborts (absl
    ``Mutex`` check failure, seen as ``BrokenProcessPool``).
    """
    if not isinstance(executor, ProcessPoolExecutor) or "jax" not in sys.modules:
        return False
    ctx = getattr(executor, "_mp_context", None)
    if ctx is None or ctx.get_start_method() != "fork":
        return False
    try:
        from jax._src import xla_bridge

        return bool(getattr(xla_bridge, "_backends", True))
    except ImportError:  # pragma: no cover - private module moved: be conservative
        return True


def _describe_exclude(rule: Any, n_excluded: int) -> str:
    if rule is None:
        return ""
    name = getattr(rule, "__name__", None) or type(rule).__name__
    return f"{name} ({n_excluded} runs)"


def sensitivity(data: pd.DataFrame, variants: Mapping[str, Mapping[str, Any]],
                quantity: Quantity, *, fit_kwargs: Mapping[str, Any] | None = None,
                executor: Executor | None = None, ci_prob: float = 0.9) -> pd.DataFrame:
    """Refit the same runs under several specifications and tabulate a derived quantity.

    Each variant ``{name: {Model keyword arguments}}`` (``law``, ``likelihood``,
    ``hierarchy``, ``priors``, ``fixed``, ...; unspecified keys take Model's defaults) may
    add ``"exclude": rule``, a function ``frame -> bool mask`` (True = drop the run), applied
    to ``data`` before fitting. Each variant is fitted with the same ``fit_kwargs`` (same
    seed: common random numbers), then the quantity ``q`` is computed per posterior draw:

    * ``"tokens_per_parameter@C"``: ``D*/N*`` at compute ``C``, minimising
      ``L(N, C / 6N)`` over ``N`` (:func:`~bayescale.compute_optimal`, population level);
    * ``"compute_for_loss@L"``: the least ``C`` with ``min_N L(N, C / 6N) <= L``, searched
      on a log grid of ``C`` from 1e15 to 1e31 FLOP (10 points a decade where ``L`` is
      crossed) and interpolated in ``log C``; draws that do not cross ``L`` there are NaN;
    * a function ``fit -> draws`` (module level, to run in a process pool).

    The built-in names need a law in N and D.

    Parameters
    ----------
    data : the runs (a DataFrame), shared by every variant.
    variants : ``{name: {Model keyword arguments, optional "exclude"}}``.
    quantity : a built-in name above or a function ``fit -> draws``.
    fit_kwargs : arguments of :func:`~bayescale.fit.fit` (``draws``, ``tune``, ``chains``,
        ``seed``, ``sampler``...), the same for every variant; give ``seed`` for
        reproducible (and executor-independent) results.
    executor : a :class:`concurrent.futures.Executor`; one fit per variant is submitted
        (default: serially in this process). A process pool must not fork a process that
        has already run JAX (numpyro): its workers deadlock, so use
        ``ProcessPoolExecutor(mp_context=multiprocessing.get_context("forkserver"))``
        (or ``"spawn"``); a forking pool is refused with that advice.
    ci_prob : probability of the equal-tailed interval.

    Returns
    -------
    DataFrame, one row per variant (index ``variant``): ``quantity``, ``median``,
    ``eti{P}_lb``, ``eti{P}_ub`` (over draws where ``q`` is finite), ``fraction_undefined``,
    ``divergences``, ``max_rhat``, ``min_ess_bulk``, ``problems``, ``n_runs``, ``excluded``,
    ``law``, ``likelihood``, ``hierarchy`` and ``spec`` (the Model as JSON).
    Sampling problems are also raised as :class:`~bayescale.SamplingWarning` naming the
    variant.
    """
    if not 0 < ci_prob < 1:
        raise ValueError(f"ci_prob must be in (0, 1), got {ci_prob}")
    if not isinstance(variants, Mapping) or not variants:
        raise ValueError("variants must be a non-empty mapping {name: Model keyword arguments}")
    label = _parse_quantity(quantity)   # validate the name before any fit
    frame = as_frame(data)
    kwargs = {"progressbar": False, **dict(fit_kwargs or {})}
    kwargs.pop("warn", None)   # workers never warn; problems are re-raised here by variant
    if executor is not None and _fork_after_jax(executor):
        raise RuntimeError(
            "this ProcessPoolExecutor forks its workers, and JAX is already running in this "
            "process: forked workers inherit JAX's runtime without its threads and deadlock or "
            "crash. Create the pool with mp_context=multiprocessing.get_context('forkserver') "
            "(or 'spawn').")

    jobs = []
    for name, variant in variants.items():
        spec = dict(variant)
        rule = spec.pop("exclude", None)
        subset = frame
        n_excluded = 0
        if rule is not None:
            mask = np.asarray(rule(frame) if callable(rule) else rule, dtype=bool).reshape(-1)
            if mask.shape != (len(frame),):
                raise ValueError(f"variant {name!r}: exclude gave {mask.size} values for "
                                 f"{len(frame)} runs; it must return one bool per run")
            subset = frame.loc[~mask].reset_index(drop=True)
            n_excluded = int(mask.sum())
        try:
            model = Model(**spec)
        except TypeError as err:
            raise ValueError(f"variant {name!r}: {err}") from None
        try:   # registered laws travel by name; a custom law object travels itself
            registered = get_law(model.law.name, **dict(model.law.options)) is not None
        except ValueError:
            registered = False
        law = None if registered else model.law
        jobs.append((str(name), model, subset, _describe_exclude(rule, n_excluded),
                     (subset, model.to_dict(), law, quantity, kwargs, ci_prob)))

    if executor is None:
        results = [_fit_variant(*job[-1]) for job in jobs]
    else:
        futures = [executor.submit(_fit_variant, *job[-1]) for job in jobs]
        results = [f.result() for f in futures]

    pct = f"{100 * ci_prob:.10g}"
    rows = []
    for (name, model, subset, excluded, _), res in zip(jobs, results, strict=True):
        if res["problems"]:
            warnings.warn(f"bayescale sensitivity, variant {name!r}: {res['problems']}",
                          SamplingWarning, stacklevel=2)
        rows.append({
            "variant": name,
            "quantity": quantity if label is not None else getattr(quantity, "__name__",
                                                                    repr(quantity)),
            "median": res["median"], f"eti{pct}_lb": res["lower"],
            f"eti{pct}_ub": res["upper"], "fraction_undefined": res["fraction_undefined"],
            "divergences": res["divergences"], "max_rhat": res["max_rhat"],
            "min_ess_bulk": res["min_ess_bulk"], "problems": res["problems"],
            "n_runs": len(subset), "excluded": excluded, "law": model.law.name,
            "likelihood": model.likelihood.name,
            "hierarchy": json.dumps({k: list(v) for k, v in model.hierarchy.items()}),
            "spec": model.to_json(),
        })
    return pd.DataFrame.from_records(rows).set_index("variant")
