"""The point-fit baseline researchers use today: Epoch AI's Chinchilla protocol, for any law.

Huber loss on log values, minimised by L-BFGS from many starts, with bootstrap percentile
intervals (Besiroglu et al. 2024, following Hoffmann et al. 2022):

    theta_hat = argmin_theta  sum_i w_i Huber_delta(log y_i - log L(x_i; theta)),  delta = 1e-3

Starts are drawn from the model's default priors (on the sampling scale, the parameterisation
the fit uses); the bootstrap refits on resampled runs (weights ``w`` = resampling counts) from
the best start and gives percentile intervals of the curve. It fits one curve to the runs it
is given: no pooling, no noise model (its intervals are for the curve only, as in the
published protocol).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
from scipy.optimize import minimize

from .build import encode, fixed_constants
from .graph import log_mean_from_sampling
from .model import Model
from .predict import PredictiveFunction

__all__ = ["HuberBootstrap"]

EPOCH_DELTA = 1e-3


@dataclass
class HuberBootstrap:
    """Point fit (Huber on log y, L-BFGS from ``starts`` prior draws) plus ``bootstrap``
    refits on resampled runs; ``predict`` gives percentile intervals of the curve."""

    model: Model
    delta: float = EPOCH_DELTA
    starts: int = 64
    bootstrap: int = 200
    seed: int | None = None

    def fit(self, data: pd.DataFrame) -> HuberBootstrap:
        law = self.model.law
        design = encode(_ungrouped(self.model), data)
        self.log_ref = design.log_ref
        self.free = [p for p in law.params if p not in self.model.fixed]
        self._fixed = {p: law.params[p].to_sampling(design.constants.get(p, self.model.fixed[p]))
                       for p in law.params if p in self.model.fixed}   # per run if a column
        objective = _compile_objective(self.model, self.free, self._fixed, design.log_x,
                                       np.log(design.y), design.log_ref, self.delta)
        rng = np.random.default_rng(self.seed)
        ones = np.ones(design.n)
        starts = [self._prior_draw(design, rng) for _ in range(self.starts)]
        results = [_minimise(objective, s, ones) for s in starts]
        best = min(results, key=lambda r: r.fun)
        self.theta = best.x
        self.converged = bool(best.success)
        self.objective = float(best.fun)
        draws = []
        for _ in range(self.bootstrap):
            counts = np.bincount(rng.integers(0, design.n, design.n), minlength=design.n)
            draws.append(_minimise(objective, self.theta, counts.astype(float)).x)
        self.draws = np.array(draws) if draws else self.theta[None, :]
        self._single = _ungrouped(self.model)
        self._curve = PredictiveFunction(self._single, self.log_ref, per_draw=False,
                                         with_obs=False)
        return self

    def _prior_draw(self, design: Any, rng: np.random.Generator) -> np.ndarray:
        out = []
        for p in self.free:
            prior = self.model.prior_for(p, design.scale)
            mu, sd = prior.args.get("mu", 0.0), prior.args.get("sigma", 1.0)
            out.append(rng.normal(mu, sd))
        return np.array(out)

    def params(self) -> dict[str, float]:
        """Point estimates on the sampling scale (e.g. ``log_alpha``), by parameter name."""
        return dict(zip(self.free, map(float, self.theta), strict=True))

    def predict_curve(self, data: pd.DataFrame) -> np.ndarray:
        """Bootstrap draws of the curve at the rows of ``data``, shape (bootstrap, rows)."""
        law = self.model.law
        log_x = {k: np.log(pd.to_numeric(data[k]).to_numpy(dtype=float))[None, :]
                 for k in law.inputs}
        values = {name: np.zeros((len(self.draws), 1)) for name in self._curve.inputs}
        values.update({f"loc_{p}": self.draws[:, [i]] for i, p in enumerate(self.free)})
        values.update({f"log_{k}": v for k, v in log_x.items()})
        values.update({f"fixed_{p}": v[None, :]
                       for p, v in fixed_constants(self._single, data).items()})
        values["shift"] = np.zeros((1, len(data)))
        return np.exp(self._curve(values)[0])


def _ungrouped(model: Model) -> Model:
    """The same law and priors without a hierarchy (the baseline fits one curve)."""
    spec = model.to_dict()
    spec["hierarchy"] = {}
    spec["coordinates"] = "law"
    spec["priors"] = {k: v for k, v in spec["priors"].items() if k in model.law.params}
    spec["fixed"] = {k: v for k, v in spec["fixed"].items() if k in model.law.params}
    spec["likelihood"] = "normal"
    return Model.from_dict(spec, law=model.law)


def _compile_objective(model: Model, free: list[str], fixed: Mapping[str, float],
                       log_x: Mapping[str, np.ndarray], log_y: np.ndarray,
                       log_ref: Mapping[str, float], delta: float) -> Any:
    theta = pt.vector("theta")
    weights = pt.vector("weights")
    u = {p: theta[i] for i, p in enumerate(free)}
    u.update({p: pt.as_tensor_variable(v) for p, v in fixed.items()})
    x = {k: pt.as_tensor_variable(v) for k, v in log_x.items()}
    resid = pt.as_tensor_variable(log_y) - log_mean_from_sampling(model.law, x, u, log_ref)
    a = pt.abs(resid)
    huber = pt.switch(a <= delta, 0.5 * resid**2, delta * (a - 0.5 * delta))
    loss = pt.sum(weights * huber)
    return pytensor.function([theta, weights], [loss, pt.grad(loss, theta)])


def _minimise(objective: Any, start: np.ndarray, weights: np.ndarray) -> Any:
    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = objective(theta, weights)
        if not np.isfinite(value):
            return 1e30, np.zeros_like(theta)
        return float(value), np.asarray(grad, dtype=float)

    return minimize(fun, start, jac=True, method="L-BFGS-B", options={"maxiter": 1000})
