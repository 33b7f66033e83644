"""From a validated data frame and a :class:`Model` spec to a PyMC model.

This is the only module that creates PyMC variables. The law is evaluated through
:func:`log_mean_from_sampling`, which predictions reuse with posterior draws, so fitting and
prediction share one graph definition.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ._validate import (
    as_frame,
    check_columns,
    check_finite,
    check_groups,
    check_positive,
    check_unit,
)
from .hierarchy import (
    CENTERED_MIN_MEDIAN_RUNS,
    add_nested_columns,
    by_name,
    effect_name,
    sd_name,
    z_name,
)
from .laws import Law, Param
from .model import Model
from .priors import DataScale

__all__ = ["Design", "encode", "build_model", "model_data", "structure_key", "to_natural",
           "log_mean_from_sampling"]


@dataclass(frozen=True)
class Design:
    """The data as the model sees it: log inputs, log target, group codes, references."""

    log_x: dict[str, np.ndarray]
    y: np.ndarray
    extra: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    levels: dict[str, tuple[str, ...]]
    log_ref: dict[str, float]
    scale: DataScale

    @property
    def n(self) -> int:
        return len(next(iter(self.log_x.values())))


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
            check_positive(df, col, meaning=f"needed by likelihood {model.likelihood.name}")
    if need_groups:
        check_columns(df, [c for c in model.grouping_columns if "/" not in c], role="grouping")
    return df


def check_target(model: Model, df: pd.DataFrame) -> np.ndarray:
    """The target's values, checked against the likelihood's support."""
    support = model.likelihood.target_support
    meaning = f"target of likelihood {model.likelihood.name}"
    if support == "positive":
        return check_positive(df, model.target, meaning=meaning)
    if support == "real":
        return check_finite(df, model.target, meaning=meaning)
    return check_unit(df, model.target, closed=support == "unit_closed", meaning=meaning)


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
    log_x = {k: np.log(df[k].to_numpy(dtype=float)) for k in model.law.inputs}
    y = df[model.target].to_numpy(dtype=float)
    extra = {c: df[c].to_numpy(dtype=float) for c in model.likelihood.columns}
    levels = {c: tuple(sorted(df[c].astype(str).unique())) for c in model.grouping_columns}
    codes = {c: pd.Categorical(df[c].astype(str), categories=levels[c]).codes.astype(np.int64)
             for c in model.grouping_columns}
    return Design(log_x=log_x, y=y, extra=extra, codes=codes, levels=levels,
                  log_ref={k: float(v.mean()) for k, v in log_x.items()},
                  scale=DataScale(float(y.min()), float(np.median(y)), float(y.max())))


# ---------------------------------------------------------------------------- shared math
def to_natural(params: Mapping[str, Param], u: Mapping[str, Any],
               log_ref: Mapping[str, float]) -> dict[str, Any]:
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
                           log_ref: Mapping[str, float]) -> Any:
    """``log L`` from log inputs and sampling-scale law parameters (any broadcastable shape)."""
    return law.log_mean(log_x, to_natural(law.params, u, log_ref))


def _link_value(par: Param, natural: float) -> float:
    return {"log": np.log, "logit": lambda v: np.log(v / (1 - v)), "identity": float}[par.link](
        natural)


# ---------------------------------------------------------------------------- the PyMC model
def _centered(model: Model, design: Design, column: str) -> bool:
    """Centred effects when groups are data-dominated (see ``hierarchy``), else non-centred."""
    if model.centered is not None:
        return model.centered
    counts = np.bincount(design.codes[column], minlength=len(design.levels[column]))
    return bool(np.median(counts) >= CENTERED_MIN_MEDIAN_RUNS)


def model_data(model: Model, design: Design) -> dict[str, np.ndarray]:
    """Every number of the PyMC model that comes from the data or from a prior, by name.

    :func:`build_model` holds each in a ``pm.Data`` variable of that name, so the compiled
    model depends only on :func:`structure_key` and a compiled model can take another data
    set with ``with_data(**model_data(model, other_design))`` (same law, likelihood, hierarchy,
    prior families and number of groups; the number of runs may differ):

    - ``log_{input}`` (per run), ``{column}_code`` (per run), ``observed`` (per run: log y,
      y or success counts), ``{column}_values`` for likelihood columns (``se``, ``trials``);
    - ``log_ref_{input}``: the reference point of the coefficients (geometric mean);
    - ``prior_{variable}_{argument}``: each argument of each prior (data-scaled defaults
      included), e.g. ``prior_log_E_mu``.
    """
    values: dict[str, np.ndarray] = {f"log_{k}": v for k, v in design.log_x.items()}
    values |= {f"{c}_code": v for c, v in design.codes.items()}
    values["observed"] = model.likelihood.observed(design.y, design.extra)
    values |= {f"{c}_values": v for c, v in design.extra.items()}
    values |= {f"log_ref_{k}": np.asarray(v) for k, v in design.log_ref.items()}
    for var, prior in _priors(model, design.scale).items():
        values |= {f"prior_{var}_{arg}": np.asarray(v) for arg, v in prior.args.items()}
    return values


def structure_key(model: Model, design: Design) -> str:
    """What the compiled model depends on beyond :func:`model_data`: a compiled model can be
    reused for every design with the same key."""
    spec = model.to_dict()
    spec["priors"] = {v: p.dist for v, p in _priors(model, design.scale).items()}
    spec["groups"] = {c: len(lv) for c, lv in design.levels.items()}
    spec["centered"] = {c: _centered(model, design, c) for c in design.levels}
    spec.pop("columns", None)
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _priors(model: Model, scale: DataScale) -> dict[str, Any]:
    """``{sampling variable: Prior}`` of every free parameter location and group spread."""
    out = {}
    for name, par in model.params.items():
        if name in model.fixed:
            continue
        out[par.sampling_name(name)] = model.prior_for(name, scale)
        for col in model.hierarchy.get(name, ()):
            hname = sd_name(par.sampling_name(name), col)
            if hname not in model.fixed:
                out[hname] = model.prior_for(hname, scale)
    return out


def build_model(model: Model, design: Design) -> pm.Model:
    """The PyMC model: priors, group effects (centred or not), law in log space, likelihood.

    Numbers from the data and the priors are ``pm.Data`` variables (:func:`model_data`).
    """
    coords: dict[str, Any] = {"run": np.arange(design.n)}
    coords.update({c: list(lv) for c, lv in design.levels.items()})
    values = model_data(model, design)
    with pm.Model(coords=coords) as pm_model:
        data = {k: pm.Data(k, v, dims="run" if np.ndim(v) else None) for k, v in values.items()}
        log_x = {k: data[f"log_{k}"] for k in design.log_x}
        codes = {c: data[f"{c}_code"] for c in design.codes}
        log_ref = {k: data[f"log_ref_{k}"] for k in design.log_ref}

        priors = _priors(model, design.scale)

        def prior(var: str) -> Any:
            return priors[var].create(var, args={a: data[f"prior_{var}_{a}"]
                                                 for a in priors[var].args})

        loc: dict[str, Any] = {}    # population location on the sampling scale
        row: dict[str, Any] = {}    # per-run value on the sampling scale
        level: dict[str, dict[str, Any]] = {c: {} for c in design.levels}
        for name, par in model.params.items():
            sname = par.sampling_name(name)
            if name in model.fixed:
                loc[name] = row[name] = pt.as_tensor_variable(_link_value(par, model.fixed[name]))
                continue
            loc[name] = prior(sname)
            value = loc[name]
            for col in model.hierarchy.get(name, ()):
                hname = sd_name(sname, col)
                sd = (pt.as_tensor_variable(model.fixed[hname]) if hname in model.fixed
                      else prior(hname))
                if _centered(model, design, col):
                    effect = pm.Normal(effect_name(sname, col), 0.0, sd, dims=col)
                else:
                    z = pm.Normal(z_name(sname, col), 0.0, 1.0, dims=col)
                    effect = pm.Deterministic(effect_name(sname, col), sd * z, dims=col)
                value = value + effect[codes[col]]
                level[col][name] = loc[name] + effect
            row[name] = value

        # Natural-scale population values and per-group values (other groupings at zero).
        population = to_natural(model.params, loc, log_ref)
        for name, par in model.params.items():
            if name not in model.fixed and par.sampling_name(name) != name:
                pm.Deterministic(name, population[name])  # else the sampled variable itself
        for col, varying in level.items():
            natural = to_natural(model.params, {**loc, **varying}, log_ref)
            for name in varying:
                pm.Deterministic(by_name(name, col), natural[name], dims=col)

        natural_row = to_natural(model.params, row, log_ref)
        log_mean = model.law.log_mean(log_x, natural_row)
        aux = {k: natural_row[k] for k in model.likelihood.aux}
        extra = {c: data[f"{c}_values"] for c in design.extra}
        model.likelihood.observe(log_mean, aux, data["observed"], extra, dims="run")
    return pm_model
