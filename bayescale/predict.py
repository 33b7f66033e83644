"""Posterior predictions: curves and observations for known or new groups, and
compute-optimal allocation.

For draw ``s`` and row ``i`` the sampling-scale value of a parameter is
``u[s, i] = mu[s] + sum_k b_k[s, g_k(i)]``; a group the fit never saw gets
``b = sd_k[s] z`` with ``z ~ Normal(0, 1)`` drawn once per draw and shared by all rows of that
group (a draw from the population distribution). The curve ``L = exp(log_mean)`` uses the same
law graph as the fit; the observation adds the likelihood's noise.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import xarray as xr

from ._validate import DataError, DataWarning, as_frame, group_labels
from .build import canonical_frame, log_mean_from_sampling, to_natural
from .coordinates import coordinates, to_law_scale
from .hierarchy import effect_name, sd_name

if TYPE_CHECKING:
    from .fit import Fit
    from .model import Model

__all__ = ["predict", "compute_optimal", "chinchilla_closed_form", "UnknownGroupError",
           "CHINCHILLA_COMPUTE"]

CHINCHILLA_COMPUTE = 6 * 70e9 * 1.4e12  # FLOP of Chinchilla itself (70B params, 1.4T tokens)


class UnknownGroupError(DataError, KeyError):
    """A prediction asked for a group the fit has not seen, without allowing new groups."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def ci_probs(ci_prob: float | Sequence[float]) -> tuple[float, ...]:
    probs = (ci_prob,) if np.isscalar(ci_prob) else tuple(ci_prob)
    for p in probs:
        if not 0 < p < 1:
            raise ValueError(f"ci_prob values must be in (0, 1), got {p}")
    return probs


def percent_of(p: float) -> str:
    return f"{100 * p:.10g}"


def _flat(fit: Fit, name: str) -> np.ndarray:
    """Posterior draws with (chain, draw) flattened to a leading sample axis."""
    da = fit.posterior[name]
    return da.stack(sample=("chain", "draw")).transpose("sample", ...).values


POPULATION = np.iinfo(np.int64).min  # code for "no group effect" (the population location)


def _group_codes(fit: Fit, frame: pd.DataFrame, new_groups: bool,
                 columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Codes per grouping column; unseen levels get codes -1, -2, ... (one per new level)."""
    codes = {}
    for col in fit.model.grouping_columns if columns is None else columns:
        if col not in frame.columns:
            raise DataError(f"predict needs the grouping column {col!r} (parameters vary by it); "
                            f"add it, or choose a group (CLI: --group {col}=NAME or --new-group)")
        labels = group_labels(frame, col).to_numpy()
        known = {lv: i for i, lv in enumerate(fit.levels[col])}
        unknown = sorted({lv for lv in labels if lv not in known})
        if unknown and not new_groups:
            raise UnknownGroupError(
                f"unknown {col} {', '.join(map(repr, unknown))}; the fit knows {col} "
                f"{list(fit.levels[col])}. Pass new_groups=True (CLI: --new-group) to predict "
                "for a new group drawn from the population distribution.")
        new_code = {lv: -(j + 1) for j, lv in enumerate(unknown)}
        codes[col] = np.array([known.get(lv, new_code.get(lv)) for lv in labels], dtype=np.int64)
    return codes


def new_group_z(fit: Fit, codes: Mapping[str, np.ndarray], rng: np.random.Generator
                ) -> dict[tuple[str, str], np.ndarray]:
    """Standard-normal draws (samples, new levels) for every varying hierarchy coordinate and
    grouping column with new levels (codes ``-1, -2, ...``): one draw per new level and
    posterior sample, shared by all rows of that level."""
    n_samples = fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]
    out = {}
    for coord in coordinates(fit.model).values():
        for col in coord.columns:
            code = np.where(codes[col] == POPULATION, 0, codes[col])
            n_new = int(max(0, -code.min(initial=0)))
            out[(coord.key, col)] = rng.standard_normal((n_samples, n_new))
    return out


def sampling_values(fit: Fit, codes: Mapping[str, np.ndarray], n: int,
                    rng: np.random.Generator | None = None,
                    z_new: Mapping[tuple[str, str], np.ndarray] | None = None
                    ) -> dict[str, np.ndarray]:
    """``u[s, i]`` for every hierarchy coordinate (keyed by :attr:`Coordinate.key`: in law
    coordinates every law and likelihood parameter), shape (samples, rows).

    Codes: ``>= 0`` a known level, ``-1, -2, ...`` new levels (drawn from the population with
    ``z_new``, from :func:`new_group_z`; drawn here from ``rng`` when not given),
    ``POPULATION`` a zero group effect (the population location itself).
    """
    model = fit.model
    n_samples = fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]
    if z_new is None:
        z_new = new_group_z(fit, codes, rng if rng is not None else np.random.default_rng())
    out: dict[str, np.ndarray] = {}
    for key, coord in coordinates(model).items():
        if coord.fixed is not None:
            out[key] = np.full((n_samples, n), coord.fixed)
            continue
        value = np.repeat(_flat(fit, coord.name)[:, None], n, axis=1)
        for col in coord.columns:
            hname = sd_name(coord.name, col)
            sd = (np.full(n_samples, model.fixed[hname]) if hname in model.fixed
                  else _flat(fit, hname))
            zero = codes[col] == POPULATION
            code = np.where(zero, 0, codes[col])
            known = _flat(fit, effect_name(coord.name, col))
            fresh = sd[:, None] * z_new[(key, col)][:, ::-1]
            effects = np.concatenate([known, fresh], axis=1)
            effect = effects[:, code]  # code -1 -> last column
            value = value + np.where(zero[None, :], 0.0, effect)
        out[key] = value
    return out


def coordinate_inputs(model: Model) -> dict[str, Any]:
    """A (samples, rows) matrix input per hierarchy coordinate, for compiled functions."""
    return {k: pt.matrix(f"u_{k}") for k in coordinates(model)}


def broadcast_args(arrays: Sequence[np.ndarray]) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """The arrays' common shape and each array broadcast to it (contiguous float64), as a
    compiled function of matrices takes them."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
    return shape, [np.ascontiguousarray(np.broadcast_to(a, shape), dtype=float) for a in arrays]


def natural_values(fit: Fit, u_values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Natural value of every law and likelihood parameter from :func:`sampling_values`."""
    if "natural" not in fit._cache:
        model = fit.model
        u = coordinate_inputs(model)
        natural = to_natural(model.params, to_law_scale(model, u), fit.log_ref)
        names = list(model.params)
        fn = pytensor.function(list(u.values()), [natural[k] for k in names],
                               on_unused_input="ignore")
        fit._cache["natural"] = (list(u), names, fn)
    keys, names, fn = fit._cache["natural"]
    shape, args = broadcast_args([u_values[k] for k in keys])
    return {k: np.broadcast_to(v, shape) for k, v in zip(names, fn(*args), strict=True)}


CurveFunction = Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray]],
                         tuple[np.ndarray, dict[str, np.ndarray]]]


def compile_curve(model: Model, log_ref: Mapping[str, float]) -> CurveFunction:
    """Compiled ``(log L, natural likelihood parameters)`` from the hierarchy coordinates'
    values (:func:`sampling_values`) and log inputs, all broadcastable (samples, rows) arrays;
    the graph is the one the fit samples (``to_law_scale``, ``log_mean_from_sampling``)."""
    u = coordinate_inputs(model)
    x = {k: pt.matrix(f"log_{k}") for k in model.law.inputs}
    on_law_scale = to_law_scale(model, u)
    law_u = {k: on_law_scale[k] for k in model.law.params}
    outputs = [log_mean_from_sampling(model.law, x, law_u, log_ref)]
    aux = to_natural(model.likelihood.aux, {k: on_law_scale[k] for k in model.likelihood.aux},
                     log_ref)
    outputs += [aux[k] for k in model.likelihood.aux]
    fn = pytensor.function([*u.values(), *x.values()], outputs, on_unused_input="ignore")

    def call(u_values: Mapping[str, np.ndarray], log_x: Mapping[str, np.ndarray]
             ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        _, args = broadcast_args([*(u_values[k] for k in u), *(log_x[k] for k in x)])
        log_mean, *aux_values = fn(*args)
        return np.asarray(log_mean), dict(zip(model.likelihood.aux, aux_values, strict=True))

    return call


def compiled_curve(fit: Fit) -> CurveFunction:
    """The fit's :func:`compile_curve`, cached on the fit."""
    if "compiled" not in fit._cache:
        fit._cache["compiled"] = compile_curve(fit.model, fit.log_ref)
    return fit._cache["compiled"]


def summarise_draws(draws: np.ndarray, probs: Iterable[float], prefix: str
                    ) -> dict[str, np.ndarray]:
    cols = {f"{prefix}_median": np.median(draws, axis=0)}
    for p in probs:
        lo, hi = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0)
        cols[f"{prefix}_eti{percent_of(p)}_lb"] = lo
        cols[f"{prefix}_eti{percent_of(p)}_ub"] = hi
    return cols


def predict(fit: Fit, data: Any, *, ci_prob: float | Sequence[float] = 0.95,
            new_groups: bool = False, seed: int | None = None,
            kind: Literal["summary", "draws"] = "summary") -> pd.DataFrame | xr.Dataset:
    """Posterior predictive at new inputs.

    Returns, per row, the ``curve`` (the law, without noise) and ``obs`` (a new observation,
    with noise) as median and equal-tailed intervals ``{curve,obs}_eti{P}_{lb,ub}`` for each
    probability in ``ci_prob``; ``kind="draws"`` returns the draws as an ``xarray.Dataset``.
    Rows whose group the fit has not seen raise :class:`UnknownGroupError` unless
    ``new_groups=True``, which draws the group from the population distribution.
    """
    probs = ci_probs(ci_prob)
    if kind not in ("summary", "draws"):
        raise ValueError(f"kind must be 'summary' or 'draws', got {kind!r}")
    frame = canonical_frame(fit.model, data, need_target=False, need_groups=False)
    warn_far_outside(fit, frame)
    log_x = {k: np.log(frame[k].to_numpy(dtype=float))[None, :] for k in fit.model.law.inputs}
    rng = np.random.default_rng(seed)
    if kind == "draws":
        draws = predictive_draws(fit, frame, log_x, new_groups=new_groups, rng=rng)
        return format_draws(as_frame(data), draws.curve, draws.obs, probs, kind)
    # Summaries in chunks of rows, so memory stays bounded whatever the number of rows;
    # a new group's draws are made once and shared by every chunk.
    codes = _group_codes(fit, frame, new_groups)
    z_new = new_group_z(fit, codes, rng)
    columns: dict[str, list[np.ndarray]] = {}
    for rows in row_chunks(fit, len(frame)):
        part = predictive_draws(fit, frame.iloc[rows], {k: v[:, rows] for k, v in log_x.items()},
                                new_groups=new_groups, rng=rng,
                                codes={c: v[rows] for c, v in codes.items()}, z_new=z_new)
        for prefix, values in (("curve", part.curve), ("obs", part.obs)):
            for col, stat in summarise_draws(values, probs, prefix).items():
                columns.setdefault(col, []).append(stat)
    out = as_frame(data).copy()
    for col, parts in columns.items():
        out[col] = np.concatenate(parts)
    return out


PREDICT_CHUNK_BYTES = 256 * 2**20   # working memory of one chunk of rows in predict


def row_chunks(fit: Fit, n_rows: int) -> list[slice]:
    """Slices of rows whose (samples x rows) working arrays fit in ``PREDICT_CHUNK_BYTES``:
    about two arrays per parameter and input, and a few for the curve and the draws."""
    n_samples = fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]
    arrays = 2 * (len(fit.model.params) + len(fit.model.law.inputs)) + 6
    size = max(1, int(PREDICT_CHUNK_BYTES // (8 * n_samples * arrays)))
    return [slice(i, min(i + size, n_rows)) for i in range(0, n_rows, size)] or [slice(0, 0)]


FAR_DECADES = 5.0   # inputs this many decades beyond the fitted range get a warning


def warn_far_outside(fit: Fit, frame: pd.DataFrame) -> None:
    """Warn about inputs far beyond the fitted range (a units mix-up: 7 for 7e9 parameters)."""
    for name, (lo, hi) in fit.log_range.items():
        if name not in frame.columns:
            continue
        log_v = np.log10(frame[name].to_numpy(dtype=float))
        below = np.log10(np.exp(lo)) - log_v
        above = log_v - np.log10(np.exp(hi))
        far = np.maximum(below, above)
        if (far > FAR_DECADES).any():
            i = int(np.argmax(far))
            side = "below the smallest" if below[i] > above[i] else "above the largest"
            edge = np.exp(lo if below[i] > above[i] else hi)
            warnings.warn(f"{name} = {frame[name].iloc[i]:.4g} (row {i}) is {far[i]:.1f} decades "
                          f"{side} {name} the fit saw ({edge:.4g}): check the units (e.g. "
                          "parameters vs billions of parameters); predictions that far out "
                          "are extrapolations of the law's form alone", DataWarning,
                          stacklevel=3)


class Draws(NamedTuple):
    """Posterior predictive draws, shape (samples, rows): the curve, a new observation, and
    the log curve with the natural likelihood parameters that produced them."""

    curve: np.ndarray
    obs: np.ndarray
    log_curve: np.ndarray
    aux: dict[str, np.ndarray]


def predictive_draws(fit: Fit, frame: pd.DataFrame, log_x: Mapping[str, np.ndarray], *,
                     new_groups: bool, rng: np.random.Generator,
                     codes: Mapping[str, np.ndarray] | None = None,
                     z_new: Mapping[tuple[str, str], np.ndarray] | None = None) -> Draws:
    """Draws (samples, rows) of the curve and of a new observation, given log inputs of shape
    (1, rows) or (samples, rows) (per-draw inputs, e.g. a loss predicted by another fit)."""
    if codes is None:
        codes = _group_codes(fit, frame, new_groups)
    u = sampling_values(fit, codes, len(frame), rng, z_new)
    log_curve, aux = compiled_curve(fit)(u, log_x)
    extra = {c: frame[c].to_numpy(dtype=float)[None, :] for c in fit.model.likelihood.columns
             if c in frame.columns}
    obs = fit.model.likelihood.draw(log_curve, aux, extra, rng)
    return Draws(np.exp(log_curve), obs, log_curve, aux)


def format_draws(frame: pd.DataFrame, curve: np.ndarray, obs: np.ndarray,
                 probs: Sequence[float], kind: str) -> pd.DataFrame | xr.Dataset:
    """Draws as an ``xarray.Dataset`` (``kind="draws"``) or a frame of medians/intervals."""
    if kind == "draws":
        return xr.Dataset({"curve": (("sample", "row"), curve), "obs": (("sample", "row"), obs)})
    if kind != "summary":
        raise ValueError(f"kind must be 'summary' or 'draws', got {kind!r}")
    out = frame.copy()
    for prefix, draws in (("curve", curve), ("obs", obs)):
        for col, values in summarise_draws(draws, probs, prefix).items():
            out[col] = values
    return out


# ---------------------------------------------------------------------------- allocation
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
                    ci_prob: float | Sequence[float] = 0.95, flops_per_param_token: float = 6.0,
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
    fn = compiled_curve(fit)
    tokens_of = tokens or (lambda c, n: c / (flops_per_param_token * n))
    records, draws = [], {}
    for label, codes in settings:
        u = {k: v[:, :1] for k, v in sampling_values(fit, codes, 1, rng).items()}
        for c in budgets:
            def loss(log_n: np.ndarray, c: float = c, u: dict = u) -> np.ndarray:
                log_d = np.log(tokens_of(c, np.exp(log_n)))
                return fn(u, {"N": log_n, "D": log_d})[0]

            n_samples = len(next(iter(u.values())))
            top = np.log(c / flops_per_param_token) if tokens is None else np.log(c)
            lo, hi = np.full(n_samples, 0.0), np.full(n_samples, top)
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
                stats = summarise_draws(values[:, None], probs, q)
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
        codes = {**population, **_group_codes(fit, pd.DataFrame([groups]), new_groups=False,
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
