"""Compute-optimal allocation: ``N*(C)``, ``D*(C)``, ``D*/N*`` and the loss there, per posterior
draw, from the fit's predictive graph (:class:`bayescale.predict.PredictiveFunction`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from .intervals import ci_probs, interval_columns
from .predict import (
    POPULATION,
    graph_values,
    group_codes,
    n_samples,
    new_group_z,
    predictive_function,
)

if TYPE_CHECKING:
    from .fit import Fit

__all__ = ["compute_optimal", "chinchilla_closed_form", "CHINCHILLA_COMPUTE"]

CHINCHILLA_COMPUTE = 6 * 70e9 * 1.4e12  # FLOP of Chinchilla itself (70B params, 1.4T tokens)


def _argmin_log_n(loss: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray,
                  grid: int = 401, iters: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``loss(log N)`` per sample on [lo, hi]: grid search, then golden section.

    Returns the minimiser and a flag for samples whose minimum sits on the search boundary
    (no interior optimum).
    """
    t = np.linspace(0.0, 1.0, grid)
    xs = lo[:, None] + (hi - lo)[:, None] * t[None, :]
    values = loss(xs)
    values = np.where(np.isfinite(values), values, np.inf)
    k = np.argmin(values, axis=1)
    boundary = (k == 0) | (k == grid - 1)
    step = (hi - lo) / (grid - 1)
    a = xs[np.arange(len(k)), k] - step
    b = a + 2 * step
    g = (np.sqrt(5) - 1) / 2
    for _ in range(iters):
        c, d = b - g * (b - a), a + g * (b - a)
        fc, fd = loss(c[:, None])[:, 0], loss(d[:, None])[:, 0]
        left = fc < fd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
    return (a + b) / 2, boundary


def compute_optimal(fit: Fit, compute: float | Sequence[float], *,
                    groups: Literal["population", "all"] | Mapping[str, str] = "all",
                    ci_prob: float | Sequence[float] | None = None,
                    flops_per_param_token: float = 6.0,
                    tokens: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                    seed: int | None = None, kind: Literal["summary", "draws"] = "summary"
                    ) -> pd.DataFrame | xr.Dataset:
    """Compute-optimal allocation ``N*(C)``, ``D*(C)``, ``D*/N*`` and the loss there.

    Minimises the law's curve ``L(N, D(C, N))`` over ``N`` for every posterior draw, with
    ``D = C / (k N)`` (``k = flops_per_param_token = 6``) unless ``tokens(C, N)`` is given.
    ``groups="all"`` gives the population ("a typical group") and every known group;
    ``"population"`` only the former; a mapping ``{column: level}`` one group.
    """
    law = fit.model.law
    if set(law.inputs) != {"N", "D"}:
        raise ValueError(f"compute_optimal needs a law in N and D; {law.name} has inputs "
                         f"{list(law.inputs)}")
    probs = ci_probs(ci_prob)
    budgets = np.atleast_1d(np.asarray(compute, dtype=float))
    if not np.all(np.isfinite(budgets) & (budgets > 0)):
        raise ValueError(f"compute budgets must be finite and > 0, got {budgets}")
    settings = _group_settings(fit, groups)
    rng = np.random.default_rng(seed)
    fn = predictive_function(fit, per_draw=True, with_obs=False)
    tokens_of = tokens or (lambda c, n: c / (flops_per_param_token * n))
    records, draws = [], {}
    for label, codes in settings:
        z_new = new_group_z(fit, codes, rng)
        for c in budgets:
            def loss(log_n: np.ndarray, c: float = c, codes: dict = codes,
                     z_new: dict = z_new) -> np.ndarray:
                log_d = np.log(tokens_of(c, np.exp(log_n)))
                values = graph_values(fit, codes, log_n.shape[1], z_new)
                return fn(values | {"log_N": log_n, "log_D": log_d,
                                    "shift": np.zeros((1, log_n.shape[1]))})[0]

            top = np.log(c / flops_per_param_token) if tokens is None else np.log(c)
            lo, hi = np.full(n_samples(fit), 0.0), np.full(n_samples(fit), top)
            log_n, boundary = _argmin_log_n(loss, lo, hi)
            n_opt = np.exp(log_n)
            d_opt = tokens_of(c, n_opt)
            loss_opt = np.exp(loss(log_n[:, None])[:, 0])
            quantities = {"N_opt": n_opt, "D_opt": d_opt, "tokens_per_parameter": d_opt / n_opt,
                          "loss_opt": loss_opt}
            draws[(label, c)] = quantities
            row: dict[str, Any] = {"group": label, "compute": c,
                                   "boundary_fraction": float(boundary.mean())}
            for q, values in quantities.items():
                stats = interval_columns(values[:, None], probs, q)
                row.update({k: float(v[0]) for k, v in stats.items()})
            records.append(row)
    if kind == "draws":
        keys = list(draws)
        return xr.Dataset(
            {q: (("setting", "sample"), np.stack([draws[k][q] for k in keys]))
             for q in ("N_opt", "D_opt", "tokens_per_parameter", "loss_opt")},
            coords={"group": ("setting", [k[0] for k in keys]),
                    "compute": ("setting", [k[1] for k in keys])})
    return pd.DataFrame.from_records(records)


def _group_settings(fit: Fit, groups: str | Mapping[str, str]
                    ) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(label, codes) pairs: the population (all effects zero) and/or known groups."""
    cols = fit.model.grouping_columns
    population = {c: np.array([POPULATION]) for c in cols}
    if isinstance(groups, Mapping):
        unknown = [c for c in groups if c not in cols]
        if unknown:
            raise ValueError(f"{unknown} are not grouping columns of this fit ({list(cols)})")
        codes = {**population, **group_codes(fit, pd.DataFrame([groups]), new_groups=False,
                                              columns=list(groups))}
        return [(", ".join(f"{k}={v}" for k, v in groups.items()), codes)]
    if groups not in ("population", "all"):
        raise ValueError(f"groups must be 'population', 'all' or a mapping, got {groups!r}")
    settings = [("population", population)]
    if groups == "all":
        for col in cols:
            for i, level in enumerate(fit.levels[col]):
                settings.append((f"{col}={level}", {**population, col: np.array([i])}))
    return settings


def chinchilla_closed_form(A: Any, B: Any, alpha: Any, beta: Any, compute: float,
                           flops_per_param_token: float = 6.0) -> tuple[Any, Any]:
    """Hoffmann et al.'s closed form for ``E + A N^-alpha + B D^-beta`` with ``C = k N D``:
    ``N* = G (C/k)^(beta/(alpha+beta))``, ``G = (alpha A / (beta B))^(1/(alpha+beta))``,
    ``D* = C / (k N*)``. Works on scalars or arrays of draws."""
    g = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    n_opt = g * (compute / flops_per_param_token) ** (beta / (alpha + beta))
    return n_opt, compute / (flops_per_param_token * n_opt)
