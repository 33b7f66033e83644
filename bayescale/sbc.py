"""Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788).

If parameters are drawn from the prior, data from the model given those parameters, and the
posterior is computed exactly, the rank of the true value among ``L`` independent posterior
draws is uniform on ``0 .. L``. A model, a prior or a sampler that is wrong somewhere (a missing
Jacobian, a sign error, a prior in the fit that differs from the one the model claims, a
sampler that does not reach part of the posterior) shows up as non-uniform ranks: a U shape
(posterior too narrow), a hump (too wide), a slope (biased).

:func:`sbc` runs the whole loop on the PyMC model the fit uses
(``build_model(model, encode(model, data))``):

1. The default priors of ``E`` and the term coefficients are scaled to the observed target
   (:class:`~bayescale.priors.DataScale`, computed by ``encode`` from the data being fitted).
   Refitting simulated data would then move the prior with every data set, and SBC would test
   a different model than the one that generated the data. :func:`with_fixed_priors` writes
   every prior out explicitly from the DataScale of ``design_data``, once, and both the
   simulation and every fit use that model.
2. Parameters and a data set are drawn from the prior predictive (``pm.sample_prior_predictive``
   on the model built on ``design_data``: same inputs and groups, target replaced). Draws
   whose data the likelihood cannot take (NaN, inf, non-positive losses, proportions outside
   the unit interval) are redrawn and counted (``SBCResult.rejected``). Rejecting on the data
   alone keeps SBC valid: conditioning on ``y`` in a set leaves ``p(theta | y)`` unchanged.
3. Each data set is fitted by NUTS, one simulation per task of ``executor``, through
   :func:`run_simulation` (module level, picklable arguments). With nutpie installed
   (``sampler="auto"`` or ``"nutpie"``) every simulation is fitted by
   :func:`bayescale.fit.fit` with nutpie, which compiles the model once per worker and
   structure (:func:`bayescale.fit.compiled_nutpie`) and swaps each simulated data set in.
   Measured on 2 shared cores for ``power_law:C`` with 24 runs: 8.5 s to compile, then 0.15 s
   per fit of 2 x (300 + 200) iterations, against about 5 s per numpyro fit (which compiles
   every time). Any other ``sampler`` (``numpyro``, ``pymc``) is passed to ``fit`` as is.
4. The rank of each true value among ``L`` thinned posterior draws is computed (every
   ``thin``-th draw of each chain; ``L = chains * ceil(draws / thin)``), ties broken at random.

Fits that diverge or fail are not dropped silently: divergences, R-hat and ESS of every
simulation are in ``SBCResult.diagnostics``, failures carry their error message, and the
summary counts them.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from .build import build_model, canonical_frame, encode
from .model import Model
from .priors import DataScale

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["sbc", "SBCResult", "with_fixed_priors", "run_simulation",
           "uniformity_test", "rank_bins", "default_bins"]

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


# ---------------------------------------------------------------------------- statistics
def default_bins(simulations: int) -> int:
    """Histogram bins for ``simulations`` ranks: about 5 expected per bin, 2 to 20 bins."""
    return int(min(20, max(2, simulations // 5)))


def rank_bins(n_draws: int, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin index of every rank ``0 .. n_draws`` and each bin's probability under uniformity.

    Ranks take ``n_draws + 1`` values; bin ``k`` holds the ranks ``r`` with
    ``floor(r * bins / (n_draws + 1)) == k``, so bins differ by at most one rank value when
    ``bins`` does not divide ``n_draws + 1``, and their probabilities are exact.

    Parameters
    ----------
    n_draws : int
        ``L``, the number of posterior draws each rank was computed against.
    bins : int
        Number of bins (at most ``n_draws + 1``).

    Returns
    -------
    index : ndarray of int, shape (n_draws + 1,)
        The bin of each rank value.
    prob : ndarray of float, shape (bins,)
        The probability of each bin when ranks are uniform.
    """
    if not 1 <= bins <= n_draws + 1:
        raise ValueError(f"bins must be within 1 .. {n_draws + 1}, got {bins}")
    index = (np.arange(n_draws + 1) * bins) // (n_draws + 1)
    return index, np.bincount(index, minlength=bins) / (n_draws + 1)


def uniformity_test(ranks: Sequence[int] | np.ndarray, n_draws: int,
                    bins: int | None = None) -> dict[str, float]:
    """Pearson chi-square test that ranks are uniform on ``0 .. n_draws``.

    Parameters
    ----------
    ranks : array of int
        Ranks in ``0 .. n_draws``; NaN entries (failed fits) are dropped.
    n_draws : int
        ``L``, the number of posterior draws each rank was computed against.
    bins : int, optional
        Number of bins; :func:`default_bins` of the number of ranks by default.

    Returns
    -------
    dict
        ``statistic``, ``dof`` (``bins - 1``), ``p_value`` (chi-square survival function),
        ``bins`` and ``simulations`` (the number of ranks used).
    """
    r = np.asarray(ranks, dtype=float)
    r = r[np.isfinite(r)].astype(np.int64)
    if r.size and (r.min() < 0 or r.max() > n_draws):
        raise ValueError(f"ranks must lie in 0 .. {n_draws}")
    bins = default_bins(r.size) if bins is None else int(bins)
    if r.size == 0:
        return {"statistic": math.nan, "dof": bins - 1, "p_value": math.nan, "bins": bins,
                "simulations": 0}
    index, prob = rank_bins(n_draws, bins)
    observed = np.bincount(index[r], minlength=bins)
    expected = r.size * prob
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return {"statistic": statistic, "dof": bins - 1,
            "p_value": float(stats.chi2.sf(statistic, bins - 1)), "bins": bins,
            "simulations": int(r.size)}


# ---------------------------------------------------------------------------- result
@dataclass
class SBCResult:
    """Ranks and fit diagnostics of a simulation-based calibration run.

    Attributes
    ----------
    ranks : DataFrame
        One row per simulation, one column per parameter: the number of the ``n_draws``
        thinned posterior draws below the true value (``<NA>`` where the fit failed).
    diagnostics : DataFrame
        One row per simulation: ``seed``, ``divergences``, ``max_rhat``, ``min_ess_bulk``,
        ``min_ess_tail``, ``seconds``, ``y_min`` and ``y_max`` of the simulated target, and
        ``error`` (the message of a fit that raised, else empty).
    n_draws : int
        ``L``: ranks lie in ``0 .. L``.
    rejected : int
        Prior draws whose data were impossible (NaN, inf, outside the likelihood's support)
        and were redrawn.
    model : dict
        Spec (``Model.to_dict()``) of the model simulated from, priors fixed.
    fit_model : dict
        Spec of the model fitted (the same unless ``sbc(fit_model=...)``).
    settings : dict
        Draws, thinning, sampler settings, seed entropy, and the design's ``DataScale``.
    """

    ranks: pd.DataFrame
    diagnostics: pd.DataFrame
    n_draws: int
    rejected: int
    model: dict[str, Any]
    fit_model: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def simulations(self) -> int:
        """Number of simulations run (failed fits included)."""
        return len(self.ranks)

    @property
    def failed(self) -> int:
        """Number of simulations whose fit raised an error (no ranks)."""
        return int((self.diagnostics["error"] != "").sum())

    @property
    def divergent(self) -> int:
        """Number of simulations whose fit had at least one divergent transition."""
        return int((self.diagnostics["divergences"].fillna(0) > 0).sum())

    def flagged(self, max_rhat: float = 1.01) -> pd.DataFrame:
        """Simulations whose fit diverged, had R-hat above ``max_rhat``, or failed.

        Their data (``y_min``, ``y_max``) show whether the prior generated data sets the
        sampler cannot handle. They are kept in the ranks: leaving them out would select
        simulations by their data and bias the test.

        Parameters
        ----------
        max_rhat : float
            R-hat above which a fit is flagged.

        Returns
        -------
        DataFrame
            The flagged rows of ``diagnostics``.
        """
        d = self.diagnostics
        bad = (d["divergences"].fillna(0) > 0) | (d["max_rhat"] > max_rhat) | (d["error"] != "")
        return d[bad]

    def uniformity(self, bins: int | None = None) -> pd.DataFrame:
        """Chi-square uniformity test per parameter (see :func:`uniformity_test`).

        Parameters
        ----------
        bins : int, optional
            Number of rank bins; :func:`default_bins` of the number of simulations.

        Returns
        -------
        DataFrame
            Index: parameter; columns ``statistic``, ``dof``, ``p_value``, ``bins``,
            ``simulations``.
        """
        rows = {name: uniformity_test(self.ranks[name].to_numpy(dtype=float, na_value=np.nan),
                                      self.n_draws, bins)
                for name in self.ranks.columns}
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "parameter"
        return table

    def summary(self, bins: int | None = None) -> pd.DataFrame:
        """Per parameter: mean and sd of the normalised rank ``rank / L``, the chi-square
        test, and the number of simulations that diverged or failed.

        Uniform ranks have mean 0.5 and sd ``sqrt(1/12) = 0.289`` (slightly more for small
        ``L``). A mean below 0.5 means true values tend to lie below the posterior (the
        posterior is biased upward); an sd above 0.289 a posterior too narrow, below it one
        too wide. ``mean_z`` is the mean's distance from 0.5 in standard errors under
        uniformity (``|z| > 3.3``: two-sided p < 0.001); it detects a bias with fewer
        simulations than the chi-square test, which looks at every shape.

        Parameters
        ----------
        bins : int, optional
            Number of rank bins of the chi-square test.

        Returns
        -------
        DataFrame
            Index: parameter; columns ``mean_rank``, ``sd_rank``, ``mean_z``, ``statistic``,
            ``dof``, ``p_value``, ``bins``, ``simulations``, ``divergent``, ``failed``.
        """
        norm = self.ranks.astype(float) / self.n_draws
        sd_uniform = math.sqrt(((self.n_draws + 1) ** 2 - 1) / 12) / max(self.n_draws, 1)
        table = pd.DataFrame({"mean_rank": norm.mean(), "sd_rank": norm.std(ddof=1)})
        table["mean_z"] = (table["mean_rank"] - 0.5) / (sd_uniform / np.sqrt(norm.count()))
        table.index.name = "parameter"
        table = table.join(self.uniformity(bins))
        table["divergent"] = self.divergent
        table["failed"] = self.failed
        return table

    def histogram(self, bins: int | None = None, *, band: float = 0.99,
                  var_names: Sequence[str] | None = None, ncols: int = 4) -> Figure:
        """Rank histograms with the ``band`` interval of a bin's count under uniformity.

        The band of bin ``k`` holds ``band`` of the mass of ``Binomial(S, p_k)``, ``S`` the
        number of simulations and ``p_k`` the bin's probability; it is pointwise (with 20 bins
        about one bin in five histograms falls outside a 99% band by chance).

        Parameters
        ----------
        bins : int, optional
            Number of bins; :func:`default_bins` of the number of simulations.
        band : float
            Probability of the uniform band.
        var_names : sequence of str, optional
            Parameters to draw (all by default).
        ncols : int
            Panels per row.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        names = list(var_names) if var_names is not None else list(self.ranks.columns)
        tests = self.uniformity(bins)
        ncols = max(1, min(ncols, len(names)))
        nrows = math.ceil(len(names) / ncols)
        fig = Figure(figsize=(3.3 * ncols, 2.5 * nrows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, name in zip(axes, names, strict=False):
            r = self.ranks[name].to_numpy(dtype=float, na_value=np.nan)
            r = r[np.isfinite(r)].astype(np.int64)
            k = int(tests.loc[name, "bins"])
            index, prob = rank_bins(self.n_draws, k)
            counts = np.bincount(index[r], minlength=k)
            lo = stats.binom.ppf((1 - band) / 2, r.size, prob)
            hi = stats.binom.ppf((1 + band) / 2, r.size, prob)
            edges = np.append(np.searchsorted(index, np.arange(k)), self.n_draws + 1)
            ax.stairs(hi, edges, baseline=lo, fill=True, color="0.85",
                      label=f"{100 * band:g}% band (uniform)")
            ax.stairs(r.size * prob, edges, color="0.4", lw=0.8, ls="--")
            ax.stairs(counts, edges, color="C0", lw=1.5, label="ranks")
            p = tests.loc[name, "p_value"]
            ax.set_title(f"{name}  (p = {p:.2g})", fontsize=9)
            ax.set_xlim(0, self.n_draws + 1)
            ax.tick_params(labelsize=7)
        for ax in axes[len(names):]:
            ax.set_visible(False)
        axes[0].legend(fontsize=7, loc="lower left")
        fig.suptitle(f"SBC rank histograms: {self._label()}, {self.simulations} simulations, "
                     f"L = {self.n_draws}", fontsize=10)
        return fig

    def _label(self) -> str:
        varying = [f"{p} by {', '.join(cols)}" for p, cols in self.model.get("hierarchy",
                                                                               {}).items()]
        return self.model.get("law", "") + (f" ({'; '.join(varying)})" if varying else "")

    def to_dict(self, bins: int | None = None) -> dict[str, Any]:
        """JSON-ready summary: settings, counts and the per-parameter table."""
        table = self.summary(bins).reset_index()
        return {"model": self.model, "fit_model": self.fit_model, "settings": self.settings,
                "simulations": self.simulations, "n_draws": self.n_draws,
                "rejected": self.rejected, "divergent": self.divergent,
                "failed": self.failed,
                "seconds_per_fit": float(self.diagnostics["seconds"].median()),
                "summary": json.loads(table.to_json(orient="records"))}

    def __repr__(self) -> str:
        table = self.summary()
        worst = table["p_value"].idxmin() if table["p_value"].notna().any() else None
        lines = [f"bayescale.SBCResult  {self._label()}: {self.simulations} "
                 f"simulations, L = {self.n_draws}, {self.rejected} prior draws redrawn, "
                 f"{self.divergent} with divergences, {self.failed} failed"]
        if worst is not None:
            lines.append(f"  smallest uniformity p-value: {table.loc[worst, 'p_value']:.3g} "
                         f"({worst})")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- the worker
def _sample(spec: Mapping[str, Any], design: pd.DataFrame, seed: int,
            settings: Mapping[str, Any]) -> tuple[Any, Any]:
    """Posterior draws and diagnostics of one simulated data set (``bayescale.fit``; with
    nutpie the model compiled for the first simulation is reused by every later one)."""
    from .fit import fit

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
def _target_from_observed(model: Model, observed: np.ndarray,
                          extra: Mapping[str, np.ndarray]) -> np.ndarray:
    """Prior-predictive draws of the observed variable -> the target on its natural scale."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return model.likelihood.target_from_observed(observed, extra)


def _valid(model: Model, y: np.ndarray) -> np.ndarray:
    """Whether each simulated data set (rows of ``y``) is data the likelihood can take."""
    support = model.likelihood.target_support
    ok = np.isfinite(y)
    with np.errstate(invalid="ignore"):
        if support == "positive":
            ok &= y > 0
        elif support == "unit_closed":
            ok &= (y >= 0) & (y <= 1)
        elif support == "unit_open":
            ok &= (y > 0) & (y < 1)
    return ok.all(axis=-1)


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
    from .fit import choose_sampler

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
        y = _target_from_observed(sim_model, observed, sim_design.extra)
        ok = _valid(sim_model, y)
        params = prior["prior"]
        for i in range(batch):
            if len(targets) == simulations:
                break
            if not ok[i]:
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
    if executor is None:
        jobs: list[Any] = args
    else:
        jobs = [executor.submit(run_simulation, *a) for a in args]
    iterator: Any = range(simulations)
    if progressbar:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="SBC")
    results = [jobs[i].result() if executor is not None else run_simulation(*jobs[i])
               for i in iterator]

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
