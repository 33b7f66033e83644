"""From a validated data frame and a :class:`Model` spec to a PyMC model.

This is the only module that creates PyMC variables. The runs' values, the law and the
likelihood come from :mod:`bayescale.graph`, which predictions compile with posterior draws,
so fitting and prediction share one graph definition.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ._validate import (
    as_frame,
    check_columns,
    check_counts,
    check_groups,
    check_positive,
    check_support,
    group_labels,
    warn_collinear_inputs,
    warn_duplicates,
)
from .coordinates import coordinates, to_law_scale
from .graph import curve_and_aux, row_values, to_natural
from .hierarchy import (
    CENTRING_THRESHOLD,
    add_nested_columns,
    by_name,
    dim_name,
    effect_name,
    groups_mean_name,
    sd_name,
    split_name,
    z_name,
    zero_sum_name,
)
from .likelihoods import MEASUREMENT_ERROR
from .priors import DataScale, Prior

if TYPE_CHECKING:
    from .model import Model

__all__ = ["Design", "encode", "build_model", "model_data", "structure_key", "fixed_constants",
           "design_from_groups"]


@dataclass(frozen=True)
class Design:
    """The data as the model sees it: log inputs, log target, group codes, references, and
    ``constants``: per-run natural values of parameters fixed to a data column."""

    log_x: dict[str, np.ndarray]
    y: np.ndarray
    extra: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    levels: dict[str, tuple[str, ...]]
    log_ref: dict[str, float]
    scale: DataScale
    constants: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(next(iter(self.log_x.values())))

    @property
    def log_range(self) -> dict[str, tuple[float, float]]:
        """``(min, max)`` of each log input: the range the fit saw."""
        return {k: (float(v.min()), float(v.max())) for k, v in self.log_x.items()}


def canonical_frame(model: Model, data: Any, *, need_target: bool = True,
                    need_groups: bool = True) -> pd.DataFrame:
    """Rename mapped columns, build nested group labels and validate values."""
    df = as_frame(data)
    rename = {src: dst for dst, src in model.columns.items() if src in df.columns and src != dst}
    df = df.rename(columns=rename)
    df = add_nested_columns(df, model.grouping_columns)
    check_columns(df, model.law.inputs, role=f"inputs of law {model.law.name}")
    for inp in model.law.inputs:
        check_positive(df, inp, meaning=f"input of law {model.law.name}")
    if need_target:
        check_columns(df, [model.target], role="target")
        check_target(model, df)
        check_columns(df, model.likelihood.columns, role=f"likelihood {model.likelihood.name}")
        for col in model.likelihood.columns:
            meaning = f"needed by likelihood {model.likelihood.name}"
            if col == "trials":
                check_counts(df, col, meaning=meaning)
            else:
                check_positive(df, col, meaning=meaning)
    me = model.measurement_error
    if me is not None and (need_target or any(c in df.columns for c in me.columns)):
        me.spread(df, model.likelihood)   # prediction rows may leave it out, not half of it
    if need_groups:
        check_columns(df, [c for c in model.grouping_columns if "/" not in c], role="grouping")
    fixed_constants(model, df)
    return df


def check_target(model: Model, df: pd.DataFrame) -> np.ndarray:
    """The target's values, checked against the likelihood's support."""
    return check_support(df, model.target, model.likelihood.target_support,
                         meaning=f"target of likelihood {model.likelihood.name}",
                         open_hint=" (exact 0 or 1 needs a binomial likelihood)")


def fixed_constants(model: Model, df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Natural value per row of each parameter fixed to a data column
    (``Model(fixed={param: column})``), checked against the parameter's support."""
    out = {}
    for name, column in model.fixed_columns.items():
        par = model.params[name]
        check_columns(df, [column], role=f"values of fixed parameter {name!r}")
        out[name] = check_support(df, column, par.fixed_support or par.support,
                                  meaning=f"values of fixed parameter {name!r}")
    return out


def encode(model: Model, data: Any) -> Design:
    """Validate the fitting data and encode it (references = geometric means of the inputs)."""
    df = canonical_frame(model, data)
    for col in model.grouping_columns:
        users = [p for p, cols in model.hierarchy.items() if col in cols]
        check_groups(df, col, min_size=model.min_group_size, used_by=users)
    n_free = sum(1 for p in model.params if p not in model.fixed)
    if len(df) <= n_free:
        raise ValueError(f"{len(df)} runs cannot identify {n_free} parameters; "
                         "add runs or fix parameters")
    me = model.measurement_error
    warn_duplicates(df, [*model.law.inputs, model.target, *model.likelihood.columns,
                         *(me.columns if me is not None else ()), *model.grouping_columns])
    log_x = {k: np.log(df[k].to_numpy(dtype=float)) for k in model.law.inputs}
    warn_collinear_inputs(log_x)
    y = df[model.target].to_numpy(dtype=float)
    extra = {c: df[c].to_numpy(dtype=float) for c in model.likelihood.columns}
    if me is not None:
        extra[MEASUREMENT_ERROR] = me.observed_se(me.spread(df, model.likelihood), y,
                                                  model.likelihood)
    labels = {c: group_labels(df, c) for c in model.grouping_columns}
    levels = {c: tuple(sorted(v.unique())) for c, v in labels.items()}
    codes = {c: pd.Categorical(v, categories=levels[c]).codes.astype(np.int64)
             for c, v in labels.items()}
    return Design(log_x=log_x, y=y, extra=extra, codes=codes, levels=levels,
                  log_ref={k: float(v.mean()) for k, v in log_x.items()},
                  scale=DataScale(float(y.min()), float(np.median(y)), float(y.max())),
                  constants=fixed_constants(model, df))


def design_from_groups(model: Model, constant_data: Any, observed_data: Any,
                       levels: Mapping[str, Sequence[str]], log_ref: Mapping[str, float],
                       scale: DataScale) -> Design:
    """The fitted data as encoded, rebuilt from a fit's ``constant_data`` and
    ``observed_data`` groups (:func:`model_data` names): a loaded fit has its data."""
    missing = [name for name in [*(f"log_{k}" for k in model.law.inputs),
                                 *(f"{dim_name(c)}_code" for c in model.grouping_columns),
                                 *(f"{c}_values" for c in model.extra_names),
                                 *(f"fixed_{p}" for p in model.fixed_columns)]
               if name not in constant_data]
    if missing or model.likelihood.observed_name not in observed_data:
        raise ValueError(f"the fit's data groups lack {missing or ['observed values']}")
    extra = {c: np.asarray(constant_data[f"{c}_values"], dtype=float)
             for c in model.extra_names}
    observed = np.asarray(observed_data[model.likelihood.observed_name])
    return Design(
        log_x={k: np.asarray(constant_data[f"log_{k}"], dtype=float) for k in model.law.inputs},
        y=np.asarray(model.likelihood.target_from_observed(observed, extra), dtype=float),
        extra=extra,
        codes={c: np.asarray(constant_data[f"{dim_name(c)}_code"], dtype=np.int64)
               for c in model.grouping_columns},
        levels={c: tuple(lv) for c, lv in levels.items()}, log_ref=dict(log_ref), scale=scale,
        constants={p: np.asarray(constant_data[f"fixed_{p}"], dtype=float)
                   for p in model.fixed_columns})


# ---------------------------------------------------------------------------- the PyMC model
Centring = dict[str, dict[str, bool]]   # coordinate key -> grouping column -> effects centred


def default_centring(model: Model, design: Design) -> Centring:
    """Whether each hierarchy coordinate's effects of each grouping column are sampled centred
    (keyed by :attr:`Coordinate.key`: the parameter's name in law coordinates).

    ``Model(centered=True|False)`` applies everywhere. Otherwise a curve's level (curve
    coordinates) starts centred: its group's runs pin it by construction. Every other set of
    effects starts non-centred: the first fit cannot yet tell whether the data pin a level
    down, and the number of runs per level is a poor guide when several law parameters vary
    together (the data pin their combination, not each one). Measured on 2-group simulations
    with every Chinchilla or power-law parameter varying in law coordinates (40 and 12 runs):
    centred from 10 runs per level gave 12-670 divergences on each of 7 seeds, non-centred
    0-1. :func:`centring_from_draws` then chooses per coordinate and column from the draws.
    """
    del design
    return {c.key: {col: c.pinned if model.centered is None else bool(model.centered)
                    for col in c.columns}
            for c in coordinates(model).values() if c.columns and c.fixed is None}


def centring_from_draws(model: Model, design: Design, posterior: Any,
                        threshold: float = CENTRING_THRESHOLD) -> Centring:
    """Centre a coordinate's effects of a column when the data pin its levels down: posterior
    sd of a level's value (location plus effect, sampling scale) below ``threshold`` times
    the group spread, for the median level; else non-centred (Papaspiliopoulos, Roberts &
    Skold 2007: centring wins when the data are informative relative to the spread).
    ``Model(centered=True|False)`` is kept as given."""
    if model.centered is not None:
        return default_centring(model, design)
    plan: Centring = {}
    for coord in coordinates(model).values():
        if not coord.columns or coord.fixed is not None:
            continue
        plan[coord.key] = {}
        for col in coord.columns:
            hname = sd_name(coord.name, col)
            spread = (model.fixed[hname] if hname in model.fixed
                      else float(np.median(np.asarray(posterior[hname]))))
            value = np.asarray(posterior[effect_name(coord.name, col)]) + np.asarray(
                posterior[coord.name])[..., None]
            sd = value.reshape(-1, value.shape[-1]).std(axis=0)
            plan[coord.key][col] = bool(np.median(sd) < threshold * spread)
    return plan


def model_data(model: Model, design: Design) -> dict[str, np.ndarray]:
    """Every number of the PyMC model that comes from the data or from a prior, by name.

    :func:`build_model` holds each in a ``pm.Data`` variable of that name, so the compiled
    model depends only on :func:`structure_key` and a compiled model can take another data
    set with ``with_data(**model_data(model, other_design))`` (same law, likelihood, hierarchy,
    prior families and number of groups; the number of runs may differ):

    - ``log_{input}`` (per run), ``{column}_code`` (per run), ``observed`` (per run: log y,
      y or success counts), ``{column}_values`` for likelihood columns (``se``, ``trials``)
      and ``measurement_error_values`` (a known measurement error, observed scale);
    - ``fixed_{param}`` (per run): the natural values of a parameter fixed to a data column;
    - ``log_ref_{input}``: the reference point of the coefficients (geometric mean);
    - ``prior_{variable}_{argument}``: each argument of each prior (data-scaled defaults
      included), e.g. ``prior_log_E_mu``.
    """
    values: dict[str, np.ndarray] = {f"log_{k}": v for k, v in design.log_x.items()}
    values |= {f"{dim_name(c)}_code": v for c, v in design.codes.items()}
    values["observed"] = model.likelihood.observed(design.y, design.extra)
    values |= {f"{c}_values": v for c, v in design.extra.items()}
    values |= {f"fixed_{p}": v for p, v in design.constants.items()}
    values |= {f"log_ref_{k}": np.asarray(v) for k, v in design.log_ref.items()}
    for var, prior in _priors(model, design.scale).items():
        values |= {f"prior_{var}_{arg}": np.asarray(v) for arg, v in prior.args.items()}
    return values


def structure_key(model: Model, design: Design, centring: Centring | None = None) -> str:
    """What the compiled model depends on beyond :func:`model_data`: a compiled model can be
    reused for every design with the same key."""
    spec = model.to_dict()
    spec["priors"] = {v: p.dist for v, p in _priors(model, design.scale).items()}
    spec["groups"] = {c: len(lv) for c, lv in design.levels.items()}
    spec["centring"] = centring if centring is not None else default_centring(model, design)
    spec.pop("columns", None)
    # its values are data (measurement_error_values); the graph only knows it is there
    spec["measurement_error"] = spec.get("measurement_error") is not None
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _priors(model: Model, scale: DataScale) -> dict[str, Any]:
    """``{sampling variable: Prior}`` of every free coordinate's location and group spread."""
    out = {}
    for coord in coordinates(model, scale).values():
        if coord.fixed is not None:
            continue
        out[coord.name] = coord.prior
        for col in coord.columns:
            hname = sd_name(coord.name, col)
            if hname not in model.fixed:
                out[hname] = model.prior_for(hname, scale)
    return out


OBS_DIM = "__obs__"   # the runs' dimension (grouping columns may be called "run")


def _zero_sum_effects(sname: str, col: str, sd: Any, centred: bool) -> Any:
    """Effects of one grouping column on one parameter that sum to zero over its levels,
    centred (``e ~ ZeroSumNormal(sd)``) or non-centred (``e = sd z``, ``z ~ ZeroSumNormal(1)``).
    """
    dim = dim_name(col)
    if centred:
        return pm.ZeroSumNormal(zero_sum_name(sname, col), sigma=sd, dims=dim)
    return sd * pm.ZeroSumNormal(z_name(sname, col), sigma=1.0, dims=dim)


def _population_and_means(sname: str, prior: Prior, args: Mapping[str, Any],
                          spreads: Mapping[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """The location ``m`` of the groups' values, and from it the population location ``mu``
    and each column's mean effect ``bbar_c`` (so that ``mu + sum_c bbar_c = m``).

    Group effects ``b_c ~ Normal(0, sd_c)`` split into their mean ``bbar_c`` and zero-sum
    deviations; the data see only ``m`` and the deviations, so ``m`` is sampled and the split
    of ``m`` into ``mu`` and the ``bbar_c`` is drawn from its conditional distribution given
    ``m``. For a Normal(mu0, s0) prior on ``mu``, ``m ~ Normal(mu0, sqrt(V))`` with
    ``V = s0^2 + sum_c tau_c^2``, ``tau_c = sd_c / sqrt(K_c)``, and with prior draws
    ``a_0 = mu0 + s0 u_0``, ``a_c = tau_c u_c`` (``u ~ Normal(0, 1)``) the conditional draw is
    ``x_i = a_i + (v_i / V) (m - sum_j a_j)`` (``v_0 = s0^2``, ``v_c = tau_c^2``): the exact
    model. Another prior family is placed on ``m`` itself (``mu = m - sum_c tau_c u_c``).
    """
    tau = dict(spreads)
    means = {}
    u = {col: pm.Normal(split_name(sname, col), 0.0, 1.0) for col in tau}
    if prior.dist == "Normal" and set(prior.args) == {"mu", "sigma"}:
        s0 = args["sigma"]
        var = s0**2 + sum(t**2 for t in tau.values())
        m = pm.Normal(groups_mean_name(sname), mu=args["mu"], sigma=pt.sqrt(var))
        a0 = args["mu"] + s0 * pm.Normal(split_name(sname), 0.0, 1.0)
        rest = m - a0 - sum(tau[c] * u[c] for c in tau)
        mu = a0 + s0**2 / var * rest
        for col in tau:
            means[col] = tau[col] * u[col] + tau[col] ** 2 / var * rest
    else:
        m = prior.create(groups_mean_name(sname), args=args)
        mu = m - sum(tau[c] * u[c] for c in tau)
        for col in tau:
            means[col] = tau[col] * u[col]
    return m, mu, means


def build_model(model: Model, design: Design, centring: Centring | None = None) -> pm.Model:
    """The PyMC model: priors, group effects (centred or not, per level: ``centring``,
    default :func:`default_centring`), law in log space, likelihood.

    Numbers from the data and the priors are ``pm.Data`` variables (:func:`model_data`).
    """
    if centring is None:
        centring = default_centring(model, design)
    coords: dict[str, Any] = {OBS_DIM: np.arange(design.n)}
    coords.update({dim_name(c): list(lv) for c, lv in design.levels.items()})
    values = model_data(model, design)
    with pm.Model(coords=coords) as pm_model:
        data = {k: pm.Data(k, v, dims=OBS_DIM if np.ndim(v) else None)
                for k, v in values.items()}
        log_x = {k: data[f"log_{k}"] for k in design.log_x}
        codes = {c: data[f"{dim_name(c)}_code"] for c in design.codes}
        log_ref = {k: data[f"log_ref_{k}"] for k in design.log_ref}

        priors = _priors(model, design.scale)

        def prior(var: str) -> Any:
            return priors[var].create(var, args={a: data[f"prior_{var}_{a}"]
                                                 for a in priors[var].args})

        loc: dict[str, Any] = {}    # population location of each coordinate
        effects: dict[tuple[str, str], Any] = {}   # (coordinate, column) -> effect per level
        level: dict[str, dict[str, Any]] = {c: {} for c in design.levels}
        coords_ = coordinates(model, design.scale)
        for key, coord in coords_.items():
            sname = coord.name
            if isinstance(coord.fixed, str):
                loc[key] = model.params[key].to_sampling(data[f"fixed_{key}"])
                continue
            if coord.fixed is not None:
                loc[key] = pt.as_tensor_variable(coord.fixed)
                continue
            if not coord.columns:
                loc[key] = prior(sname)
                continue
            spreads, deviations = {}, {}
            for col in coord.columns:
                hname = sd_name(sname, col)
                sd = (pt.as_tensor_variable(model.fixed[hname]) if hname in model.fixed
                      else prior(hname))
                spreads[col] = sd / np.sqrt(len(design.levels[col]))
                deviations[col] = _zero_sum_effects(sname, col, sd, centring[key][col])
            _, mu, means = _population_and_means(
                sname, priors[sname], {a: data[f"prior_{sname}_{a}"] for a in priors[sname].args},
                spreads)
            loc[key] = pm.Deterministic(sname, mu)
            for col in coord.columns:
                effects[(key, col)] = pm.Deterministic(
                    effect_name(sname, col), deviations[col] + means[col], dims=dim_name(col))
                level[col][key] = loc[key] + effects[(key, col)]

        # Law parameters: population values (sampling and natural scale) and per-group values
        # (other groupings at zero).
        law_loc = to_law_scale(model, loc)
        population = to_natural(model.params, law_loc, log_ref)
        for name, par in model.params.items():
            if name in model.fixed:
                continue
            if name not in coords_:        # derived from curve coordinates
                pm.Deterministic(par.sampling_name(name), law_loc[name])
            if par.sampling_name(name) != name:
                pm.Deterministic(name, population[name])
        for col, varying in level.items():
            natural = to_natural(model.params, to_law_scale(model, {**loc, **varying}), log_ref)
            for name in model.params:
                if col in model.hierarchy.get(name, ()):
                    pm.Deterministic(by_name(name, col), natural[name], dims=dim_name(col))

        row = row_values(model, loc, effects, codes)
        log_mean, aux = curve_and_aux(model, row, log_x, log_ref)
        extra = {c: data[f"{c}_values"] for c in design.extra}
        model.likelihood.observe(log_mean, aux, data["observed"], extra, dims=OBS_DIM)
    return pm_model
