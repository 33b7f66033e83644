"""Running SBC: fix the priors, simulate data sets from the prior predictive, fit each one
(:func:`run_simulation`, one task of an executor) and rank the true values (:func:`sbc`).
The method is described in :mod:`bayescale.sbc`."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from importlib.util import find_spec
from typing import Any

import numpy as np
import pandas as pd

from .._validate import DataError
from ..batch import run_tasks
from ..build import build_model, canonical_frame, check_target, encode
from ..model import Model
from ..priors import DataScale
from .result import SBCResult

__all__ = ["sbc", "with_fixed_priors", "run_simulation"]

# Settings of the fits (any of fit()'s sampler options; others are rejected).
DEFAULT_FIT_KWARGS: dict[str, Any] = {"chains": 2, "tune": 500, "target_accept": 0.9,
                                      "sampler": "auto", "refits": 2}
_FIT_KEYS = frozenset(DEFAULT_FIT_KWARGS)
_PRESETS = ("sampling", "natural", "all")


# ---------------------------------------------------------------------------- priors
def with_fixed_priors(model: Model, design_data: Any) -> Model:
    """A copy of ``model`` whose priors are all explicit, data-scaled ones from ``design_data``.

    Parameters
    ----------
    model : Model
        The model spec; its own explicit priors are kept.
    design_data : DataFrame
        Data with the model's inputs, group columns and target; the target only sets the
        :class:`~bayescale.priors.DataScale` of the default priors of ``E`` and the term
        coefficients (``encode`` computes it as the min, median and max of the target).

    Returns
    -------
    Model
        The same model with ``priors`` set for every free parameter and group spread, so that
        its priors no longer depend on the data it is fitted to.
    """
    scale = encode(model, design_data).scale
    return _fixed(model, scale)


def _fixed(model: Model, scale: DataScale) -> Model:
    names = model.prior_names()
    spec = model.to_dict()
    spec["priors"] = {n: model.prior_for(n, scale).to_dict() for n in names}
    return Model.from_dict(spec, law=model.law)


# ---------------------------------------------------------------------------- the worker
def _sample(spec: Mapping[str, Any], design: pd.DataFrame, seed: int,
            settings: Mapping[str, Any]) -> tuple[Any, Any]:
    """Posterior draws and diagnostics of one simulated data set (``bayescale.fit``; with
    nutpie the model compiled for the first simulation is reused by every later one)."""
    from ..fit import fit

    result = fit(Model.from_dict(spec), design, draws=settings["draws"], seed=seed,
                 progressbar=False, warn=False, **settings["fit_kwargs"])
    return result.idata, result.diagnostics


def _elements(name: str, value: np.ndarray, coords: Mapping[str, Sequence[Any]],
              dims: Sequence[str]) -> list[tuple[str, tuple[int, ...]]]:
    """``(label, index)`` of every element of a variable: ``log_E`` or ``E_by_family[fam0]``."""
    if value.ndim == 0:
        return [(name, ())]
    out = []
    for index in np.ndindex(value.shape):
        labels = [str(coords[d][i]) if d in coords else str(i) for d, i in zip(dims, index,
                                                                                strict=True)]
        out.append((f"{name}[{','.join(labels)}]", index))
    return out


def run_simulation(spec: Mapping[str, Any], design: pd.DataFrame, target: np.ndarray,
                   truths: Mapping[str, np.ndarray], seed: int,
                   settings: Mapping[str, Any]) -> dict[str, Any]:
    """Fit one simulated data set and rank the true values (one task of :func:`sbc`).

    Module-level with picklable arguments, so that any ``concurrent.futures.Executor`` can run
    it in another process or on another machine.

    Parameters
    ----------
    spec : dict
        ``Model.to_dict()`` of the fitted model (priors fixed; the law is rebuilt by name).
    design : DataFrame
        The design in the model's column names (inputs, groups, likelihood columns).
    target : ndarray
        The simulated target, one value per row of ``design``.
    truths : dict
        ``{variable: value}`` of the prior draw that generated ``target``.
    seed : int
        Seed of the fit and of the random tie-breaking of ranks.
    settings : dict
        ``draws``, ``thin`` and ``fit_kwargs`` (with the resolved sampler).

    Returns
    -------
    dict
        ``ranks`` (``{label: rank}``), ``n_draws`` (``L``), the sampler's ``divergences``,
        ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail``, ``seconds``, and ``error`` (``""``
        or the message of an exception raised by the fit).
    """
    out: dict[str, Any] = {"ranks": {}, "n_draws": 0, "divergences": np.nan,
                           "max_rhat": np.nan, "min_ess_bulk": np.nan, "min_ess_tail": np.nan,
                           "seconds": np.nan, "error": ""}
    data = design.copy()
    data[Model.from_dict(spec).target] = np.asarray(target, dtype=float)
    start = time.perf_counter()
    try:
        idata, diag = _sample(spec, data, seed, settings)
    except Exception as err:  # reported per simulation (diagnostics["error"]), never hidden
        out["error"] = f"{type(err).__name__}: {err}"
        out["seconds"] = time.perf_counter() - start
        return out
    out.update(divergences=diag.divergences, max_rhat=diag.max_rhat,
               min_ess_bulk=diag.min_ess_bulk, min_ess_tail=diag.min_ess_tail,
               seconds=time.perf_counter() - start)
    post = idata["posterior"]
    rng = np.random.default_rng(seed)
    thin = int(settings["thin"])
    for name, truth in truths.items():
        draws = np.asarray(post[name].values)[:, ::thin]       # (chain, draw, *shape)
        draws = draws.reshape(-1, *draws.shape[2:])
        truth = np.asarray(truth, dtype=float)
        dims = [d for d in post[name].dims if d not in ("chain", "draw")]
        coords = {d: list(post[d].values) for d in dims}
        for label, index in _elements(name, truth, coords, dims):
            below = int(np.sum(draws[(slice(None), *index)] < truth[index]))
            ties = int(np.sum(draws[(slice(None), *index)] == truth[index]))
            out["ranks"][label] = below + int(rng.integers(0, ties + 1))
        out["n_draws"] = int(draws.shape[0])
    return out


# ---------------------------------------------------------------------------- simulation
def _usable(model: Model, y: np.ndarray) -> bool:
    """Whether a simulated data set is data the likelihood can take: the check of the target
    that fitting applies (:func:`bayescale.build.check_target`; NaN, inf and values outside
    the likelihood's support are not)."""
    try:
        check_target(model, pd.DataFrame({model.target: y}))
    except DataError:
        return False
    return True


def _variables(pm_model: Any, model: Model, var_names: str | Sequence[str]) -> list[str]:
    """Posterior variables whose ranks are computed."""
    dims = pm_model.named_vars_to_dims
    parameters = model.sampling_parameters()
    if isinstance(var_names, str):
        if var_names not in _PRESETS:
            raise ValueError(f"var_names must be one of {_PRESETS} or a list of variables, got "
                             f"{var_names!r}")
        names = list(parameters)
        deterministic = [v.name for v in pm_model.deterministics if v.name not in names]
        if var_names == "natural":
            names += [n for n in deterministic if not dims.get(n)]
        elif var_names == "all":
            names += [v.name for v in pm_model.free_RVs if v.name not in names]
            names += deterministic
        return names
    names = list(var_names)
    unknown = [n for n in names if n not in pm_model.named_vars or n in
               [v.name for v in pm_model.observed_RVs]]
    if unknown:
        raise ValueError(f"unknown variable(s) {unknown}; the model has "
                         f"{sorted([v.name for v in pm_model.free_RVs + pm_model.deterministics])}")
    return names


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _resolve_sampler(sampler: str) -> str:
    """``auto``: nutpie when installed (one compile for all simulations), else fit's choice."""
    from ..fit import choose_sampler

    if sampler == "auto" and find_spec("nutpie") is not None:
        return "nutpie"
    return choose_sampler(sampler)


def sbc(model: Model, design_data: Any, *, simulations: int = 100, draws: int = 500,
        thin: int = 5, seed: int | None = None, executor: Executor | None = None,
        fit_kwargs: Mapping[str, Any] | None = None, fit_model: Model | None = None,
        var_names: str | Sequence[str] = "sampling", max_rejected: int | None = None,
        progressbar: bool = False) -> SBCResult:
    """Simulation-based calibration of ``model`` at the design of ``design_data``.

    Parameters
    ----------
    model : Model
        The model to check. Its data-scaled default priors are fixed once from the target of
        ``design_data`` (:func:`with_fixed_priors`) and used for every simulation and fit.
    design_data : DataFrame
        The runs to simulate: their inputs, group columns and likelihood columns are kept,
        the target is replaced by prior-predictive draws (its values only set the priors'
        scale).
    simulations : int
        Number of simulated data sets (each fitted once).
    draws : int
        Posterior draws per chain after tuning.
    thin : int
        Keep every ``thin``-th draw of each chain: ranks are computed among
        ``L = chains * ceil(draws / thin)`` draws (500 draws, 2 chains, thin 5: L = 200).
    seed : int, optional
        Seed of the prior draws and of every fit; results do not depend on ``executor``.
    executor : concurrent.futures.Executor, optional
        Runs one simulation per task (:func:`run_simulation`); serial when None.
    fit_kwargs : dict, optional
        ``chains`` (default 2), ``tune`` (500), ``target_accept`` (0.9), ``refits`` (2:
        the automatic refits of :func:`bayescale.fit.fit` are part of the procedure checked)
        and ``sampler``
        (``"auto"``: nutpie compiled once per worker when installed, else what
        :func:`bayescale.fit.fit` picks; ``"numpyro"`` or ``"pymc"`` call ``fit`` per
        simulation).
    fit_model : Model, optional
        A different model to fit to the simulated data (e.g. a deliberately wrong prior, as a
        negative control); its default priors are fixed from the same design. Ranks are
        computed for the variables both models share.
    var_names : {"sampling", "natural", "all"} or list of str
        ``"sampling"``: the scalar free variables on the sampling scale (``log_E``,
        ``log_A_ref``, ``log_alpha``, ``log_sigma``, ``log_nu``, group spreads such as
        ``log_E_sd_family``); ``"natural"``: also the natural-scale scalars (``E``, ``A``,
        ``alpha`` ...); ``"all"``: also every group-level element (``E_by_family[fam0]``, ...).
        A list names the variables (vector variables are ranked element by element).
    max_rejected : int, optional
        Most prior draws with impossible data to redraw before giving up (default
        ``10 * simulations + 100``): a prior that mostly generates impossible data should be
        changed, not filtered.
    progressbar : bool
        Show a progress bar over simulations.

    Returns
    -------
    SBCResult
        Ranks, per-simulation diagnostics, the uniformity tests (``.summary()``) and the rank
        histograms (``.histogram()``).
    """
    import pymc as pm

    if simulations < 1 or draws < 1 or thin < 1:
        raise ValueError("simulations, draws and thin must be positive")
    kw = {**DEFAULT_FIT_KWARGS, **(fit_kwargs or {})}
    unknown = set(kw) - _FIT_KEYS
    if unknown:
        raise ValueError(f"unknown fit_kwargs {sorted(unknown)}; sbc passes {sorted(_FIT_KEYS)}"
                         " (draws, seed and progress are set by sbc itself)")
    kw["sampler"] = _resolve_sampler(kw["sampler"])

    # The design, in the models' own column names; priors fixed from its DataScale.
    fit_model = model if fit_model is None else fit_model
    frame = canonical_frame(model, design_data)
    if fit_model is not model:
        extra_cols = canonical_frame(fit_model, design_data)
        for col in extra_cols.columns.difference(frame.columns):
            frame[col] = extra_cols[col]
    scale = encode(model, frame).scale
    sim_model = _fixed(model, scale)
    fitted = _fixed(fit_model, scale)
    sim_spec, fit_spec = sim_model.to_dict(), fitted.to_dict()
    sim_spec["columns"], fit_spec["columns"] = {}, {}
    Model.from_dict(fit_spec)  # workers rebuild the law by name: fails here if unregistered
    if fit_spec["target"] != sim_spec["target"]:
        raise ValueError("fit_model must have the same target as model")
    keep = [c for c in frame.columns if c != model.target]

    sim_design = encode(sim_model, frame)
    sim_pm = build_model(sim_model, sim_design)
    fit_pm = build_model(fitted, encode(fitted, frame))
    names = [n for n in _variables(fit_pm, fitted, var_names) if n in sim_pm.named_vars]
    if not names:
        raise ValueError("the simulated and the fitted model share no variable to rank")

    # Prior predictive draws; impossible data sets are redrawn and counted.
    ss = np.random.SeedSequence(seed)
    prior_ss, fit_ss = ss.spawn(2)
    prior_rng = np.random.default_rng(prior_ss)
    fit_seeds = [int(s) for s in fit_ss.generate_state(simulations)]
    limit = 10 * simulations + 100 if max_rejected is None else int(max_rejected)
    obs_name = sim_model.likelihood.observed_name
    targets: list[np.ndarray] = []
    truths: list[dict[str, np.ndarray]] = []
    rejected = 0
    while len(targets) < simulations:
        batch = max(2 * (simulations - len(targets)), 8)
        with warnings.catch_warnings(), _quiet("pymc"):
            warnings.simplefilter("ignore")
            prior = pm.sample_prior_predictive(draws=batch, model=sim_pm,
                                               random_seed=int(prior_rng.integers(2**31)))
        observed = prior["prior_predictive"][obs_name].values[0]        # (batch, run)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            y = sim_model.likelihood.target_from_observed(observed, sim_design.extra)
        params = prior["prior"]
        for i in range(batch):
            if len(targets) == simulations:
                break
            if not _usable(sim_model, y[i]):
                rejected += 1
                if rejected > limit:
                    raise RuntimeError(
                        f"{rejected} prior draws gave data the likelihood cannot take (NaN, "
                        f"inf or outside its support) before {simulations} usable ones: the "
                        "priors put too much mass on absurd values; narrow them")
                continue
            targets.append(y[i])
            truths.append({n: np.asarray(params[n].values[0, i]) for n in names})

    settings = {"draws": int(draws), "thin": int(thin), "fit_kwargs": kw}
    args = [(fit_spec, frame[keep], targets[i], truths[i], fit_seeds[i], settings)
            for i in range(simulations)]
    results = run_tasks(run_simulation, args, executor=executor, progressbar=progressbar,
                        description="SBC")

    n_draws = max((r["n_draws"] for r in results), default=0)
    if any(r["n_draws"] not in (0, n_draws) for r in results):
        raise RuntimeError("simulations returned different numbers of posterior draws")
    ranks = pd.DataFrame([r["ranks"] for r in results]).astype("Int64")
    ranks.index.name = "simulation"
    diag = pd.DataFrame([{k: r[k] for k in ("divergences", "max_rhat", "min_ess_bulk",
                                             "min_ess_tail", "seconds", "error")}
                         for r in results])
    diag.insert(0, "seed", fit_seeds)
    diag["y_min"] = [float(t.min()) for t in targets]
    diag["y_max"] = [float(t.max()) for t in targets]
    diag.index.name = "simulation"
    return SBCResult(ranks=ranks, diagnostics=diag, n_draws=n_draws, rejected=rejected,
                     model=sim_spec, fit_model=fit_spec,
                     settings={"draws": int(draws), "thin": int(thin),
                               "fit_kwargs": dict(kw), "seed_entropy": str(ss.entropy),
                               "scale": scale.to_dict(), "runs": len(frame)})
