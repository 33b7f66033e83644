"""Compute-optimal allocation: ``N*(C)``, ``D*(C)``, ``D*/N*`` and the loss there, per posterior
draw, from the fit's predictive graph (:class:`bayescale.predict.PredictiveFunction`).

Beyond the fitted runs the loss carries the extrapolation term of
:mod:`bayescale.extrapolation`, as predictions do: ``log L = log L_law + d b`` with
``d = max(0, log N + log D - log s_max)`` and one slope ``b`` per posterior draw and group.
Under ``D = C / (k N)`` the distance is the same for every ``N`` of a budget, so the term
widens the band of ``L*`` and leaves ``N*``, ``D*`` and ``D*/N*`` as they are (to the
search's precision).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from .extrapolation import largest_scale, top_keys
from .intervals import ci_probs, interval_columns
from .predict import (
    POPULATION,
    fitted_runs,
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
                    seed: int | None = None, kind: Literal["summary", "draws"] = "summary",
                    extrapolation: bool = True) -> pd.DataFrame | xr.Dataset:
    """Compute-optimal allocation ``N*(C)``, ``D*(C)``, ``D*/N*`` and the loss there.

    Minimises the loss ``L(N, D(C, N))`` over ``N`` for every posterior draw, with
    ``D = C / (k N)`` (``k = flops_per_param_token = 6``) unless ``tokens(C, N)`` is given.
    ``groups="all"`` gives the population ("a typical group") and every known group;
    ``"population"`` only the former; a mapping ``{column: level}`` one group.

    ``extrapolation=True`` (the default) adds the learned risk of the law being wrong beyond
    the fitted runs (module docstring); ``loss_opt`` is then the loss a run at the optimum
    would reach, and summaries carry ``extrapolation_distance`` (e-folds of ``N D`` beyond
    the group's largest run, at the median optimum). ``False`` gives the law's own frontier.
    """
    law = fit.model.law
    if set(law.inputs) != {"N", "D"}:
        raise ValueError(f"compute_optimal needs a law in N and D; {law.name} has inputs "
                         f"{list(law.inputs)}")
    if fit.model.fixed_columns:
        raise ValueError(f"compute_optimal cannot allocate with parameters fixed to data "
                         f"columns ({fit.model.fixed_columns}): a budget's runs have no such "
                         "values; refit with those parameters fixed to numbers")
    probs = ci_probs(ci_prob)
    budgets = np.atleast_1d(np.asarray(compute, dtype=float))
    if not np.all(np.isfinite(budgets) & (budgets > 0)):
        raise ValueError(f"compute budgets must be finite and > 0, got {budgets}")
    settings = _group_settings(fit, groups)
    rng = np.random.default_rng(seed)
    fn = predictive_function(fit, per_draw=True, with_obs=False, shifted=True)
    tokens_of = tokens or (lambda c, n: c / (flops_per_param_token * n))
    term = _Discrepancy(fit, settings, rng) if extrapolation and fit.design is not None \
        else None
    records, draws = [], {}
    for label, codes in settings:
        z_new = new_group_z(fit, codes, rng)

        def distance(log_n: np.ndarray, log_d: np.ndarray, label: str = label) -> np.ndarray:
            return np.zeros_like(log_n) if term is None else \
                np.maximum(0.0, log_n + log_d - term.largest[label])

        for c in budgets:
            def loss(log_n: np.ndarray, c: float = c, codes: dict = codes,
                     z_new: dict = z_new, label: str = label) -> np.ndarray:
                log_d = np.log(tokens_of(c, np.exp(log_n)))
                values = graph_values(fit, codes, log_n.shape[1], z_new)
                d = distance(log_n, log_d, label)
                shift = term.slope(label)[:, None] * d if (d > 0).any() else np.zeros_like(d)
                return fn(values | {"log_N": log_n, "log_D": log_d, "shift": shift})[0]

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
            if term is not None:
                row["extrapolation_distance"] = float(np.median(distance(log_n, np.log(d_opt))))
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


class _Discrepancy:
    """The extrapolation term's pieces per setting: ``largest[label]`` (log scale of the
    setting's largest fitted run) and ``slope(label)`` (one slope per posterior draw, drawn
    on first use, so budgets inside the data never learn the fit's risk)."""

    def __init__(self, fit: Fit, settings: Sequence[tuple[str, dict[str, np.ndarray]]],
                 rng: np.random.Generator) -> None:
        self.fit, self.rng = fit, rng.spawn(1)[0]   # other draws do not depend on its use
        self.frame = pd.DataFrame([_group_labels(fit, codes) for _, codes in settings],
                                  index=[label for label, _ in settings])
        runs = fitted_runs(fit)
        self.largest = dict(zip(self.frame.index, largest_scale(fit.model, runs, self.frame),
                                strict=True))
        self._slopes: dict[str, np.ndarray] | None = None

    def slope(self, label: str) -> np.ndarray:
        if self._slopes is None:
            risk = self.fit.extrapolation_risk()
            slopes, index = risk.slopes(top_keys(self.fit.model, self.frame).to_numpy(),
                                        n_samples(self.fit), self.rng)
            self._slopes = {lab: slopes[:, i] for lab, i in zip(self.frame.index, index,
                                                                 strict=True)}
        return self._slopes[label]


def _group_labels(fit: Fit, codes: Mapping[str, np.ndarray]) -> dict[str, str]:
    """The data columns' labels of a setting's group (``(population)`` where it has none,
    a label no fitted group has, so the population gets its own slope and all runs' reach)."""
    labels: dict[str, str] = {}
    for col, code in codes.items():
        value = int(code[0])
        if value == POPULATION:
            for part in col.split("/"):
                labels.setdefault(part, "(population)")
        else:   # a nested level "a/b" names its parts' labels too
            labels.update(zip(col.split("/"), str(fit.levels[col][value]).split("/"),
                              strict=False))
    return labels


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
