"""Sensitivity of a conclusion to the specification: refit the same runs several ways.

:func:`sensitivity` refits the runs under several specifications (law, likelihood, priors,
exclusion rules) and tabulates one derived quantity per specification; published conclusions
can flip with such choices (Li et al. 2025, "(Mis)Fitting scaling laws").
:func:`quantity_draws` computes that quantity's posterior draws for one fit.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._validate import as_frame
from .allocation import compute_optimal
from .batch import model_from_spec, model_spec, run_tasks
from .fit import SamplingWarning, fit
from .intervals import ci_probs, median_interval, percent_of
from .model import Model

if TYPE_CHECKING:
    from .fit import Fit

__all__ = ["sensitivity", "quantity_draws"]

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
        best = compute_optimal(fit, grid, groups="population", kind="draws", seed=seed,
                               extrapolation=False)   # the law's own frontier
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
        out = compute_optimal(fit, value, groups="population", kind="draws", seed=seed,
                              extrapolation=False)   # D*/N* does not depend on the term
        return np.asarray(out["tokens_per_parameter"].values[0], dtype=float)
    return _frontier_compute(fit, value, seed)


def _fit_variant(data: pd.DataFrame, spec: dict[str, Any], quantity: Quantity,
                 fit_kwargs: dict[str, Any], ci_prob: float) -> dict[str, Any]:
    """Fit one variant and summarise it (module level so process pools can pickle it).

    ``spec``: :func:`bayescale.batch.model_spec`. Returns only plain numbers and strings,
    no Fit.
    """
    result = fit(model_from_spec(spec), data, **{**fit_kwargs, "warn": False})
    draws = quantity_draws(result, quantity, seed=fit_kwargs.get("seed"))
    finite = draws[np.isfinite(draws)]
    med, lo, hi = median_interval(finite, ci_prob)
    return {"median": med, "lower": lo, "upper": hi,
            "fraction_undefined": float(1 - finite.size / max(draws.size, 1)),
            **result.diagnostics.record()}


def _describe_exclude(rule: Any, n_excluded: int) -> str:
    if rule is None:
        return ""
    name = getattr(rule, "__name__", None) or type(rule).__name__
    return f"{name} ({n_excluded} runs)"


def sensitivity(data: pd.DataFrame, variants: Mapping[str, Mapping[str, Any]],
                quantity: Quantity, *, fit_kwargs: Mapping[str, Any] | None = None,
                executor: Executor | None = None, ci_prob: float | None = None,
                progressbar: bool = True) -> pd.DataFrame:
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
    progressbar : one bar over variants fitted, with the time left
        (:func:`bayescale.batch.run_tasks`).

    Returns
    -------
    DataFrame, one row per variant (index ``variant``): ``quantity``, ``median``,
    ``eti{P}_lb``, ``eti{P}_ub`` (over draws where ``q`` is finite), ``fraction_undefined``,
    ``divergences``, ``max_rhat``, ``min_ess_bulk``, ``problems``, ``n_runs``, ``excluded``,
    ``law``, ``likelihood``, ``hierarchy`` and ``spec`` (the Model as JSON).
    Sampling problems are also raised as :class:`~bayescale.SamplingWarning` naming the
    variant.
    """
    (ci_prob,) = ci_probs(ci_prob)
    if not isinstance(variants, Mapping) or not variants:
        raise ValueError("variants must be a non-empty mapping {name: Model keyword arguments}")
    label = _parse_quantity(quantity)   # validate the name before any fit
    frame = as_frame(data)
    kwargs = {"progressbar": False, **dict(fit_kwargs or {})}
    kwargs.pop("warn", None)   # workers never warn; problems are re-raised here by variant

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
        jobs.append((str(name), model, subset, _describe_exclude(rule, n_excluded),
                     (subset, model_spec(model), quantity, kwargs, ci_prob)))

    results = run_tasks(_fit_variant, [job[-1] for job in jobs], executor=executor,
                        progressbar=progressbar, description="sensitivity")

    pct = percent_of(ci_prob)
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
