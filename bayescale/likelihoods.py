"""Likelihoods on the log of the target: ``log y ~ Family(mu = log L(x; theta), sigma, ...)``.

* ``studentt``: Student-t on log loss, the robust Bayesian counterpart of Epoch AI's Huber loss
  on log loss; the degrees of freedom ``nu`` are estimated (or fixed with ``fixed={"nu": 4}``).
* ``normal``: Gaussian on log loss (equivalently log-normal noise on the loss).

Each likelihood declares its auxiliary parameters with the same :class:`~bayescale.laws.Param`
type as the laws, so ``sigma`` can be global or vary by group exactly like a law parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm

from .laws import Param
from .priors import Prior

__all__ = ["Likelihood", "get_likelihood", "LIKELIHOODS"]

# Residual scale on log loss: centred at 0.05 (5% relative error), 95% within [0.003, 0.95].
_SIGMA = Param("positive", Prior("Normal", mu=float(np.log(0.05)), sigma=1.5),
               "residual scale on log loss")
# Degrees of freedom: log nu ~ Normal(log 10, 1), 95% within [1.4, 71].
_NU = Param("positive", Prior("Normal", mu=float(np.log(10.0)), sigma=1.0),
            "Student-t degrees of freedom")


@dataclass(frozen=True)
class Likelihood:
    """Observation model for ``log y`` given the law's ``log L``."""

    name: str
    aux: Mapping[str, Param]
    description: str

    def observe(self, name: str, log_mean: Any, aux: Mapping[str, Any], log_y: Any,
                **kwargs: Any) -> Any:
        """Add the observed variable to the current PyMC model."""
        if self.name == "studentt":
            return pm.StudentT(name, nu=aux["nu"], mu=log_mean, sigma=aux["sigma"],
                               observed=log_y, **kwargs)
        return pm.Normal(name, mu=log_mean, sigma=aux["sigma"], observed=log_y, **kwargs)

    def draw(self, log_mean: np.ndarray, aux: Mapping[str, np.ndarray],
             rng: np.random.Generator) -> np.ndarray:
        """Draw ``log y`` from the observation model (posterior predictive)."""
        if self.name == "studentt":
            noise = rng.standard_t(aux["nu"], size=log_mean.shape)
        else:
            noise = rng.standard_normal(size=log_mean.shape)
        return log_mean + aux["sigma"] * noise


LIKELIHOODS: dict[str, Likelihood] = {
    "studentt": Likelihood("studentt", {"sigma": _SIGMA, "nu": _NU},
                           "Student-t on log y (robust)"),
    "normal": Likelihood("normal", {"sigma": _SIGMA}, "Normal on log y"),
}


def get_likelihood(name: str | Likelihood) -> Likelihood:
    if isinstance(name, Likelihood):
        return name
    if name not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {name!r}; expected one of {sorted(LIKELIHOODS)}")
    return LIKELIHOODS[name]
