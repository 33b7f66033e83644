"""Posterior predictions: curves and observations for known or new groups.

Predictions evaluate the model's own graph (:mod:`bayescale.graph`, the functions
``build_model`` uses) compiled over posterior draws (:class:`PredictiveFunction`): for draw
``s`` and row ``i`` the sampling-scale value of a coordinate is
``u[s, i] = loc[s] + sum_k effect_k[s, g_k(i)]``; a group the fit never saw gets
``effect = sd_k[s] z`` with ``z ~ Normal(0, 1)`` drawn once per draw and shared by all rows of
that group (a draw from the population distribution). The curve is ``L = exp(log_mean)``;
a new observation is drawn from the likelihood's own distribution. A known measurement error
(``Model(measurement_error=...)``) enters a new observation only where the rows have its
column(s) (at the curve, ``se / L``, for standard errors on log y); without them the
observation is of the run's true value, since a future run's evaluation noise is unknown.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import xarray as xr

from ._validate import DataError, DataWarning, as_frame, group_labels
from .build import canonical_frame, fixed_constants
from .coordinates import coordinates
from .extrapolation import distances, link_values, robust_variance, top_keys, training_frame
from .graph import curve_and_aux, row_parameters, row_values, shifted_log_mean
from .hierarchy import effect_name, sd_name
from .intervals import ci_probs, interval_columns
from .likelihoods import MEASUREMENT_ERROR

if TYPE_CHECKING:
    from .fit import Fit
    from .model import Model

__all__ = ["predict", "UnknownGroupError", "PredictiveFunction", "predictive_draws",
           "curve_draws", "parameter_draws", "log_predictive_density", "draws_matrix",
           "group_codes", "new_group_z", "graph_values", "discrepancy_slopes", "row_distances",
           "fitted_runs", "POPULATION"]

class UnknownGroupError(DataError, KeyError):
    """A prediction asked for a group the fit has not seen, without allowing new groups."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


POPULATION = np.iinfo(np.int64).min  # code for "no group effect" (the population location)


def group_codes(fit: Fit, frame: pd.DataFrame, new_groups: bool,
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


def n_samples(fit: Fit) -> int:
    return fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]


def new_group_z(fit: Fit, codes: Mapping[str, np.ndarray], rng: np.random.Generator
                ) -> dict[tuple[str, str], np.ndarray]:
    """Standard-normal draws (samples, new levels) for every varying hierarchy coordinate and
    grouping column with new levels (codes ``-1, -2, ...``): one draw per new level and
    posterior sample, shared by all rows of that level (the graph scales them by the spread:
    a draw from the population distribution)."""
    out = {}
    for coord in coordinates(fit.model).values():
        for col in coord.columns:
            code = np.where(codes[col] == POPULATION, 0, codes[col])
            n_new = int(max(0, -code.min(initial=0)))
            out[(coord.key, col)] = rng.standard_normal((n_samples(fit), n_new))
    return out


def _posterior_inputs(fit: Fit) -> dict[str, np.ndarray]:
    """The graph's posterior inputs, (chain, draw) flattened: each free coordinate's location
    (samples, 1), and per grouping column its known effects (samples, levels) and spread
    (samples, 1); cached on the fit."""
    if "posterior_inputs" not in fit._cache:
        model, post = fit.model, fit.posterior
        flat = {}
        for key, coord in coordinates(model).items():
            if coord.fixed is not None:
                continue
            flat[f"loc_{key}"] = draws_matrix(post[coord.name])
            for col in coord.columns:
                hname = sd_name(coord.name, col)
                flat[f"effect_{key}_{col}"] = draws_matrix(post[effect_name(coord.name, col)])
                flat[f"sd_{key}_{col}"] = (np.full((n_samples(fit), 1), model.fixed[hname])
                                           if hname in model.fixed else draws_matrix(post[hname]))
        fit._cache["posterior_inputs"] = flat
    return fit._cache["posterior_inputs"]


class PredictiveFunction:
    """The model's graph (:mod:`bayescale.graph`) compiled over posterior draws.

    Inputs: each coordinate's location (draws, 1), known effects (draws, levels), spread
    (draws, 1) and new levels' standard-normal draws (draws, new levels); group codes per
    row; natural values (1, rows) of parameters fixed to a data column; log inputs, (1, rows)
    or (draws, rows) when ``per_draw``; the likelihood's columns (1, rows), and with
    ``measurement_error`` the known error's
    :meth:`~bayescale.likelihoods.MeasurementError.spread` (1, rows). Outputs ``log L``, the
    likelihood's parameters, a new observation drawn from the likelihood (``with_obs``) and
    the natural law parameters (``parameters``).
    """

    def __init__(self, model: Model, log_ref: Mapping[str, float], *, per_draw: bool,
                 with_obs: bool, parameters: bool = False, shifted: bool = False,
                 measurement_error: bool = False) -> None:
        from pymc.pytensorf import compile as compile_graph
        from pymc.pytensorf import find_rng_nodes

        self.model, self.with_obs = model, with_obs
        column = pt.TensorType("float64", shape=(None, 1))
        rows = pt.TensorType("float64", shape=(None if per_draw else 1, None))
        self.inputs: dict[str, Any] = {}
        loc, effects = {}, {}
        for key, coord in coordinates(model).items():
            if isinstance(coord.fixed, str):   # each row's value, from the data's column
                loc[key] = model.params[key].to_sampling(
                    self._input(f"fixed_{key}", pt.TensorType("float64", shape=(1, None))))
                continue
            if coord.fixed is not None:
                loc[key] = pt.as_tensor_variable(np.float64(coord.fixed))
                continue
            loc[key] = self._input(f"loc_{key}", column)
            for col in coord.columns:
                known = self._input(f"effect_{key}_{col}", pt.dmatrix)
                sd = self._input(f"sd_{key}_{col}", column)
                z = self._input(f"z_{key}_{col}", pt.dmatrix)
                # known levels, then new ones (sd z), then zero (the population location)
                effects[(key, col)] = pt.concatenate([known, sd * z, pt.zeros_like(sd)], axis=1)
        codes = {c: self._input(f"code_{c}", pt.lvector) for c in model.grouping_columns}
        log_x = {k: self._input(f"log_{k}", rows) for k in model.law.inputs}
        row = row_values(model, loc, effects, codes)
        log_mean, aux = curve_and_aux(model, row, log_x, log_ref)
        shift = self._input("shift", pt.TensorType("float64",
                                                   shape=(None if shifted else 1, None)))
        log_mean = shifted_log_mean(log_mean, shift, model.likelihood.link)
        outputs = [log_mean, *aux.values()]
        if with_obs:
            extra = {c: self._input(f"column_{c}", pt.TensorType("float64", shape=(1, None)))
                     for c in model.likelihood.columns}
            me = model.measurement_error
            if measurement_error and me is not None:   # a new run's error at its curve
                spread = self._input(f"column_{MEASUREMENT_ERROR}",
                                     pt.TensorType("float64", shape=(1, None)))
                extra[MEASUREMENT_ERROR] = me.observed_se(spread, pt.exp(log_mean),
                                                          model.likelihood)
            observed = model.likelihood.dist(log_mean, aux, extra)
            outputs.append(model.likelihood.target_from_observed(observed, extra))
        if parameters:
            natural = row_parameters(model, row, log_ref)
            outputs += [natural[k] for k in model.params]
        self.rngs = find_rng_nodes(outputs)
        self.fn = compile_graph(list(self.inputs.values()), outputs, on_unused_input="ignore",
                                random_seed=0)

    def _input(self, name: str, kind: Any) -> Any:
        self.inputs[name] = kind(name)
        return self.inputs[name]

    def __call__(self, values: Mapping[str, np.ndarray], rng: np.random.Generator | None = None
                 ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray | None,
                            dict[str, np.ndarray]]:
        """``(log L, likelihood parameters, new observation or None, natural parameters)``
        broadcast to (draws, rows)."""
        from pymc.pytensorf import reseed_rngs

        if self.rngs and rng is not None:
            reseed_rngs(self.rngs, rng.integers(2**31))
        log_mean, *rest = self.fn(*(values[k] for k in self.inputs))
        shape = np.shape(log_mean)
        aux = {k: np.broadcast_to(v, shape) for k, v in zip(self.model.likelihood.aux, rest,
                                                             strict=False)}
        rest = rest[len(aux):]
        obs = None
        if self.with_obs:
            obs, *rest = rest
        natural = {k: np.broadcast_to(v, shape) for k, v in zip(self.model.params, rest,
                                                                strict=False)}
        return np.asarray(log_mean), aux, obs, natural


def predictive_function(fit: Fit, *, per_draw: bool, with_obs: bool, parameters: bool = False,
                        shifted: bool = False, measurement_error: bool = False
                        ) -> PredictiveFunction:
    """The fit's :class:`PredictiveFunction` of this kind, compiled once and cached."""
    key = ("predictive", per_draw, with_obs, parameters, shifted, measurement_error)
    if key not in fit._cache:
        fit._cache[key] = PredictiveFunction(fit.model, fit.log_ref, per_draw=per_draw,
                                             with_obs=with_obs, parameters=parameters,
                                             shifted=shifted,
                                             measurement_error=measurement_error)
    return fit._cache[key]


def graph_values(fit: Fit, codes: Mapping[str, np.ndarray], n: int,
                 z_new: Mapping[tuple[str, str], np.ndarray],
                 constants: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Posterior inputs plus per-row codes in the graph's numbering: known levels ``0..K-1``,
    new levels ``-1, -2, ...`` -> ``K, K+1, ...``, ``POPULATION`` -> the zero column; and
    the rows' values of parameters fixed to a data column (``constants``, by parameter, as
    :func:`bayescale.build.fixed_constants` reads them)."""
    values = dict(_posterior_inputs(fit))
    missing = [p for p in fit.model.fixed_columns if p not in (constants or {})]
    if missing:
        raise ValueError(f"parameters {missing} take each run's value from data columns "
                         f"{[fit.model.fixed_columns[p] for p in missing]}, which these rows "
                         "do not give")
    for p, v in (constants or {}).items():
        values[f"fixed_{p}"] = np.broadcast_to(np.asarray(v, dtype=float), (n,))[None, :]
    for (key, col), z in z_new.items():
        values[f"z_{key}_{col}"] = z
    for col in fit.model.grouping_columns:
        k = len(fit.levels[col])
        n_new = max((z.shape[1] for (_, c), z in z_new.items() if c == col), default=0)
        code = np.broadcast_to(codes[col], (n,))
        values[f"code_{col}"] = np.where(code == POPULATION, k + n_new,
                                         np.where(code < 0, k - code - 1, code)).astype(np.int64)
    return values


def predict(fit: Fit, data: Any, *, ci_prob: float | Sequence[float] | None = None,
            new_groups: bool = False, seed: int | None = None,
            kind: Literal["summary", "draws"] = "summary",
            extrapolation: bool = True) -> pd.DataFrame | xr.DataTree:
    """Posterior predictive at new inputs.

    Returns, per row, the ``curve`` (the law, without noise) and ``obs`` (a new observation,
    with noise) as median and equal-tailed intervals ``{curve,obs}_eti{P}_{lb,ub}`` for each
    probability in ``ci_prob``. ``kind="draws"`` returns ArviZ's data model: a DataTree with
    groups ``predictions`` (``curve`` and ``obs``, dims ``chain, draw, row``) and
    ``predictions_constant_data`` (the rows' columns), which arviz-stats and arviz-plots take
    directly. Rows whose group the fit has not seen raise :class:`UnknownGroupError` unless
    ``new_groups=True``, which draws the group from the population distribution.

    Beyond the data, ``extrapolation=True`` (the default) adds the learned risk of the law
    being wrong (:mod:`bayescale.extrapolation`, learned on first use and kept with the fit).
    Summaries then carry ``extrapolation_distance`` (e-folds of scale beyond the largest run
    of the row's group), ``beyond_calibration`` (farther than any distance the calibration
    record or the fit's leave-future-out folds scored) and the spread of ``obs`` on the link
    scale (log, or logit for bounded metrics) split by source: ``sd_noise``,
    ``sd_parameters`` and ``sd_extrapolation``.
    """
    probs = ci_probs(ci_prob)
    if kind not in ("summary", "draws"):
        raise ValueError(f"kind must be 'summary' or 'draws', got {kind!r}")
    frame = canonical_frame(fit.model, data, need_target=False, need_groups=False)
    warn_far_outside(fit, frame)
    log_x = {k: np.log(frame[k].to_numpy(dtype=float))[None, :] for k in fit.model.law.inputs}
    rng = np.random.default_rng(seed)
    codes = group_codes(fit, frame, new_groups)
    distance, risk, slopes, index = discrepancy_slopes(fit, frame, rng, enabled=extrapolation)
    z_new = new_group_z(fit, codes, rng)
    if kind == "draws":
        shift = None if risk is None else distance[None, :] * slopes[:, index]
        draws = predictive_draws(fit, frame, log_x, new_groups=new_groups, rng=rng,
                                 codes=codes, z_new=z_new, shift=shift)
        return format_draws(fit, as_frame(data), draws.curve, draws.obs, probs, kind)
    # Summaries in chunks of rows, so memory stays bounded whatever the number of rows;
    # a new group's draws (and a group's discrepancy slope) are made once and shared.
    columns: dict[str, list[np.ndarray]] = {}
    trials = frame["trials"].to_numpy(dtype=float) if "trials" in frame.columns else None
    for rows in row_chunks(fit, len(frame)):
        shift = None if risk is None else distance[None, rows] * slopes[:, index[rows]]
        part = predictive_draws(fit, frame.iloc[rows], {k: v[:, rows] for k, v in log_x.items()},
                                new_groups=new_groups, rng=rng,
                                codes={c: v[rows] for c, v in codes.items()}, z_new=z_new,
                                shift=shift)
        for prefix, values in (("curve", part.curve), ("obs", part.obs)):
            for col, stat in interval_columns(values, probs, prefix).items():
                columns.setdefault(col, []).append(stat)
        for col, stat in sources_of_spread(fit, part, shift,
                                           None if trials is None else trials[rows]).items():
            columns.setdefault(col, []).append(stat)
    out = as_frame(data).copy()
    for col, parts in columns.items():
        out[col] = np.concatenate(parts)
    out["extrapolation_distance"] = distance
    covered = risk.covered_distance if risk is not None else np.inf
    out["beyond_calibration"] = distance > covered
    return out


def discrepancy_slopes(fit: Fit, frame: pd.DataFrame, rng: np.random.Generator, *,
                       enabled: bool = True, prior: Any = None
                       ) -> tuple[np.ndarray, Any, np.ndarray | None, np.ndarray | None]:
    """``(distance, risk, slopes, index)`` for the rows of ``frame``: the discrepancy of row
    ``i`` is ``distance[i] * slopes[:, index[i]]`` (:mod:`bayescale.extrapolation`); risk,
    slopes and index are None when no row lies beyond the data or ``enabled`` is false.
    ``prior``: learn the fit's risk with this prior instead of the record's."""
    distance = row_distances(fit, frame)
    if not enabled or not (distance > 0).any():
        return distance, None, None, None
    risk = fit.extrapolation_risk(prior=prior)
    # a child stream: the other draws of ``rng`` (a new group's) do not depend on whether
    # some row lies beyond the data
    slopes, index = risk.slopes(top_keys(fit.model, frame).to_numpy(), n_samples(fit),
                                rng.spawn(1)[0])
    return distance, risk, slopes, index


def row_distances(fit: Fit, frame: pd.DataFrame) -> np.ndarray:
    """E-folds of scale beyond the fit's largest run of each row's group
    (:func:`bayescale.extrapolation.distances`); zero when the fit has no data."""
    if fit.design is None:
        return np.zeros(len(frame))
    return distances(fit.model, fitted_runs(fit), frame)


def fitted_runs(fit: Fit) -> pd.DataFrame:
    """The fit's runs as a data frame (:func:`bayescale.extrapolation.training_frame`), made
    once and kept on the fit; the fit must have its data (``fit.design``)."""
    if "training_frame" not in fit._cache:
        fit._cache["training_frame"] = training_frame(fit.model, fit.design)
    return fit._cache["training_frame"]


def sources_of_spread(fit: Fit, draws: Draws, shift: np.ndarray | None,
                      trials: np.ndarray | None) -> dict[str, np.ndarray]:
    """Standard deviations on the link scale of a new observation's three sources:
    parameters (the curve without the discrepancy), extrapolation (the discrepancy) and
    noise (``IQR / 1.349`` of each observation draw minus its curve draw)."""
    model = fit.model
    with np.errstate(invalid="ignore"):
        curve = link_values(model, draws.curve, trials)
        noise = np.sqrt(robust_variance(link_values(model, draws.obs, trials) - curve))
        if shift is not None:
            curve = curve - shift
        var_curve = np.var(curve, axis=0)
    extra = np.zeros(curve.shape[1]) if shift is None else np.std(shift, axis=0)
    return {"sd_noise": noise, "sd_parameters": np.sqrt(var_curve), "sd_extrapolation": extra}


def draws_matrix(values: xr.DataArray) -> np.ndarray:
    """Prediction draws as a (samples, rows) array, chain and draw stacked (chain first)."""
    return values.transpose("chain", "draw", ...).values.reshape(
        values.sizes["chain"] * values.sizes["draw"], -1)


def predictions_tree(fit: Fit, frame: pd.DataFrame, curve: np.ndarray, obs: np.ndarray
                     ) -> xr.DataTree:
    """``predictions`` (dims chain, draw, row) and ``predictions_constant_data`` groups."""
    sizes = (fit.posterior.sizes["chain"], fit.posterior.sizes["draw"])
    coords = {"chain": fit.posterior["chain"].values, "draw": fit.posterior["draw"].values,
              "row": np.arange(len(frame))}
    dims = ("chain", "draw", "row")
    predictions = xr.Dataset({"curve": (dims, curve.reshape(*sizes, -1)),
                              "obs": (dims, obs.reshape(*sizes, -1))}, coords=coords)
    constant = xr.Dataset({str(c): ("row", frame[c].to_numpy()) for c in frame.columns},
                          coords={"row": coords["row"]})
    return xr.DataTree.from_dict({"predictions": predictions,
                                  "predictions_constant_data": constant})


PREDICT_CHUNK_BYTES = 256 * 2**20   # working memory of one chunk of rows in predict


def row_chunks(fit: Fit, n_rows: int) -> list[slice]:
    """Slices of rows whose (samples x rows) working arrays fit in ``PREDICT_CHUNK_BYTES``:
    about two arrays per parameter and input, and a few for the curve and the draws."""
    arrays = 2 * (len(fit.model.params) + len(fit.model.law.inputs)) + 6
    size = max(1, int(PREDICT_CHUNK_BYTES // (8 * n_samples(fit) * arrays)))
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
                     z_new: Mapping[tuple[str, str], np.ndarray] | None = None,
                     shift: np.ndarray | None = None) -> Draws:
    """Draws (samples, rows) of the curve and of a new observation, given log inputs of shape
    (1, rows) or (samples, rows) (per-draw inputs, e.g. a loss predicted by another fit).
    The observation is NaN where the likelihood needs a column (e.g. ``trials``) that
    ``frame`` lacks; it includes a known measurement error where ``frame`` has its column(s)
    and leaves it out where it lacks them. ``shift``: the extrapolation discrepancy on the
    link scale, (1 or samples, rows) (:mod:`bayescale.extrapolation`); none by default."""
    if codes is None:
        codes = group_codes(fit, frame, new_groups)
    if z_new is None:
        z_new = new_group_z(fit, codes, rng)
    per_draw = any(np.shape(v)[0] != 1 for v in log_x.values())
    columns = fit.model.likelihood.columns
    with_obs = all(c in frame.columns for c in columns)
    shifted = shift is not None and np.shape(shift)[0] != 1
    me = _measurement_error(fit, frame) if with_obs else None
    fn = predictive_function(fit, per_draw=per_draw, with_obs=with_obs, shifted=shifted,
                             measurement_error=me is not None)
    values = graph_values(fit, codes, len(frame), z_new, fixed_constants(fit.model, frame))
    values |= {f"log_{k}": np.asarray(v, dtype=float) for k, v in log_x.items()}
    values["shift"] = np.zeros((1, len(frame))) if shift is None else np.asarray(shift, float)
    if with_obs:
        values |= {f"column_{c}": frame[c].to_numpy(dtype=float)[None, :] for c in columns}
    if me is not None:
        values[f"column_{MEASUREMENT_ERROR}"] = me[None, :]
    with np.errstate(over="ignore", under="ignore"):
        log_curve, aux, obs, _ = fn(values, rng)
        curve = np.exp(log_curve)
    if obs is None:
        obs = np.full(log_curve.shape, np.nan)
    return Draws(curve, np.asarray(obs, dtype=float), log_curve, aux)


def _measurement_error(fit: Fit, frame: pd.DataFrame) -> np.ndarray | None:
    """The known measurement error's :meth:`~bayescale.likelihoods.MeasurementError.spread`
    per row of ``frame``, or None when the model has none or ``frame`` lacks its columns."""
    me = fit.model.measurement_error
    if me is None or not all(c in frame.columns for c in me.columns):
        return None
    return me.spread(frame, fit.model.likelihood)


def log_predictive_density(fit: Fit, draws: Draws, frame: pd.DataFrame, y: np.ndarray
                           ) -> np.ndarray:
    """``log mean_s p(y_i | theta_s)`` per row: the likelihood's own log density (the one the
    fit observes) at the target ``y``, given :func:`predictive_draws` of those rows; with a
    known measurement error where ``frame`` has its column(s), as in the fit."""
    lik = fit.model.likelihood
    spread = _measurement_error(fit, frame)
    names = (*lik.columns, *((MEASUREMENT_ERROR,) if spread is not None else ()))
    key = ("log_density", spread is not None)
    if key not in fit._cache:
        log_mean = pt.dmatrix("log_mean")
        aux = {k: pt.dmatrix(f"aux_{k}") for k in lik.aux}
        extra = {c: pt.TensorType("float64", shape=(1, None))(c) for c in names}
        value = pt.TensorType("int64" if lik.observed_as == "successes" else "float64",
                              shape=(1, None))("value")
        logp = lik.logp(value, log_mean, aux, extra)
        fit._cache[key] = pytensor.function(
            [log_mean, *aux.values(), *extra.values(), value], logp, on_unused_input="ignore")
    y = np.asarray(y, dtype=float)
    extra = {c: frame[c].to_numpy(dtype=float)[None, :] for c in lik.columns}
    if spread is not None:   # the observed value is known: se / y, as the fit has it
        extra[MEASUREMENT_ERROR] = fit.model.measurement_error.observed_se(spread, y, lik)[None, :]
    value = lik.observed(y, {c: v[0] for c, v in extra.items()})
    shape = draws.log_curve.shape
    dens = fit._cache[key](draws.log_curve, *(np.broadcast_to(draws.aux[k], shape)
                                              for k in lik.aux),
                           *extra.values(), np.asarray(value)[None, :])
    dens = np.broadcast_to(dens, shape)
    top = dens.max(axis=0)
    with np.errstate(invalid="ignore"):
        return top + np.log(np.mean(np.exp(dens - top), axis=0))


def curve_draws(fit: Fit, data: Any, group: Mapping[str, Any] | None = None, *,
                seed: int | None = None) -> np.ndarray:
    """Draws (samples, rows) of the law's curve at the rows of ``data`` for a known group
    ``{column: level}``, or at the population location (every group effect zero: "a typical
    group") when ``group`` is None."""
    frame = canonical_frame(fit.model, data, need_target=False, need_groups=False)
    if group:
        codes = group_codes(fit, frame.assign(**group), new_groups=False)
    else:
        codes = {c: np.full(len(frame), POPULATION) for c in fit.model.grouping_columns}
    log_x = {k: np.log(frame[k].to_numpy(dtype=float))[None, :] for k in fit.model.law.inputs}
    return predictive_draws(fit, frame, log_x, new_groups=False, codes=codes,
                            rng=np.random.default_rng(seed)).curve


def parameter_draws(fit: Fit, codes: Mapping[str, np.ndarray], rng: np.random.Generator
                    ) -> dict[str, np.ndarray]:
    """Natural value of every law and likelihood parameter, (samples, rows), for rows given
    by their group codes (known, new: ``-1, -2, ...``, or ``POPULATION``)."""
    n = len(next(iter(codes.values()))) if codes else 1
    fn = predictive_function(fit, per_draw=False, with_obs=False, parameters=True)
    # a parameter fixed to a data column has no value without rows: NaN for it alone
    values = graph_values(fit, codes, n, new_group_z(fit, codes, rng),
                          {p: np.full(n, np.nan) for p in fit.model.fixed_columns})
    values |= {f"log_{k}": np.zeros((1, n)) for k in fit.model.law.inputs}
    values["shift"] = np.zeros((1, n))
    return fn(values)[3]


def format_draws(fit: Fit, frame: pd.DataFrame, curve: np.ndarray, obs: np.ndarray,
                 probs: Sequence[float], kind: str) -> pd.DataFrame | xr.DataTree:
    """Draws (samples, rows) as a DataTree (``kind="draws"``, :func:`predictions_tree`) or a
    frame of medians and intervals."""
    if kind == "draws":
        return predictions_tree(fit, frame, curve, obs)
    if kind != "summary":
        raise ValueError(f"kind must be 'summary' or 'draws', got {kind!r}")
    out = frame.copy()
    for prefix, draws in (("curve", curve), ("obs", obs)):
        for col, values in interval_columns(draws, probs, prefix).items():
            out[col] = values
    return out
