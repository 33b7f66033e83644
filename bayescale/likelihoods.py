"""Observation models: how a run's measured value relates to the law's curve ``L``.

Losses (positive, log scale):

* ``studentt``: ``log y ~ StudentT(nu, log L, sigma)``, robust; the Bayesian counterpart of
  Epoch AI's Huber loss on log loss. ``nu`` is estimated (or fixed, ``fixed={"nu": 4}``).
* ``normal``: ``log y ~ Normal(log L, sigma)`` (log-normal noise on the loss).
* ``normal_known``: ``y ~ Normal(L, se_i)`` with measured per-point standard errors (column
  ``se``) as known noise; no noise parameter.

Bounded metrics (accuracy, coverage; the law's value ``p = L`` lies in (0, 1)):

* ``binomial``: ``k_i ~ Binomial(n_i, p)`` when the number of items ``n_i`` is known (column
  ``trials``; ``k_i = round(y_i n_i)`` from the observed proportion ``y_i``).
* ``beta``: ``y_i ~ Beta(p kappa, (1 - p) kappa)`` when only a proportion is known.
* ``beta_binomial``: ``k_i ~ BetaBinomial(n_i, p kappa, (1 - p) kappa)``: binomial with
  over-dispersion (items of unequal difficulty, benchmark noise beyond sampling).

Each likelihood declares its auxiliary parameters with the same :class:`~bayescale.laws.Param`
type as the laws, so ``sigma`` or ``kappa`` can be global or vary by group like any law
parameter. The choice is part of the model spec: ``Model(..., likelihood="binomial")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .laws import Param
from .priors import Prior

__all__ = ["Likelihood", "get_likelihood", "LIKELIHOODS"]

# Residual scale on log loss: centred at 0.05 (5% relative error), 95% within [0.003, 0.95].
_SIGMA = Param("positive", Prior("Normal", mu=float(np.log(0.05)), sigma=1.5),
               "residual scale on log loss")
# Degrees of freedom: log nu ~ Normal(log 10, 1), 95% within [1.4, 71].
_NU = Param("positive", Prior("Normal", mu=float(np.log(10.0)), sigma=1.0),
            "Student-t degrees of freedom")
# Beta precision: log kappa ~ Normal(log 100, 1.5); kappa = 100 is the spread of a proportion
# measured on ~100 items; 95% within [5, 1900].
_KAPPA = Param("positive", Prior("Normal", mu=float(np.log(100.0)), sigma=1.5),
               "precision of the Beta (larger: less over-dispersion)")

TargetSupport = Literal["positive", "unit_closed", "unit_open", "real"]


@dataclass(frozen=True)
class Likelihood:
    """Observation model of the target given the law's curve."""

    name: str
    aux: Mapping[str, Param]
    description: str
    target_support: TargetSupport
    columns: tuple[str, ...] = field(default=())   # extra per-run columns it needs

    @property
    def observed_name(self) -> str:
        return "log_y" if self.target_support == "positive" and self.name != "normal_known" \
            else "y"

    def observed(self, y: np.ndarray, extra: Mapping[str, np.ndarray]) -> np.ndarray:
        """The array the PyMC variable observes (log y, y, or success counts)."""
        if self.observed_name == "log_y":
            return np.log(y)
        if "trials" in self.columns:
            return np.rint(y * extra["trials"]).astype(np.int64)
        return y

    def target_from_observed(self, observed: np.ndarray,
                             extra: Mapping[str, np.ndarray]) -> np.ndarray:
        """Inverse of :meth:`observed`: observed values (last axis = runs) -> the target."""
        if self.observed_name == "log_y":
            with np.errstate(over="ignore", under="ignore"):
                return np.exp(observed)
        if "trials" in self.columns:
            return observed / extra["trials"]
        return np.asarray(observed, dtype=float)

    def observe(self, log_mean: Any, aux: Mapping[str, Any], obs: Any,
                extra: Mapping[str, Any], **kwargs: Any) -> Any:
        """Add the observed variable to the current PyMC model; ``obs`` is
        :meth:`observed` of the target (an array or a ``pm.Data`` holding it)."""
        name = self.observed_name
        if self.name == "studentt":
            return pm.StudentT(name, nu=aux["nu"], mu=log_mean, sigma=aux["sigma"],
                               observed=obs, **kwargs)
        if self.name == "normal":
            return pm.Normal(name, mu=log_mean, sigma=aux["sigma"], observed=obs, **kwargs)
        if self.name == "normal_known":
            return pm.Normal(name, mu=pt.exp(log_mean), sigma=extra["se"], observed=obs,
                             **kwargs)
        p = _clip_unit(pt.exp(log_mean))
        if self.name == "binomial":
            return pm.Binomial(name, n=extra["trials"], p=p, observed=obs, **kwargs)
        kappa = aux["kappa"]
        if self.name == "beta":
            return pm.Beta(name, alpha=p * kappa, beta=(1 - p) * kappa, observed=obs, **kwargs)
        return pm.BetaBinomial(name, n=extra["trials"], alpha=p * kappa,
                               beta=(1 - p) * kappa, observed=obs, **kwargs)

    def draw(self, log_mean: np.ndarray, aux: Mapping[str, np.ndarray],
             extra: Mapping[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """Draw a new observation on the target's natural scale (NaN where the likelihood
        needs a column, e.g. ``trials``, that the new data lack). Student-t draws with small
        ``nu`` can exceed the float range on the natural scale: they are ``inf`` (or 0), which
        quantiles handle, not an error."""
        shape = log_mean.shape
        if self.name in ("studentt", "normal"):
            eps = (rng.standard_t(aux["nu"], size=shape) if self.name == "studentt"
                   else rng.standard_normal(size=shape))
            with np.errstate(over="ignore", under="ignore"):
                return np.exp(log_mean + aux["sigma"] * eps)
        missing = [c for c in self.columns if c not in extra]
        if missing:
            return np.full(shape, np.nan)
        if self.name == "normal_known":
            return np.exp(log_mean) + extra["se"] * rng.standard_normal(size=shape)
        p = np.clip(np.exp(log_mean), _EPS, 1 - _EPS)
        if self.name == "binomial":
            n = np.broadcast_to(extra["trials"], shape).astype(np.int64)
            return rng.binomial(n, p) / n
        kappa = aux["kappa"]
        q = rng.beta(p * kappa, (1 - p) * kappa)
        if self.name == "beta":
            return q
        n = np.broadcast_to(extra["trials"], shape).astype(np.int64)
        return rng.binomial(n, q) / n


_EPS = 1e-12


def _clip_unit(p: Any) -> Any:
    return pt.clip(p, _EPS, 1 - _EPS)


LIKELIHOODS: dict[str, Likelihood] = {
    "studentt": Likelihood("studentt", {"sigma": _SIGMA, "nu": _NU},
                           "Student-t on log y (robust)", "positive"),
    "normal": Likelihood("normal", {"sigma": _SIGMA}, "Normal on log y", "positive"),
    "normal_known": Likelihood("normal_known", {}, "Normal on y with known standard errors "
                               "(column 'se')", "real", ("se",)),
    "binomial": Likelihood("binomial", {}, "Binomial successes of 'trials' items",
                           "unit_closed", ("trials",)),
    "beta": Likelihood("beta", {"kappa": _KAPPA}, "Beta on a proportion", "unit_open"),
    "beta_binomial": Likelihood("beta_binomial", {"kappa": _KAPPA},
                                "Beta-Binomial successes of 'trials' items (over-dispersed)",
                                "unit_closed", ("trials",)),
}


def get_likelihood(name: str | Likelihood) -> Likelihood:
    if isinstance(name, Likelihood):
        return name
    if name not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {name!r}; expected one of {sorted(LIKELIHOODS)}")
    return LIKELIHOODS[name]
