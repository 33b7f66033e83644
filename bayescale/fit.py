"""Fitting by NUTS, the :class:`Fit` result, sampling diagnostics and saving (loading:
:mod:`bayescale.loading`)."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from . import __version__
from .build import (
    Centring,
    Design,
    build_model,
    centring_from_draws,
    default_centring,
    encode,
    model_data,
    structure_key,
)
from .config import configure_once
from .extrapolation import learn_risk, scale_label
from .graph import law_fingerprint
from .hierarchy import by_name
from .intervals import ci_probs, median_interval
from .io import ATTR, write_tree
from .numpyro_nuts import (
    MAX_TREE_DEPTH,
    ChainEnd,
    WarmStart,
    continue_chains,
    population_value_names,
    sample_numpyro,
    warm_start_of,
)
from .priors import DataScale

__all__ = ["fit", "Fit", "Diagnostics", "SamplingWarning", "choose_sampler", "diagnostics_of",
           "chain_method_for"]

if TYPE_CHECKING:
    from .model import Model

Sampler = Literal["auto", "numpyro", "nutpie", "pymc", "blackjax"]
RHAT_MAX = 1.01          # Vehtari et al. (2021)
ESS_PER_CHAIN_MIN = 100  # i.e. bulk/tail ESS >= 400 for 4 chains (Vehtari et al. 2021)
#: a hierarchical fit of at least this many runs whose default leaves some group effects
#: non-centred first runs a short pilot to choose the centring (see :func:`fit`)
PILOT_MIN_RUNS = 1000
PILOT_TUNE, PILOT_DRAWS = 200, 100   # per chain
#: the pilot's draws take at most 2**6 - 1 = 63 leapfrog steps. Its non-centred start takes
#: deep trees: 200-family crossed fit, 180 steps per draw and 426 s at NUTS' usual depth of
#: 10, 63 steps and 93 s at 6; the same centring chosen at depths 5, 6 and 10. Depth 5 once
#: chose wrongly (porian_rsld seed 1: 1 of 3 sets centred, its chains not yet in the funnel's
#: neck); at depth 6 the spread ratios matched depth 10's within 0.03 on porian_rsld (seeds
#: 1, 4, 5) and the centring chosen matched on porian_rsld (seeds 1-5) and RNSL image
#: classification (seeds 1-3)
PILOT_MAX_TREE_DEPTH = 6
#: above this many runs, chains run vectorised on one CPU device, not in parallel over several:
#: crossed fit of 24,000 runs (1,000 families x 3 models x 8 tasks), 4 chains over 4 CPU
#: devices: the process grew from 1.0 to 8.5 GB in its first 60 s of NUTS (killed at 22 GB
#: before); vectorised it held 1.0 GB. At 4,800 runs in parallel it peaked at 1.1 GB over a
#: 314 s fit. (With glibc's mmap threshold fixed at 64 KB the growth fell from about 130 to
#: 5 MB/s, so most of it is allocator fragmentation between the devices' threads once an
#: array of the runs, 8 bytes each, passes the default 128 KB.)
PARALLEL_MAX_RUNS = 10_000


class SamplingWarning(UserWarning):
    """NUTS reported a problem (divergences, R-hat, low ESS): the posterior may be unreliable."""


@dataclass(frozen=True)
class Diagnostics:
    divergences: int
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    chains: int
    draws: int
    sampler: str
    sampling_seconds: float
    target_accept: float = float("nan")
    refits: int = 0                 # automatic refits after sampling problems (see fit())
    history: tuple[str, ...] = ()   # one line per discarded attempt: what went wrong
    slowest: tuple[str, ...] = ()   # model variables with R-hat > RHAT_MAX, worst first (<= 3)
    max_depth_share: float = 0.0    # share of draws whose trajectory hit NUTS's length limit

    def problems(self) -> list[str]:
        out = []
        if self.divergences:
            out.append(f"{self.divergences} divergent transitions (the posterior may be biased; "
                       "raise target_accept or reparameterise)")
        if not self.max_rhat <= RHAT_MAX:
            worst = (f"; slowest: {', '.join(self.slowest)}: weakly identified by these data? "
                     "fix it, give it an informative prior or drop its group effects"
                     if self.slowest else "")
            out.append(f"max R-hat {self.max_rhat:.3f} > {RHAT_MAX} (chains disagree{worst})")
        ess_min = ESS_PER_CHAIN_MIN * self.chains
        if not min(self.min_ess_bulk, self.min_ess_tail) >= ess_min:
            out.append(f"low effective sample size (bulk {self.min_ess_bulk:.0f}, tail "
                       f"{self.min_ess_tail:.0f} < {ess_min}); draw more")
        if out and self.max_depth_share > 0.5:   # why the chains mix slowly, not a problem alone
            out.append(f"NUTS hit its trajectory-length limit on {self.max_depth_share:.0%} of "
                       "draws: the posterior has directions at very different scales (a "
                       "combination of parameters the data pin tightly, others they leave open)")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems()

    def warn(self, source: str, stacklevel: int = 3) -> None:
        """Each problem as a :class:`SamplingWarning` ``"{source}: {problem}"``, pointing
        at the caller of the function that calls this (``stacklevel``)."""
        for problem in self.problems():
            warnings.warn(f"{source}: {problem}", SamplingWarning, stacklevel=stacklevel)

    def record(self) -> dict[str, Any]:
        """The headline numbers as plain values (for tables and for results a worker sends
        back): divergences, max R-hat, min bulk ESS, refits, sampler and the problems."""
        return {"divergences": int(self.divergences), "max_rhat": float(self.max_rhat),
                "min_ess_bulk": float(self.min_ess_bulk), "refits": int(self.refits),
                "sampler": self.sampler, "problems": "; ".join(self.problems())}


def choose_sampler(sampler: Sampler = "auto") -> str:
    """``auto``: numpyro (JAX, dense mass matrix) if installed, else nutpie, else PyMC."""
    if sampler != "auto":
        needs = {"numpyro": "numpyro", "nutpie": "nutpie", "blackjax": "blackjax"}.get(sampler)
        if needs and find_spec(needs) is None:
            raise ImportError(f"sampler {sampler!r} needs the {needs} package: "
                              f"pip install 'bayescale[fast]' or pip install {needs}")
        if sampler not in ("numpyro", "nutpie", "pymc", "blackjax"):
            raise ValueError(f"unknown sampler {sampler!r}; expected auto, numpyro, nutpie, "
                             "pymc or blackjax")
        return sampler
    for name in ("numpyro", "nutpie"):
        if find_spec(name) is not None:
            return name
    return "pymc"


def check_sampling_args(*, draws: Any, tune: Any, chains: Any, target_accept: Any,
                        seed: Any = None) -> None:
    """Refuse sampler settings NUTS cannot use, naming the argument and what is expected."""
    for name, value, least in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name} must be a whole number >= {least}, got {value!r}")
    if isinstance(target_accept, bool) or not isinstance(target_accept, (int, float)) \
            or not 0 < target_accept < 1:
        raise ValueError(f"target_accept must be a number in (0, 1) (the mean acceptance "
                         f"probability NUTS adapts its step size to, e.g. 0.9), got "
                         f"{target_accept!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or not 0 <= seed < 2**63):
        raise ValueError(f"seed must be None or a whole number in [0, 2**63), got {seed!r}")


def chain_method_for(chains: int, runs: int = 0) -> str:
    """Chains in parallel over JAX devices when there are enough, else vectorised on one; on
    CPU devices, vectorised also for fits of more than :data:`PARALLEL_MAX_RUNS` runs."""
    import jax

    configure_once()
    if runs > PARALLEL_MAX_RUNS and jax.default_backend() == "cpu":
        return "vectorized"
    return "parallel" if jax.local_device_count() >= chains else "vectorized"


def _sample_kwargs(sampler: str, chains: int, target_accept: float, runs: int = 0,
                   max_tree_depth: int = MAX_TREE_DEPTH) -> dict[str, Any]:
    """Settings of the backends run through ``pm.sample`` (numpyro has its own driver,
    :func:`bayescale.numpyro_nuts.sample_numpyro`): mass matrices that learn correlations;
    at most ``2**max_tree_depth - 1`` leapfrog steps per draw (not blackjax's)."""
    if sampler == "blackjax":
        return {"nuts_sampler": "blackjax",
                "nuts": {"chain_method": chain_method_for(chains, runs),
                         "target_accept": target_accept}}
    if sampler == "nutpie":
        return {"nuts_sampler": "nutpie",
                "nuts": {"adaptation": "low_rank", "target_accept": target_accept,
                         "maxdepth": max_tree_depth}}
    return {"nuts_sampler": "pymc", "init": "jitter+adapt_full",
            "nuts": {"target_accept": target_accept, "max_treedepth": max_tree_depth}}


# Compiled nutpie models by structure_key: a refit of the same structure (another data set,
# fold, simulation or seed) swaps the data in (``with_data``) instead of compiling again.
_COMPILED: OrderedDict[str, Any] = OrderedDict()
_COMPILED_MAX = 8
_COMPILE_LOCK = threading.Lock()
compile_stats = {"compiled": 0, "reused": 0}


def compiled_nutpie(model: Model, design: Design, pm_model: pm.Model | None = None,
                    centring: Centring | None = None) -> Any:
    """nutpie's compiled model for ``design``'s structure (cached), holding ``design``'s data."""
    import nutpie

    if pm_model is None:
        pm_model = build_model(model, design, centring)
    key = structure_key(model, design, centring)
    with _COMPILE_LOCK:
        if key in _COMPILED:
            _COMPILED.move_to_end(key)
            compile_stats["reused"] += 1
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _COMPILED[key] = nutpie.compile_pymc_model(pm_model, backend="numba")
            compile_stats["compiled"] += 1
            while len(_COMPILED) > _COMPILED_MAX:
                _COMPILED.popitem(last=False)
        compiled = _COMPILED[key]
    compiled = compiled.with_data(**model_data(model, design))
    # start where this model's priors start, not where the compiled one's did
    return dataclasses.replace(compiled, initial_point_func=_initial_point_func(pm_model))


def _initial_point_func(pm_model: pm.Model) -> Any:
    """nutpie's flat initial-point function for ``pm_model`` (support point, jittered)."""
    from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper, _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    fn = _wrap_with_lock(make_initial_point_fn(  # chains call it from several threads
        model=pm_model, default_strategy="support_point", jitter_rvs=set(pm_model.free_RVs),
        return_transformed=True))
    names = [pm_model.rvs_to_values[v].name for v in pm_model.free_RVs]
    point = pm_model.initial_point()
    return _rv_dict_to_flat_array_wrapper(fn, names=names,
                                          shapes=[np.shape(point[n]) for n in names])


def _sample_nutpie(model: Model, design: Design, pm_model: pm.Model, centring: Centring, *,
                   draws: int, tune: int, chains: int, seed: int | None, target_accept: float,
                   progressbar: bool, max_tree_depth: int = MAX_TREE_DEPTH) -> xr.DataTree:
    """nutpie on the cached compiled model; coordinates and data groups of this design."""
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata

    compiled = compiled_nutpie(model, design, pm_model, centring)
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
    nuts = _sample_kwargs("nutpie", chains, target_accept,
                          max_tree_depth=max_tree_depth)["nuts"]
    start = time.perf_counter()
    idata = nutpie.sample(compiled, draws=draws, tune=max(tune, 1), chains=chains,
                          cores=chains, seed=int(seed), progress_bar=progressbar, **nuts)
    patch_nutpie_idata(idata, pm_model, sampling_time=time.perf_counter() - start)
    post = idata["posterior"]
    labels = {dim: list(lv) for dim, lv in pm_model.coords.items()
              if dim in post.dims and lv is not None}
    if labels:  # the compiled model keeps the group labels it was compiled with
        idata["posterior"] = post.to_dataset().assign_coords(labels)
    return idata


def diagnostics_of(idata: xr.DataTree, sampler: str, seconds: float,
                 named: Collection[str] = ()) -> Diagnostics:
    """Divergences, max R-hat, min ESS over the posterior; ``named``: the variables that
    :attr:`Diagnostics.slowest` may list (the model's, not the sampler's coordinates)."""
    from arviz_stats import ess, rhat

    post = idata["posterior"]
    rhat_values = rhat(idata).to_dataset()
    ess_b = ess(idata, method="bulk").to_dataset()
    ess_t = ess(idata, method="tail").to_dataset()

    def extreme(ds: xr.Dataset, fn: Any) -> float:
        values = [float(fn(ds[v].values)) for v in ds.data_vars if np.isfinite(ds[v].values).any()]
        return fn(np.array(values)) if values else float("nan")

    by_variable = {v: float(np.nanmax(rhat_values[v].values)) for v in rhat_values.data_vars
                   if v in named and np.isfinite(rhat_values[v].values).any()}
    slowest = sorted((v for v, r in by_variable.items() if r > RHAT_MAX),
                     key=lambda v: -by_variable[v])[:3]
    stats = idata["sample_stats"]
    limit = next((stats[k] for k in ("reached_max_treedepth", "maxdepth_reached")
                  if k in stats.data_vars), None)
    return Diagnostics(
        slowest=tuple(slowest),
        max_depth_share=float(np.asarray(limit).mean()) if limit is not None else 0.0,
        divergences=int(stats["diverging"].sum()),
        max_rhat=extreme(rhat_values, np.nanmax),
        min_ess_bulk=extreme(ess_b, np.nanmin),
        min_ess_tail=extreme(ess_t, np.nanmin),
        chains=int(post.sizes["chain"]), draws=int(post.sizes["draw"]),
        sampler=sampler, sampling_seconds=round(seconds, 2),
    )


def fit(model: Model, data: pd.DataFrame, *, draws: int = 1000, tune: int = 1000,
        chains: int = 4, seed: int | None = None, sampler: Sampler = "auto",
        target_accept: float = 0.9, progressbar: bool = True, warn: bool = True,
        refits: int = 2, warm_start: Fit | None = None) -> Fit:
    """Draw from the posterior of ``model`` given ``data`` by NUTS.

    ``warm_start``: an earlier fit of the same structure in this process (same model and
    centring, same numbers of runs and groups: a bootstrap resample, a fold, a simulated
    replicate). The chains start where its chains ended, with its adapted mass matrix kept
    through warm-up (only the step size adapts), instead of from PyMC's jittered start with
    numpyro's identity re-estimated in windows (:class:`bayescale.numpyro_nuts.WarmStart`:
    fewer leapfrog steps in warm-up; the draws are from the same posterior). Used with
    numpyro (the default sampler) where the structures match, ignored otherwise, and only by
    the first attempt: a refit after divergences or R-hat > 1.01 starts cold, so a metric that
    suits these data less is not kept; the posterior's ``warm_start`` attribute (1 or 0) says
    which.

    When a run has divergent transitions or R-hat > 1.01, the model is refitted (at most
    ``refits`` times) and, for hierarchical models, group effects re-parameterised per
    parameter and column from the previous run's draws
    (:func:`bayescale.build.centring_from_draws`). After a run with divergences the step
    shrinks (``target_accept`` moved to ``1 - (1 - target_accept) / 4**k`` after the k-th
    diverging run: 0.9, 0.975, 0.994). A run without divergences whose chains still disagree
    mixes slowly: the next attempt keeps the step (a smaller one would cover less ground per
    draw) and, unless the centring changed, runs the chains twice as long, thinned back to
    ``draws`` per chain: with numpyro (the default) it continues the same chains from their
    last states for as many draws again, with the step size and mass matrix their warm-up
    adapted (:func:`bayescale.numpyro_nuts.continue_chains`; the earlier draws stay, so this
    costs ``draws`` iterations, not a new ``2 * (tune + draws)``); with nutpie or PyMC it is a
    new run with twice the warm-up and draws. When the longer chains mix no better, refitting
    stops (the posterior has a ridge the data do not resolve: a longer run will not fix it,
    and :attr:`Diagnostics.slowest` names the variables). The attempt with the fewest
    divergences (then the lowest R-hat) is kept. Every attempt is listed in
    ``Fit.diagnostics.history``. Problems left after the last attempt (divergences, R-hat >
    1.01, bulk or tail ESS < 100 per chain) are raised as :class:`SamplingWarning` and
    listed in ``Fit.diagnostics.problems()``.

    A large hierarchical fit (``PILOT_MIN_RUNS`` runs or more) whose centring is left open
    first runs a short pilot (``PILOT_TUNE`` warm-up + ``PILOT_DRAWS`` draws per chain, trees
    at most ``PILOT_MAX_TREE_DEPTH`` deep: the pilot only measures how far the data pin each
    level, which short trees show as well as long ones) and starts from the centring chosen
    from its draws; a refit after a change of centring runs
    the same length (a new geometry), one in the same centring twice the length.

    ``progressbar`` shows nutpie's and PyMC's bars; numpyro (the default) runs warm-up and
    draws of all chains as one compiled program and shows none. Its chains run in parallel
    over JAX's CPU devices, or vectorised on one for fits of more than ``PARALLEL_MAX_RUNS``
    runs (memory; see there).
    """
    check_sampling_args(draws=draws, tune=tune, chains=chains, target_accept=target_accept,
                        seed=seed)
    if isinstance(refits, bool) or not isinstance(refits, int) or refits < 0:
        raise ValueError(f"refits must be a whole number >= 0, got {refits!r}")
    if warm_start is not None and not isinstance(warm_start, Fit):
        raise TypeError(f"warm_start must be a bayescale Fit (an earlier fit), got "
                        f"{type(warm_start).__name__}")
    design = encode(model, data)
    backend = choose_sampler(sampler)
    centring = default_centring(model, design)
    history: list[str] = []
    total = 0.0
    if _pilot_wanted(model, design, centring, tune=tune, draws=draws):
        start = time.perf_counter()
        pilot, _ = _run_nuts(model, design, build_model(model, design, centring), centring,
                             backend, draws=PILOT_DRAWS, tune=PILOT_TUNE, chains=chains,
                             seed=None if seed is None else seed + refits + 1,
                             target_accept=target_accept, progressbar=progressbar,
                             max_tree_depth=PILOT_MAX_TREE_DEPTH)
        total += time.perf_counter() - start
        chosen = centring_from_draws(model, design, pilot["posterior"])
        history.append(f"pilot: {PILOT_TUNE} warm-up + {PILOT_DRAWS} draws per chain, "
                       f"at most {2**PILOT_MAX_TREE_DEPTH - 1} leapfrog steps per draw, "
                       f"{_describe_centring(centring)}; chose {_describe_centring(chosen)}")
        centring = chosen
    run_draws, run_tune = draws, tune
    best: tuple[Any, ...] | None = None
    accept = target_accept
    extend: ChainEnd | None = None   # chains to continue (slow mixing in the same geometry)
    for attempt in range(refits + 1):
        start = time.perf_counter()
        if extend is not None:
            idata, end = continue_chains(extend, extend.draws)
        else:
            pm_model = build_model(model, design, centring)
            run_seed = None if seed is None else seed + attempt
            idata, end = _run_nuts(model, design, pm_model, centring, backend, draws=run_draws,
                                   tune=run_tune, chains=chains, seed=run_seed,
                                   target_accept=accept, progressbar=progressbar,
                                   warm_start=None if warm_start is None or attempt
                                   else warm_start.warm_start)
        seconds = time.perf_counter() - start
        total += seconds
        continued, extend = extend is not None, None
        if run_draws > draws:
            idata = _thinned(idata, run_draws // draws)
        diagnostics = diagnostics_of(idata, backend, seconds, named=model.variable_names())
        rhat = diagnostics.max_rhat if np.isfinite(diagnostics.max_rhat) else np.inf
        # A longer run that mixed no better: the posterior is hard (a ridge), not the run short.
        # (Divergences in it are a geometry problem: a smaller step may still fix those.)
        longer_did_not_help = (best is not None and run_draws > draws
                               and diagnostics.divergences == 0 and rhat >= best[0][1])
        if best is None or (diagnostics.divergences, rhat) <= best[0]:
            best = ((diagnostics.divergences, rhat), attempt, idata, diagnostics, centring,
                    accept, end)
        if diagnostics.divergences == 0 and diagnostics.max_rhat <= RHAT_MAX \
                or attempt == refits or longer_did_not_help:
            break
        history.append(_describe_attempt(attempt, accept, run_tune, run_draws, centring,
                                         diagnostics, continued=continued))
        chosen = (centring_from_draws(model, design, idata["posterior"]) if model.hierarchy
                  else centring)
        if diagnostics.divergences:          # divergences: a smaller step for the next run
            accept = 1 - (1 - accept) / 4
        elif chosen == centring:             # slow mixing in the same geometry: run longer,
            extend = end                     # continuing these chains where they can be
            run_draws = 2 * run_draws
            if end is None:                  # (nutpie, PyMC: a new run, twice the warm-up)
                run_tune = 2 * run_tune
        centring = chosen                    # (a new centring is a new geometry: same length)
    _, kept, idata, kept_diagnostics, kept_centring, kept_accept, kept_end = best
    if kept != attempt:      # a later attempt did worse: keep the one with fewest problems
        history.append(_describe_attempt(attempt, accept, run_tune, run_draws, centring,
                                         diagnostics, continued=continued)
                       + f"; kept attempt {kept + 1}")
    diagnostics, centring, accept = kept_diagnostics, kept_centring, kept_accept
    diagnostics = dataclasses.replace(diagnostics, sampling_seconds=round(total, 2),
                                      target_accept=accept, refits=attempt,
                                      history=tuple(history))
    result = Fit(model=model, idata=idata, levels=design.levels, log_ref=design.log_ref,
                 design=design, log_range=design.log_range, centring=centring,
                 scale=design.scale, diagnostics=diagnostics)
    result.idata.attrs[ATTR] = result._attrs_json()
    result.warm_start = None if kept_end is None else warm_start_of(kept_end)
    if warn:
        result.diagnostics.warn("bayescale fit")
    return result


def _pilot_wanted(model: Model, design: Design, centring: Centring, *, tune: int,
                  draws: int) -> bool:
    """Whether ``fit`` first runs a pilot (``PILOT_TUNE`` + ``PILOT_DRAWS`` per chain) whose
    draws choose the centring (:func:`bayescale.build.centring_from_draws`), instead of
    starting non-centred and refitting when that mixes badly.

    Only where the choice is open (``Model(centered=None)``, some effects non-centred by
    default) and the fit is large (``PILOT_MIN_RUNS`` runs or more, over twice the pilot's
    length): there a refit, which runs the whole fit again, costs far more than the pilot and
    its own compilation. Crossed fit of 50 families x 3 models x 8 tasks (1,200 runs, 500 + 500
    iterations): non-centred start, R-hat 1.021, refit centred at twice the length: 120 s; the
    centring the refit chose, from the start: 42 s."""
    flags = [f for cols in centring.values() for f in cols.values()]
    return (model.centered is None and not all(flags) and len(design.y) >= PILOT_MIN_RUNS
            and tune + draws > 2 * (PILOT_TUNE + PILOT_DRAWS))


def _describe_attempt(attempt: int, accept: float, tune: int, draws: int,
                      centring: Centring, diagnostics: Diagnostics, *,
                      continued: bool = False) -> str:
    length = (f"attempt {attempt}'s chains continued to {draws} draws per chain" if continued
              else f"{tune} warm-up + {draws} draws per chain")
    return (f"attempt {attempt + 1}: target_accept {accept:.4g}, {length}, "
            f"{_describe_centring(centring)}: {diagnostics.divergences} "
            f"divergences, max R-hat {diagnostics.max_rhat:.3f}")


def _thinned(idata: xr.DataTree, step: int) -> xr.DataTree:
    """Every ``step``-th draw of every group with a ``draw`` dimension, renumbered."""
    out = idata.isel(draw=slice(None, None, step), missing_dims="ignore")
    for node in out.subtree:
        if "draw" in node.dims and "draw" in node.coords:
            node.coords["draw"] = np.arange(node.sizes["draw"])
    return out


def _describe_centring(centring: Centring) -> str:
    flags = [f for cols in centring.values() for f in cols.values()]
    if not flags:
        return "no group effects"
    return f"{sum(flags)} of {len(flags)} sets of group effects centred"


def _run_nuts(model: Model, design: Design, pm_model: pm.Model, centring: Centring,
              backend: str, *, draws: int, tune: int, chains: int, seed: int | None,
              target_accept: float, progressbar: bool, max_tree_depth: int = MAX_TREE_DEPTH,
              warm_start: WarmStart | None = None) -> tuple[xr.DataTree, ChainEnd | None]:
    """One NUTS run on ``pm_model`` with the chosen backend: its draws and, from numpyro,
    where its chains ended (:func:`bayescale.numpyro_nuts.continue_chains`). At most
    ``2**max_tree_depth - 1`` leapfrog steps per draw (blackjax: its own default).
    ``warm_start``: where numpyro's chains start (others: not used)."""
    quiet_loggers = [logging.getLogger(n) for n in ("pymc", "pymc.sampling.jax")]
    levels = [lg.level for lg in quiet_loggers]
    try:
        if not progressbar:
            for lg in quiet_loggers:
                lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ee]xplicitly requested dtype.*")
            if backend == "nutpie":
                return _sample_nutpie(model, design, pm_model, centring, draws=draws,
                                      tune=tune, chains=chains, seed=seed,
                                      target_accept=target_accept, progressbar=progressbar,
                                      max_tree_depth=max_tree_depth), None
            if backend == "numpyro":
                dense = population_value_names(pm_model) if model.hierarchy else True
                return sample_numpyro(pm_model, draws=draws, tune=tune, chains=chains,
                                      seed=seed, target_accept=target_accept, dense=dense,
                                      chain_method=chain_method_for(chains, len(design.y)),
                                      progressbar=progressbar,
                                      structure=structure_key(model, design, centring),
                                      max_tree_depth=max_tree_depth, warm_start=warm_start)
            return pm.sample(draws=draws, tune=tune, chains=chains, random_seed=seed,
                             model=pm_model, progressbar=progressbar,
                             compute_convergence_checks=False,
                             **_sample_kwargs(backend, chains, target_accept, len(design.y),
                                              max_tree_depth)), None
    finally:
        for lg, level in zip(quiet_loggers, levels, strict=True):
            lg.setLevel(level)


EXTRAPOLATION_ATTR = "bayescale_extrapolation"  # the learned extrapolation risk, as JSON


def log_likelihood_group(idata: xr.DataTree, pymc_model: Callable[[], pm.Model]
                         ) -> xr.Dataset:
    """The ``log_likelihood`` group of ``idata`` (pointwise, (chain, draw, row)), computed
    from ``pymc_model()`` the first time and kept in ``idata``."""
    if "log_likelihood" not in idata.children:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            ll = pm.compute_log_likelihood(idata, model=pymc_model(),
                                           extend_inferencedata=False, progressbar=False)
        idata["log_likelihood"] = xr.DataTree(ll if isinstance(ll, xr.Dataset)
                                              else ll["log_likelihood"].to_dataset())
    return idata["log_likelihood"].to_dataset()


class Fit:
    """A fitted model: the ArviZ DataTree plus what is needed to predict from it."""

    def __init__(self, *, model: Model, idata: xr.DataTree, levels: Mapping[str, Sequence[str]],
                 log_ref: Mapping[str, float], scale: DataScale, diagnostics: Diagnostics,
                 design: Design | None = None,
                 log_range: Mapping[str, Sequence[float]] | None = None,
                 centring: Centring | None = None) -> None:
        self.model = model
        self.idata = idata
        self.levels = {k: tuple(v) for k, v in levels.items()}
        self.log_ref = dict(log_ref)
        self.log_range = {k: (float(v[0]), float(v[1])) for k, v in (log_range or {}).items()}
        self.centring: Centring = {p: {c: bool(flag) for c, flag in cols.items()}
                                   for p, cols in (centring or {}).items()}
        self.scale = scale
        self.diagnostics = diagnostics
        self.design = design  # the fitted data as encoded (rebuilt from the file when loaded)
        #: where a refit of the same structure can start (``fit(warm_start=this)``): the
        #: chains' last positions and adapted metric; None from nutpie or PyMC and for a fit
        #: loaded from a file
        self.warm_start: WarmStart | None = None
        self._cache: dict[str, Any] = {}

    # ------------------------------------------------------------------ summaries
    @property
    def posterior(self) -> xr.Dataset:
        return self.idata["posterior"].to_dataset()

    def natural_var_names(self) -> list[str]:
        """Natural-scale parameters: population values, then per-group values, then noise."""
        m = self.model
        free = [p for p in m.params if p not in m.fixed]
        names = [p for p in free if p in m.law.params]
        for col in m.grouping_columns:
            names += [by_name(p, col) for p in free if col in m.hierarchy.get(p, ())]
        names += [p for p in free if p in m.likelihood.aux]
        return names

    def summary(self, var_names: Sequence[str] | None = None, ci_prob: float | None = None
                ) -> pd.DataFrame:
        """Median, mean, sd, equal-tailed ``ci_prob`` interval, R-hat and ESS per parameter,
        on the natural scale (``A``, ``E``, ... not their logs)."""
        (ci_prob,) = ci_probs(ci_prob)
        names = list(var_names) if var_names is not None else self.natural_var_names()
        unknown = [v for v in names if v not in self.posterior]
        if unknown:
            raise ValueError(f"unknown variable(s) {unknown}; the posterior has "
                             f"{sorted(self.posterior.data_vars)}")
        from arviz_stats import summary

        table = summary(self.idata, var_names=names, ci_prob=ci_prob, ci_kind="eti",
                           round_to="none", fmt="wide")
        medians = summary(self.idata, var_names=names, kind="stats_median",
                             round_to="none", fmt="wide")["median"]
        table.insert(0, "median", medians)
        return table

    def interval(self, var_name: str, ci_prob: float | None = None
                 ) -> tuple[float, float, float]:
        """``(median, lower, upper)`` of a scalar variable's equal-tailed interval."""
        (ci_prob,) = ci_probs(ci_prob)
        return median_interval(self.posterior[var_name].values, ci_prob)

    def __repr__(self) -> str:
        d = self.diagnostics
        status = "ok" if d.ok else "PROBLEMS: " + "; ".join(d.problems())
        refits = (f"; refitted {d.refits}x after sampling problems (diagnostics.history)"
                  if d.refits else "")
        text = (f"bayescale.Fit  {self.model.law.formula}\n  {d.chains} chains x {d.draws} "
                f"draws ({d.sampler}, {d.sampling_seconds:.1f} s){refits}; divergences "
                f"{d.divergences}, max R-hat {d.max_rhat:.4f}, min ESS bulk "
                f"{d.min_ess_bulk:.0f}; {status}")
        if "extrapolation" in self._cache:
            risk = self._cache["extrapolation"].summary()
            text += (f"\n  extrapolation term (per e-fold of {scale_label(self.model)} beyond "
                     f"the data, {self.model.likelihood.link} scale): drift "
                     f"{risk.loc['drift mu', 'median']:+.4f}, spread "
                     f"{risk.loc['spread tau', 'median']:.4f} (posterior medians; "
                     f"{self._cache['extrapolation'].folds} leave-future-out folds)")
        return text

    # ------------------------------------------------------------------ model criticism
    def pymc_model(self) -> pm.Model:
        """The PyMC model of this fit (rebuilt from the fitted data; needs ``design``)."""
        if self.design is None:
            raise ValueError("this fit has no data (design); refit it to get the PyMC model")
        if "pymc_model" not in self._cache:
            self._cache["pymc_model"] = build_model(self.model, self.design,
                                                    self.centring or None)
        return self._cache["pymc_model"]

    def log_likelihood(self) -> xr.Dataset:
        """Pointwise log-likelihood of every run under every draw, dims (chain, draw, run)."""
        return log_likelihood_group(self.idata, self.pymc_model)

    # ------------------------------------------------------------------ predictions
    def predict(self, data: Any, **kwargs: Any) -> Any:
        """See :func:`bayescale.predict.predict`."""
        from .predict import predict

        return predict(self, data, **kwargs)

    def extrapolation_risk(self, *, prior: Any = None, refresh: bool = False,
                           seed: int = 0) -> Any:
        """The learned risk of the law being wrong beyond the data
        (:class:`bayescale.extrapolation.ExtrapolationRisk`): leave-future-out refits on this
        fit's data (three rolling origins) combined with ``prior`` (default: the empirical
        prior of the published record). Learned on first use, then kept (and saved with the
        fit); ``refresh=True`` or another ``prior`` learns it again."""
        if refresh or prior is not None or "extrapolation" not in self._cache:
            self._cache["extrapolation"] = learn_risk(self, prior=prior, seed=seed)
        return self._cache["extrapolation"]

    def calibration(self) -> pd.DataFrame:
        """This fit's own leave-future-out record: coverage of 50/80/90/95% intervals and the
        90% interval score (link scale) of later runs predicted from earlier ones, without
        the extrapolation term and with it (learned from the other folds and the prior:
        a fold never scores itself), with the learned drift and spread below."""
        risk = self.extrapolation_risk()
        return risk.calibration

    def compute_optimal(self, compute: Any, **kwargs: Any) -> pd.DataFrame:
        """See :func:`bayescale.allocation.compute_optimal`."""
        from .allocation import compute_optimal

        return compute_optimal(self, compute, **kwargs)

    # ------------------------------------------------------------------ persistence
    def _attrs_json(self) -> str:
        return json.dumps({
            "bayescale_version": __version__,
            "model": self.model.to_dict(),
            "levels": {k: list(v) for k, v in self.levels.items()},
            "log_ref": self.log_ref,
            "log_range": self.log_range,
            "centring": self.centring,
            "law_fingerprint": law_fingerprint(self.model.law, self.log_ref),
            "scale": self.scale.to_dict(),
            "diagnostics": asdict(self.diagnostics),
        }, sort_keys=True)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Save as netCDF (``.nc``, h5netcdf) or zarr (``.zarr``); never pickle.

        Written to a temporary file beside ``path`` and moved into place in one step. An
        existing file is kept unless ``overwrite=True``, and even then only a fit bayescale
        saved is replaced (see :mod:`bayescale.io`).
        """
        tree = self.idata.copy()
        tree.attrs = {**tree.attrs, ATTR: self._attrs_json()}
        if "extrapolation" in self._cache:
            tree.attrs[EXTRAPOLATION_ATTR] = json.dumps(self._cache["extrapolation"].to_dict())
        return write_tree(tree, path, overwrite=overwrite)
