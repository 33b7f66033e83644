"""The model's one graph: from hierarchy values to the law's curve and the observation.

For run ``i``, hierarchy coordinate ``k`` (a law or likelihood parameter on its sampling
scale, or a curve coordinate) has the value

    u_k[i] = loc_k + sum_c effect_{k,c}[code_c(i)]

the law's parameters are ``theta = to_natural(to_law_scale(u))``, the curve is
``log L = law.log_mean(log x, theta)`` and the observation ``y ~ likelihood(log L, theta_aux)``.
:func:`bayescale.build.build_model` evaluates these functions on PyMC variables (one value per
run); predictions, log densities and the point-fit baseline compile the same functions on
tensors with a leading axis of posterior draws (``loc`` of shape (draws, 1), effects of shape
(draws, levels)). Nothing else in bayescale writes the hierarchy, the law or a likelihood.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pytensor.tensor as pt

from .coordinates import coordinates, to_law_scale

if TYPE_CHECKING:
    from .laws import Law, Param
    from .model import Model

__all__ = ["to_natural", "log_mean_from_sampling", "row_values", "row_parameters",
           "curve_and_aux", "shifted_log_mean", "law_fingerprint"]


def to_natural(params: Mapping[str, Param], u: Mapping[str, Any],
               log_ref: Mapping[str, Any]) -> dict[str, Any]:
    """Sampling-scale values -> natural values (``p[name]``) and logs (``p["log_" + name]``).

    Reference coefficients: ``log p = log p_ref + exponent * log x0``.
    """
    out: dict[str, Any] = {}
    for name, par in params.items():
        if par.reference is not None:
            continue
        if par.link == "log":
            out[f"log_{name}"] = u[name]
            out[name] = pt.exp(u[name])
        elif par.link == "logit":
            out[name] = pt.sigmoid(u[name])
        else:
            out[name] = u[name]
    for name, par in params.items():
        if par.reference is None:
            continue
        inp, exponent = par.reference
        e = out[exponent] if isinstance(exponent, str) else exponent
        out[f"log_{name}"] = u[name] + e * log_ref[inp]
        out[name] = pt.exp(out[f"log_{name}"])
    return out


def log_mean_from_sampling(law: Law, log_x: Mapping[str, Any], u: Mapping[str, Any],
                           log_ref: Mapping[str, Any]) -> Any:
    """``log L`` from log inputs and sampling-scale law parameters (any broadcastable shape)."""
    return law.log_mean(log_x, to_natural(law.params, u, log_ref))


def row_values(model: Model, loc: Mapping[str, Any], effects: Mapping[tuple[str, str], Any],
               codes: Mapping[str, Any]) -> dict[str, Any]:
    """``u_k[i] = loc_k + sum_c effect_{k,c}[..., code_c(i)]`` for every hierarchy coordinate
    (keyed by :attr:`~bayescale.coordinates.Coordinate.key`); ``effects`` keyed by
    ``(coordinate key, grouping column)``, the levels on the last axis."""
    out = {}
    for key, coord in coordinates(model).items():
        value = loc[key]
        for col in coord.columns:
            value = value + effects[(key, col)][..., codes[col]]
        out[key] = value
    return out


def row_parameters(model: Model, row: Mapping[str, Any], log_ref: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """Natural values (and logs) of every law and likelihood parameter from the coordinates'
    values (:func:`row_values`)."""
    return to_natural(model.params, to_law_scale(model, row), log_ref)


def curve_and_aux(model: Model, row: Mapping[str, Any], log_x: Mapping[str, Any],
                  log_ref: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``(log L, natural likelihood parameters)`` from the coordinates' values per run."""
    natural = row_parameters(model, row, log_ref)
    return model.law.log_mean(log_x, natural), {k: natural[k] for k in model.likelihood.aux}


def law_fingerprint(law: Law, log_ref: Mapping[str, float]) -> list[float]:
    """``log L`` of ``law`` at fixed probe inputs (around ``log_ref``) and fixed sampling-scale
    parameter values: two laws with the same parameter names but another formula differ
    here, which is how a loaded fit checks that it got the law it was saved with."""
    offsets = np.array([-2.0, -0.5, 0.0, 1.0, 3.0])
    x = {k: pt.as_tensor_variable(log_ref.get(k, 0.0) + offsets + 0.1 * i)
         for i, k in enumerate(law.inputs)}
    u = {k: pt.as_tensor_variable(-0.3 + 0.17 * i) for i, k in enumerate(law.params)}
    with np.errstate(all="ignore"):
        values = np.asarray(log_mean_from_sampling(law, x, u, log_ref).eval(
            mode="FAST_COMPILE"), dtype=float)   # a few numbers: no C compilation
    return [float(v) for v in np.broadcast_to(values, offsets.shape)]


def shifted_log_mean(log_mean: Any, shift: Any, link: str) -> Any:
    """``log L`` after the discrepancy ``shift`` on the link scale: ``log L + shift`` for
    losses, ``log sigmoid(logit L + shift)`` for bounded metrics (``link="logit"``)."""
    if link == "logit":
        log_p = pt.minimum(log_mean, np.log1p(-1e-12))
        return -pt.softplus(-(log_p - pt.log1mexp(log_p) + shift))
    return log_mean + shift
