"""Fitting by NUTS, the :class:`Fit` result, sampling diagnostics, save and load."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from . import __version__
from .build import Design, build_model, encode, model_data, structure_key
from .hierarchy import by_name
from .laws import Law
from .model import Model
from .priors import DataScale

__all__ = ["fit", "Fit", "Diagnostics", "SamplingWarning", "load", "choose_sampler"]

Sampler = Literal["auto", "numpyro", "nutpie", "pymc", "blackjax"]
RHAT_MAX = 1.01          # Vehtari et al. (2021)
ESS_PER_CHAIN_MIN = 100  # i.e. bulk/tail ESS >= 400 for 4 chains (Vehtari et al. 2021)


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

    def problems(self) -> list[str]:
        out = []
        if self.divergences:
            out.append(f"{self.divergences} divergent transitions (the posterior may be biased; "
                       "raise target_accept or reparameterise)")
        if not self.max_rhat <= RHAT_MAX:
            out.append(f"max R-hat {self.max_rhat:.3f} > {RHAT_MAX} (chains disagree)")
        ess_min = ESS_PER_CHAIN_MIN * self.chains
        if not min(self.min_ess_bulk, self.min_ess_tail) >= ess_min:
            out.append(f"low effective sample size (bulk {self.min_ess_bulk:.0f}, tail "
                       f"{self.min_ess_tail:.0f} < {ess_min}); draw more")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems()


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


def _sample_kwargs(sampler: str, chains: int, target_accept: float) -> dict[str, Any]:
    """Per-backend settings: mass matrices that learn the posterior's correlations."""
    if sampler in ("numpyro", "blackjax"):
        import jax

        method = "parallel" if jax.local_device_count() >= chains else "vectorized"
        nuts: dict[str, Any] = {"chain_method": method, "target_accept": target_accept}
        if sampler == "numpyro":
            nuts["dense_mass"] = True
        return {"nuts_sampler": sampler, "nuts": nuts}
    if sampler == "nutpie":
        return {"nuts_sampler": "nutpie",
                "nuts": {"adaptation": "low_rank", "target_accept": target_accept}}
    return {"nuts_sampler": "pymc", "init": "jitter+adapt_full", "target_accept": target_accept}


# Compiled nutpie models by structure_key: a refit of the same structure (another data set,
# fold, simulation or seed) swaps the data in (``with_data``) instead of compiling again.
_COMPILED: OrderedDict[str, Any] = OrderedDict()
_COMPILED_MAX = 8
_COMPILE_LOCK = threading.Lock()
compile_stats = {"compiled": 0, "reused": 0}


def compiled_nutpie(model: Model, design: Design, pm_model: pm.Model | None = None) -> Any:
    """nutpie's compiled model for ``design``'s structure (cached), holding ``design``'s data."""
    import nutpie

    if pm_model is None:
        pm_model = build_model(model, design)
    key = structure_key(model, design)
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


def _sample_nutpie(model: Model, design: Design, pm_model: pm.Model, *, draws: int, tune: int,
                   chains: int, seed: int | None, target_accept: float,
                   progressbar: bool) -> xr.DataTree:
    """nutpie on the cached compiled model; coordinates and data groups of this design."""
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata

    compiled = compiled_nutpie(model, design, pm_model)
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
    nuts = _sample_kwargs("nutpie", chains, target_accept)["nuts"]
    start = time.perf_counter()
    idata = nutpie.sample(compiled, draws=draws, tune=max(tune, 1), chains=chains,
                          cores=chains, seed=int(seed), progress_bar=progressbar, **nuts)
    patch_nutpie_idata(idata, pm_model, sampling_time=time.perf_counter() - start)
    post = idata["posterior"]
    labels = {c: list(lv) for c, lv in design.levels.items() if c in post.dims}
    if labels:  # the compiled model keeps the group labels it was compiled with
        idata["posterior"] = post.to_dataset().assign_coords(labels)
    return idata


def _diagnostics(idata: xr.DataTree, sampler: str, seconds: float) -> Diagnostics:
    post = idata["posterior"]
    rhat = az.rhat(idata).to_dataset()
    ess_b = az.ess(idata, method="bulk").to_dataset()
    ess_t = az.ess(idata, method="tail").to_dataset()

    def extreme(ds: xr.Dataset, fn: Any) -> float:
        values = [float(fn(ds[v].values)) for v in ds.data_vars if np.isfinite(ds[v].values).any()]
        return fn(np.array(values)) if values else float("nan")

    return Diagnostics(
        divergences=int(idata["sample_stats"]["diverging"].sum()),
        max_rhat=extreme(rhat, np.nanmax),
        min_ess_bulk=extreme(ess_b, np.nanmin),
        min_ess_tail=extreme(ess_t, np.nanmin),
        chains=int(post.sizes["chain"]), draws=int(post.sizes["draw"]),
        sampler=sampler, sampling_seconds=round(seconds, 2),
    )


def fit(model: Model, data: pd.DataFrame, *, draws: int = 1000, tune: int = 1000,
        chains: int = 4, seed: int | None = None, sampler: Sampler = "auto",
        target_accept: float = 0.9, progressbar: bool = True, warn: bool = True) -> Fit:
    """Draw from the posterior of ``model`` given ``data`` by NUTS.

    Problems (divergences, R-hat > 1.01, bulk or tail ESS < 100 per chain) are raised as
    :class:`SamplingWarning` and listed in ``Fit.diagnostics.problems()``.
    """
    design = encode(model, data)
    backend = choose_sampler(sampler)
    pm_model = build_model(model, design)
    start = time.perf_counter()
    quiet_loggers = [logging.getLogger(n) for n in ("pymc", "pymc.sampling.jax")]
    levels = [lg.level for lg in quiet_loggers]
    try:
        if not progressbar:
            for lg in quiet_loggers:
                lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ee]xplicitly requested dtype.*")
            if backend == "nutpie":
                idata = _sample_nutpie(model, design, pm_model, draws=draws, tune=tune,
                                       chains=chains, seed=seed, target_accept=target_accept,
                                       progressbar=progressbar)
            else:
                idata = pm.sample(draws=draws, tune=tune, chains=chains, random_seed=seed,
                                  model=pm_model, progressbar=progressbar,
                                  compute_convergence_checks=False,
                                  **_sample_kwargs(backend, chains, target_accept))
    finally:
        for lg, level in zip(quiet_loggers, levels, strict=True):
            lg.setLevel(level)
    seconds = time.perf_counter() - start
    result = Fit(model=model, idata=idata, levels=design.levels, log_ref=design.log_ref,
                 design=design,
                 scale=design.scale, diagnostics=_diagnostics(idata, backend, seconds))
    result.idata.attrs["bayescale"] = result._attrs_json()
    if warn and not result.diagnostics.ok:
        for problem in result.diagnostics.problems():
            warnings.warn(f"bayescale fit: {problem}", SamplingWarning, stacklevel=2)
    return result


class Fit:
    """A fitted model: the ArviZ DataTree plus what is needed to predict from it."""

    def __init__(self, *, model: Model, idata: xr.DataTree, levels: Mapping[str, Sequence[str]],
                 log_ref: Mapping[str, float], scale: DataScale, diagnostics: Diagnostics,
                 design: Design | None = None) -> None:
        self.model = model
        self.idata = idata
        self.levels = {k: tuple(v) for k, v in levels.items()}
        self.log_ref = dict(log_ref)
        self.scale = scale
        self.diagnostics = diagnostics
        self.design = design  # the fitted data as encoded (None for a fit loaded from disk)
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

    def summary(self, var_names: Sequence[str] | None = None, ci_prob: float = 0.95
                ) -> pd.DataFrame:
        """Median, mean, sd, equal-tailed ``ci_prob`` interval, R-hat and ESS per parameter,
        on the natural scale (``A``, ``E``, ... not their logs)."""
        if not 0 < ci_prob < 1:
            raise ValueError(f"ci_prob must be in (0, 1), got {ci_prob}")
        names = list(var_names) if var_names is not None else self.natural_var_names()
        unknown = [v for v in names if v not in self.posterior]
        if unknown:
            raise ValueError(f"unknown variable(s) {unknown}; the posterior has "
                             f"{sorted(self.posterior.data_vars)}")
        table = az.summary(self.idata, var_names=names, ci_prob=ci_prob, ci_kind="eti",
                           round_to="none", fmt="wide")
        medians = az.summary(self.idata, var_names=names, kind="stats_median",
                             round_to="none", fmt="wide")["median"]
        table.insert(0, "median", medians)
        return table

    def interval(self, var_name: str, ci_prob: float = 0.95) -> tuple[float, float, float]:
        """``(median, lower, upper)`` of a scalar variable's equal-tailed interval."""
        draws = self.posterior[var_name].values.reshape(-1)
        lo, med, hi = np.quantile(draws, [(1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2])
        return float(med), float(lo), float(hi)

    def __repr__(self) -> str:
        d = self.diagnostics
        status = "ok" if d.ok else "PROBLEMS: " + "; ".join(d.problems())
        return (f"bayescale.Fit  {self.model.law.formula}\n  {d.chains} chains x {d.draws} "
                f"draws ({d.sampler}, {d.sampling_seconds:.1f} s); divergences {d.divergences}, "
                f"max R-hat {d.max_rhat:.4f}, min ESS bulk {d.min_ess_bulk:.0f}; {status}")

    # ------------------------------------------------------------------ model criticism
    def pymc_model(self) -> pm.Model:
        """The PyMC model of this fit (rebuilt from the fitted data; needs ``design``)."""
        if self.design is None:
            raise ValueError("this fit was loaded from disk without its data; refit it to get "
                             "the PyMC model")
        if "pymc_model" not in self._cache:
            self._cache["pymc_model"] = build_model(self.model, self.design)
        return self._cache["pymc_model"]

    def log_likelihood(self) -> xr.Dataset:
        """Pointwise log-likelihood of every run under every draw, dims (chain, draw, run)."""
        if "log_likelihood" not in self.idata.children:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                ll = pm.compute_log_likelihood(self.idata, model=self.pymc_model(),
                                               extend_inferencedata=False, progressbar=False)
            self.idata["log_likelihood"] = xr.DataTree(ll if isinstance(ll, xr.Dataset)
                                                       else ll["log_likelihood"].to_dataset())
        return self.idata["log_likelihood"].to_dataset()

    # ------------------------------------------------------------------ predictions
    def predict(self, data: Any, **kwargs: Any) -> Any:
        """See :func:`bayescale.predict.predict`."""
        from .predict import predict

        return predict(self, data, **kwargs)

    def compute_optimal(self, compute: Any, **kwargs: Any) -> pd.DataFrame:
        """See :func:`bayescale.predict.compute_optimal`."""
        from .predict import compute_optimal

        return compute_optimal(self, compute, **kwargs)

    # ------------------------------------------------------------------ persistence
    def _attrs_json(self) -> str:
        return json.dumps({
            "bayescale_version": __version__,
            "model": self.model.to_dict(),
            "levels": {k: list(v) for k, v in self.levels.items()},
            "log_ref": self.log_ref,
            "scale": self.scale.to_dict(),
            "diagnostics": asdict(self.diagnostics),
        }, sort_keys=True)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Save as netCDF (``.nc``, h5netcdf) or zarr (``.zarr``); never pickle.

        An existing file is kept unless ``overwrite=True``.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True (CLI: --force) to "
                                  "replace it")
        tree = self.idata.copy()
        tree.attrs = {**tree.attrs, "bayescale": self._attrs_json()}
        tmp = path.with_name(path.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
        if path.suffix == ".zarr":
            tree.to_zarr(tmp, consolidated=False)
        else:
            tree.to_netcdf(tmp, engine="h5netcdf")
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        tmp.rename(path)  # written completely before it replaces anything
        return path


def load(path: str | Path, *, law: Law | None = None) -> Fit:
    """Load a fit saved by :meth:`Fit.save` (netCDF or zarr); draws are identical."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved fit at {path}")
    if path.suffix == ".zarr" or path.is_dir():
        tree = xr.open_datatree(path, engine="zarr", consolidated=False)
    else:
        tree = xr.open_datatree(path, engine="h5netcdf")
    tree = tree.load()
    tree.close()
    raw = tree.attrs.get("bayescale")
    if raw is None:
        raise ValueError(f"{path} is not a bayescale fit (no 'bayescale' attribute)")
    meta = json.loads(raw)
    model = Model.from_dict(meta["model"], law=law)
    return Fit(model=model, idata=tree, levels=meta["levels"], log_ref=meta["log_ref"],
               scale=DataScale(**meta["scale"]), diagnostics=Diagnostics(**meta["diagnostics"]))
