"""The coordinates a hierarchy is placed on: the law's parameters, or a curve's level, shares
and slopes.

**Law coordinates** (``"law"``): each parameter's sampling-scale value (``log E``,
``log A_ref``, ``log alpha``, ``log sigma`` ...) has a population location and group effects.

**Curve coordinates** (``"curve"``), for a law ``L = E + sum_j A_j (x_j / x0_j)^-alpha_j``
(a floor plus power terms, coefficients at the data's reference inputs ``x0``) whose floor and
every term vary by the same grouping columns. At the reference inputs a group's curve is

    L_ref = E + sum_j A_j,ref          (its level, where the data are)
    w_j   = A_j,ref / L_ref             (term j's share of it)
    -dlog L / dlog x_j = alpha_j w_j    (the slope term j gives it)

and the hierarchy is placed on ``l = log L_ref``, ``t_j = log(A_j,ref / E)`` and
``s_j = log(alpha_j w_j)``:

    log E = l - log(1 + sum_j e^t_j),   log A_j,ref = log E + t_j,
    log alpha_j = s_j - (log A_j,ref - l).

A group's runs pin ``l`` and ``s_j`` to a fraction of a percent and leave the shares (how far
the curve is from its floor) to the prior and the population; in law coordinates the level is
a curved ridge through ``log E``, ``log A_ref`` and ``log alpha``, which NUTS crosses with a
tiny step and at its trajectory-length limit (measured: benchmarks/curve_coordinates.py).
It is another prior (Normal populations on ``l, t, s``), equally weak, chosen by the model's
specification (``Model(coordinates=...)``), never by how a fit sampled. What it pools differs:
a group whose runs leave its floor open borrows the others' share of the curve above the
floor, not their floor itself. On data whose groups share nearly one floor (simulated: E
spread 8%, A 30%, alpha 10%; 4 families of 12 runs) law coordinates pool that floor and their
extrapolations were closer: at 1000x the largest compute, the truth's |z| exceeded 2 for 0 of
32 families (8 seeds; max 1.6) in law coordinates and for 3 of 32 (max 3.3) in curve
coordinates (benchmarks/coordinates_extrapolation.py). On real curves the two calibrate alike
(RNSL BIG-bench, paper's held-out split: 90% intervals cover 63% in both). ``coordinates="law"``
keeps the law's coordinates.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pytensor.tensor as pt

from .hierarchy import DEFAULT_SD_PRIOR, sd_name
from .priors import DataScale, Prior

if TYPE_CHECKING:
    from .laws import Law
    from .model import Model

__all__ = ["Coordinate", "CURVE_LEVEL", "curve_coordinates_possible", "coordinates",
           "curve_coordinate_names", "to_law_scale", "COORDINATE_SYSTEMS"]

COORDINATE_SYSTEMS = ("auto", "law", "curve")
CURVE_LEVEL = "log_L_ref"
# Spreads of levels, shares and slopes across groups (log scale): zero-avoiding (Chung et al.
# 2013), mean 0.33, 95% below 0.79. With 2-3 groups a spread has 1-2 degrees of freedom, and a
# half-normal's mass at zero is where the hierarchy's geometry degenerates (measured on 2-group
# simulations, centred levels: 60 divergences -> 9, seed 2). A wider Gamma(2, 3) on the shares
# mixed worse on RNSL BIG-bench (R-hat 1.011-1.013 after refits on 2 of 4 seeds, against 0 of
# 5 with this one) and did not move the one family's floor that curve coordinates miss
# (module docstring).
CURVE_SPREAD_PRIOR = Prior("Gamma", alpha=2.0, beta=6.0)


def share_name(coefficient: str, floor: str) -> str:
    return f"log_{coefficient}_ref_over_{floor}"


def slope_name(exponent: str) -> str:
    return f"log_slope_{exponent}"


@dataclass(frozen=True)
class Coordinate:
    """One hierarchy coordinate: a population location plus group effects.

    key: the name priors, centring and hierarchy use (the parameter's in law coordinates, the
    sampled variable's in curve coordinates); name: the sampled variable (``log_E``,
    ``log_L_ref``); columns: the grouping columns it varies by; fixed: its sampling-scale value
    when fixed, or the data column its per-run values come from (``Model(fixed={p: column})``,
    read with the data as ``Design.constants``); prior: its prior given the data's scale;
    pinned: whether a group's runs determine it by construction (a curve's level where its
    data are), so that its effects start centred; spread_prior: the default prior of its
    group spreads.
    """

    key: str
    name: str
    columns: tuple[str, ...]
    prior: Prior | None
    fixed: float | str | None = None
    pinned: bool = False
    spread_prior: Prior = DEFAULT_SD_PRIOR


def curve_parameters(law: Law) -> list[str]:
    """The floor and every term's coefficient and exponent (empty for other laws)."""
    if law.floor is None:
        return []
    return [law.floor, *(p for term in law.curve_terms for p in term)]


def curve_coordinate_names(law: Law) -> list[str]:
    """The sampled variables of curve coordinates: level, then shares, then slopes."""
    return [CURVE_LEVEL, *(share_name(c, law.floor) for c, _ in law.curve_terms),
            *(slope_name(e) for _, e in law.curve_terms)]


def curve_coordinates_possible(law: Law, hierarchy: Mapping[str, tuple[str, ...]],
                               named: Collection[str]) -> str:
    """Why curve coordinates cannot serve this model ("" when they can); ``named``: the
    names priors or fixed values are set on."""
    params = curve_parameters(law)
    if not params:
        return f"law {law.name} is not a floor plus power terms"
    columns = {tuple(hierarchy.get(p, ())) for p in params}
    if len(columns) != 1 or not next(iter(columns)):
        return (f"{', '.join(params)} do not all vary by the same grouping columns "
                f"({ {p: list(hierarchy.get(p, ())) for p in params} })")
    law_names = set(params) | {sd_name(law.params[p].sampling_name(p), col)
                               for p in params for col in hierarchy[p]}
    clash = [k for k in named if k in law_names]
    if clash:
        return f"priors or fixed values are set on {clash} (law coordinates)"
    return ""


def _curve(model: Model, scale: DataScale | None) -> list[Coordinate]:
    law = model.law
    cols = model.hierarchy[law.floor]

    def prior(name: str, default: Prior) -> Prior:
        return model.priors.get(name, default)

    defaults = {
        # the curve where the data are is near their typical value
        CURVE_LEVEL: Prior("Normal", mu=float(np.log(scale.y_median)) if scale else 0.0,
                           sigma=1.0),
        # a term from 1/20 to 20 times the floor
        **{share_name(c, law.floor): Prior("Normal", mu=0.0, sigma=1.5)
           for c, _ in law.curve_terms},
        # local log-log slopes from 0.005 to 2 (alpha 0.3 with a third of the curve: 0.1)
        **{slope_name(e): Prior("Normal", mu=float(np.log(0.1)), sigma=1.5)
           for _, e in law.curve_terms}}
    return [Coordinate(name, name, cols, prior(name, default), pinned=name == CURVE_LEVEL,
                       spread_prior=CURVE_SPREAD_PRIOR)
            for name, default in defaults.items()]


def coordinates(model: Model, scale: DataScale | None = None) -> dict[str, Coordinate]:
    """``{key: Coordinate}`` of every parameter of ``model`` (law and likelihood), in the
    model's coordinate system; ``scale`` sets the data-scaled default priors (None: priors
    left unset, for names only)."""
    out: dict[str, Coordinate] = {}
    replaced = set(curve_parameters(model.law)) if model.coordinates == "curve" else set()
    if replaced:
        out |= {c.key: c for c in _curve(model, scale)}
    for name, par in model.params.items():
        if name in replaced:
            continue
        with np.errstate(all="ignore"):   # a value outside the support: Model reports it
            value = model.fixed.get(name)
            fixed = (value if value is None or isinstance(value, str)
                     else par.to_sampling(value))
        out[name] = Coordinate(name, par.sampling_name(name), tuple(model.hierarchy.get(name, ())),
                               None if fixed is not None or scale is None
                               else model.prior_for(name, scale), fixed)
    return out


def to_law_scale(model: Model, values: Mapping[str, Any]) -> dict[str, Any]:
    """Sampling-scale value of every parameter, keyed by parameter name, from the coordinates'
    values (keyed by :attr:`Coordinate.key`; pytensor tensors or numpy arrays)."""
    law = model.law
    out = {name: values[name] for name in model.params if name in values}
    if model.coordinates != "curve":
        return out
    level = values[CURVE_LEVEL]
    shares = [values[share_name(coef, law.floor)] for coef, _ in law.curve_terms]
    log_e = level - pt.logsumexp(pt.stack(pt.broadcast_arrays(0 * level, *shares)), axis=0)
    out[law.floor] = log_e
    for (coef, exponent), share in zip(law.curve_terms, shares, strict=True):
        out[coef] = log_e + share
        out[exponent] = values[slope_name(exponent)] - (out[coef] - level)
    return out
