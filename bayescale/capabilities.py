"""Latent capabilities: one Bayesian model of many benchmarks across model families.

Model ``m`` of family ``f = f(m)``, trained with compute ``C_m``, has a capability vector
``s_m`` (``K`` dimensions) drawn around its family's line in log compute:

    s_mk = a_fk + b_fk x_m + sigma_k e_mk,           x_m = log C_m - log C_ref
    a_fk = tau_a_k u_fk,   b_fk = beta_k + tau_b_k (rho_k u_fk + sqrt(1 - rho_k^2) z_fk)

with ``e``, ``u``, ``z`` standard normal (family intercept ``a`` and efficiency slope ``b``,
partially pooled across families; ``log C_ref`` the models' mean log compute). ``rho_k``,
the correlation of a family's intercept and slope (``line_correlation=True``, the default;
brms' ``(1 + x | family)``) frees the forecast from where ``C_ref`` lies: with ``rho = 0``
the prior has the families' lines spread least at ``C_ref``, an arbitrary point, and what a
family's smallest model says about its slope depends on it; with ``rho`` estimated the
data say where the lines come together (on the obsscaling table ``rho`` = -0.40, 89%
interval [-0.74, 0.02]: the families draw together slowly with compute). Benchmark ``b``
maps capabilities to accuracy

    eta_mb = c_b + d_fb + sum_k lambda_bk s_mk
    p_mb = g_mb + (1 - g_mb) h_b sigmoid(eta_mb)

with ``d_fb`` the family's own offset on the benchmark (``family_offsets=True``:
``d_f = r_f - L m_f``, ``r_fb = tau_d_b w_fb`` with ``w`` zero-sum over families, partially
pooled per benchmark, and ``L m_f`` the weighted least-squares fit of ``r_f`` on the
loadings' columns, weights ``1 / tau_d_b^2``): a code family scores above what its
capability says on HumanEval, below on commonsense tasks; as in the crossed family x
benchmark model and the family random effect of Cai, Maia Polo et al. 2025. Offsets in
proportion to the loadings are a change of the family's capability; left free they trade
with it along a ridge (max R-hat 1.016-1.043 in leave-one-family-out fits of 4 x 500 draws
on the obsscaling table). The fit removes that direction: ``sum_b lambda_bk d_fb / tau_d_b^2
= 0`` for every family and dimension, the point of each ridge line where the offsets are
smallest in units of their prior (an unweighted projection lets a code family's large
HumanEval offset move its capability and so its scores on every benchmark). ``g`` is the
benchmark's known floor (chance level, a data column; 0 for open-ended tasks) and ``h_b`` the
share of the way from the floor to 1 it can reach (its ceiling; 1 unless ``ceiling=True``).
Far below the ceiling ``p - g ~ (1 - g) exp(c_b + log h_b + lambda s)``: only ``c_b + log h_b``
is seen there, so with a ceiling the model samples that low-end logit and ``h_b`` in place of
``c_b`` (``c_b`` then follows), and ``h_b`` is left to the top of the curve (on the obsscaling
table, one seed each: 6 divergent transitions after the automatic refit instead of 35, the
same posterior of ``h``; not yet 0, so ``ceiling=False`` stays the default); the score is
observed through a likelihood of
:mod:`bayescale.likelihoods` on the benchmark's item count (Binomial, or Beta-Binomial with a
precision ``kappa_b`` per benchmark for scores that vary beyond binomial noise).

Identifiability: shifting, scaling or rotating ``s`` and undoing it in ``c`` and ``lambda``
leaves every ``p`` unchanged. The constraints that remove this, stated once:

- location: the families' intercepts sum to zero (``u`` zero-sum over families; ``c_b``
  free), so capability 0 is the average family's at ``log C_ref``;
- dimension 1 is capability in units of compute: the families' slopes average exactly
  ``beta_1 = 1`` (``z`` zero-sum too), so the average family gains one unit per e-fold of
  compute; this fixes its scale and sign, and ``lambda_b1`` is the benchmark's logit gain
  per e-fold for that family; ``sigma_1`` is estimated. (Tying dimension 1 to one anchor
  benchmark's logit scale instead, ``lambda = 1``, left the chains in different modes on
  the obsscaling table: R-hat 1.56 with MMLU as anchor.)
- dimensions ``k >= 2`` hold what compute does not: ``beta_k = 0`` and ``sigma_k = 1`` (their
  scale is a model's spread off its family's line); one anchor benchmark per dimension
  (``anchors``, default the first ``K - 1`` benchmarks) fixes sign and rotation: anchor
  ``j`` loads positively on dimension ``j + 1`` and not at all on later ones.

Capabilities and family effects are sampled non-centred (``s = line + sigma e``): on the
obsscaling table (119 models, 36 families, 8 benchmarks, K = 1) centred capabilities mixed
slowly, min bulk ESS 242 and R-hat 1.011 from 4 x 1,000 draws (the scale of ``s`` moves
with every loading), non-centred 1,112 and 1.007. :func:`log_score` is the model's one
definition of a score's mean: the PyMC model (:func:`build_capability_model`), predictions
and simulations all evaluate it.

A :class:`CapabilityFit` answers the questions: ``predict`` (a model of the fit, a new model
of a known family, a model of a family never seen, or a benchmark a model has not run when
the fit has that benchmark's scores for other models), ``family_efficiency`` (P(best)),
``loo`` (PSIS-LOO, to compare dimensions), ``save`` / ``load`` (netCDF or zarr).
:mod:`bayescale.observational` holds Ruan et al.'s PCA baseline and
:mod:`bayescale.capability_backtest` the leave-one-family-out and held-out-benchmark
backtests.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytensor.tensor as pt
import xarray as xr

from ._validate import (
    DataError,
    as_frame,
    check_columns,
    check_counts,
    check_positive,
    check_support,
    group_labels,
)
from .intervals import ci_probs, interval_columns
from .laws import log_bounded_sigmoid
from .likelihoods import Likelihood, get_likelihood
from .priors import DataScale, Prior

__all__ = ["Capabilities", "CapabilityData", "CapabilityFit", "log_score",
           "build_capability_model", "COLUMNS"]

#: the ``kind`` a saved :class:`CapabilityFit` declares in its metadata
KIND = "capabilities"

#: the data's columns, by role (``Capabilities(columns=...)`` maps them to yours)
COLUMNS = {"model": "model", "family": "family", "benchmark": "benchmark",
           "score": "accuracy", "compute": "C", "items": "trials", "floor": "chance"}

#: priors (capability dimension 1 in e-folds of compute, the others in units of a model's
#: spread off its family's line; module docstring)
PRIORS = {
    "tau_intercept": Prior("HalfNormal", sigma=1.0),   # families' spread at log C_ref
    "tau_slope": Prior("HalfNormal", sigma=0.5),       # families' spread of efficiency slopes
    # rho = tanh(z), z ~ Normal(0, 0.5): sd(rho) 0.42, near LKJ(2)'s 0.45 for two effects
    "atanh_line_correlation": Prior("Normal", mu=0.0, sigma=0.5),
    "sigma": Prior("HalfNormal", sigma=1.0),           # a model off its family's line (dim 1)
    "loading": Prior("Normal", mu=0.0, sigma=1.0),     # logit per unit of capability
    "log_anchor_loading": Prior("Normal", mu=0.0, sigma=1.0),
    "offset": Prior("Normal", mu=0.0, sigma=2.5),
    "tau_family_offset": Prior("HalfNormal", sigma=1.0),  # logit; per benchmark
    "logit_headroom": Prior("Normal", mu=2.5, sigma=1.5),  # ceilings near 1 (median 0.92)
}


def family_lines(tau_intercept: Any, tau_slope: Any, correlation: Any, mean_slope: Any,
                 u: Any, z: Any) -> tuple[Any, Any]:
    """Families' intercepts and slopes ``a = tau_a u``, ``b = beta + tau_b (rho u +
    sqrt(1 - rho^2) z)`` from standard normal ``u``, ``z`` (..., families, dims): per
    dimension the two are correlated by ``rho`` (numbers, arrays or tensors)."""
    v = correlation * u + (1 - correlation ** 2) ** 0.5 * z
    return tau_intercept * u, mean_slope + tau_slope * v


def offsets_beside_capability(raw: Any, loading: Any, scale: Any,
                              inverse: Any = np.linalg.inv) -> Any:
    """``d = raw - L m`` with ``m`` the weighted least-squares fit of each row of ``raw``
    (..., families, benchmarks) on the loadings ``L`` (..., benchmarks, dims), weights
    ``1 / scale^2`` (..., benchmarks): ``d = raw (I - W L (L'WL)^-1 L')``, so that
    ``sum_b L_bk d_fb / scale_b^2 = 0``; ``inverse`` a batched matrix inverse
    (``pt.linalg.inv`` for tensors)."""
    weighted = loading / scale[..., :, None] ** 2
    transposed = loading.swapaxes(-1, -2)
    return raw - raw @ (weighted @ inverse(transposed @ weighted) @ transposed)


def log_score(floor: Any, headroom: Any, offset: Any, loading: Any, capability: Any) -> Any:
    """``log p`` of a score: ``p = g + (1 - g) h sigmoid(c + sum_k lambda_k s_k)``, the
    capability dimensions on the last axis of ``loading`` and ``capability``."""
    eta = offset + (loading * capability).sum(axis=-1)
    return log_bounded_sigmoid(floor, headroom, eta)


@dataclass(frozen=True)
class CapabilityData:
    """Scores as the model sees them: per model its family and centred log compute, per row
    its model, benchmark, floor, item count and observed score."""

    models: tuple[str, ...]
    families: tuple[str, ...]
    benchmarks: tuple[str, ...]
    model_family: np.ndarray       # (models,) family code
    log_compute: np.ndarray        # (models,) log C - log_ref
    log_ref: float
    row_model: np.ndarray          # (rows,)
    row_benchmark: np.ndarray      # (rows,)
    floor: np.ndarray              # (rows,)
    items: np.ndarray              # (rows,)
    score: np.ndarray              # (rows,)

    @property
    def n_rows(self) -> int:
        return len(self.score)


@dataclass(frozen=True)
class Capabilities:
    """The latent-capability model (module docstring): ``dims`` capability dimensions, the
    ones after the first tied to ``anchors`` (benchmark names, default the first ``dims - 1``
    in the data); ``ceiling``: estimate each benchmark's headroom ``h_b`` (default: 1, scores
    rise towards 100%; a ceiling below is only identified where the data saturate);
    ``family_offsets``: each family's own offset per benchmark ``d_fb``;
    ``line_correlation``: estimate the correlation of the families' intercepts and slopes
    (else 0); a
    ``likelihood`` on item counts (``"beta_binomial"`` or ``"binomial"``), ``columns``
    mapping the roles of :data:`COLUMNS` to your column names, ``priors`` replacing those
    of :data:`PRIORS` by name."""

    dims: int = 1
    anchors: tuple[str, ...] | None = None
    ceiling: bool = False
    family_offsets: bool = False
    line_correlation: bool = True
    likelihood: str = "beta_binomial"
    columns: Mapping[str, str] = field(default_factory=dict)
    priors: Mapping[str, Prior] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.dims, bool) or not isinstance(self.dims, int) or self.dims < 1:
            raise ValueError(f"dims must be a whole number >= 1, got {self.dims!r}")
        lik = get_likelihood(self.likelihood)
        if lik.observed_as != "successes":
            raise ValueError(f"likelihood {lik.name!r} does not observe item counts; use "
                             "'beta_binomial' or 'binomial'")
        unknown = [k for k in self.columns if k not in COLUMNS]
        if unknown:
            raise ValueError(f"columns: unknown roles {unknown}; the roles are {list(COLUMNS)}")
        unknown = [k for k in self.priors if k not in PRIORS]
        if unknown:
            raise ValueError(f"priors: unknown names {unknown}; the names are {list(PRIORS)}")
        if self.anchors is not None:
            object.__setattr__(self, "anchors", tuple(self.anchors))
            n = self.dims - 1
            if len(self.anchors) != n or len(set(self.anchors)) != n:
                raise ValueError(f"anchors must name {n} different benchmarks (one per "
                                 f"dimension after the first), got {list(self.anchors)}")

    @property
    def mean_slope(self) -> np.ndarray:
        """``beta``: the families' mean slope per dimension (1, then 0s)."""
        return np.eye(self.dims)[0]

    def spreads(self, sigma_1: Any) -> Any:
        """``sigma`` per dimension, the last axis: ``sigma_1``, then 1s (numbers, arrays of
        shape (..., 1) or tensors)."""
        return sigma_1 * self.mean_slope + (1 - self.mean_slope)

    @property
    def lik(self) -> Likelihood:
        return get_likelihood(self.likelihood)

    def column(self, role: str) -> str:
        return self.columns.get(role, COLUMNS[role])

    def prior(self, name: str) -> Prior:
        return self.priors.get(name, PRIORS[name])

    # ------------------------------------------------------------------ data
    def encode(self, scores: Any) -> CapabilityData:
        """Validate the scores (one row per model and benchmark) and encode them."""
        df = as_frame(scores)
        col = self.column
        check_columns(df, [col(r) for r in COLUMNS], role="latent-capability scores")
        score = check_support(df, col("score"), "unit_closed", meaning="benchmark score")
        items = check_counts(df, col("items"), meaning="items scored per benchmark")
        compute = check_positive(df, col("compute"), meaning="training compute")
        floor = check_support(df, col("floor"), "unit_closed", meaning="the benchmark's floor")
        if (floor >= 1).any():
            raise DataError(f"column {col('floor')!r} (the benchmark's floor) must be below 1; "
                            f"found row {int(np.argmax(floor >= 1))}: 1")
        model = group_labels(df, col("model"))
        family = group_labels(df, col("family"))
        benchmark = group_labels(df, col("benchmark"))
        pairs = pd.Series(list(zip(model, benchmark, strict=True)))
        if pairs.duplicated().any():
            i = int(np.argmax(pairs.duplicated().to_numpy()))
            raise DataError(f"model {model.iloc[i]!r} has more than one score on benchmark "
                            f"{benchmark.iloc[i]!r} (row {i}); keep one row per pair")
        per_model = pd.DataFrame({"model": model, "family": family, "log_c": np.log(compute)})
        for what in ("family", "log_c"):
            varies = per_model.groupby("model")[what].nunique() > 1
            if varies.any():
                name = varies.index[varies.to_numpy()][0]
                label = col("family") if what == "family" else col("compute")
                raise DataError(f"model {name!r} has more than one value in column {label!r}; "
                                "a model has one family and one training compute")
        models = tuple(sorted(model.unique()))
        benchmarks = tuple(dict.fromkeys(benchmark))     # in order of appearance
        if len(benchmarks) <= self.dims:
            raise DataError(f"{self.dims} capability dimensions need more than {self.dims} "
                            f"benchmarks; the data have {list(benchmarks)}")
        anchors = self.anchors or benchmarks[:self.dims - 1]
        missing = [a for a in anchors if a not in benchmarks]
        if missing:
            raise DataError(f"anchors {missing} are not benchmarks in column "
                            f"{col('benchmark')!r} ({list(benchmarks)})")
        benchmarks = (*anchors, *(b for b in benchmarks if b not in anchors))
        first = per_model.drop_duplicates("model").set_index("model").loc[list(models)]
        families = tuple(sorted(first["family"].unique()))
        log_c = first["log_c"].to_numpy(dtype=float)
        return CapabilityData(
            models=models, families=families, benchmarks=benchmarks,
            model_family=pd.Categorical(first["family"], categories=families).codes.astype(
                np.int64),
            log_compute=log_c - log_c.mean(), log_ref=float(log_c.mean()),
            row_model=pd.Categorical(model, categories=models).codes.astype(np.int64),
            row_benchmark=pd.Categorical(benchmark, categories=benchmarks).codes.astype(
                np.int64),
            floor=floor, items=items, score=score)

    def simulate(self, rows: Any, truth: Mapping[str, Any], *, seed: int | None = None
                 ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """Scores drawn from the model at known parameters, for the rows' models and
        benchmarks (the score column may be absent): ``truth`` holds the families' lines
        ``intercept_by_family``, ``slope_by_family`` (families x dims, in the order of
        :meth:`encode`'s ``families``), ``sigma`` (dimension 1's; the others are 1),
        ``loadings`` (benchmarks x dims, in the encoded order: anchors first), ``offset``,
        ``family_offset`` (families x benchmarks) and ``tau_family_offset`` (per
        benchmark; with ``family_offsets=True``; the offsets' part along the loadings is
        removed, as in the model),
        ``headroom`` (with ``ceiling=True``) and the likelihood's parameters (per
        benchmark). Returns the rows with the score and the capabilities drawn, (models,
        dims), in the encoded order of models."""
        import pymc as pm

        rng = np.random.default_rng(seed)
        df = as_frame(rows).copy()
        df[self.column("score")] = 0.5          # a placeholder the encoding checks
        data = self.encode(df)
        t = {k: np.asarray(v, dtype=float) for k, v in truth.items()}
        needed = ["intercept_by_family", "slope_by_family", "sigma", "loadings", "offset",
                  *self.lik.aux, *(["tau_family_offset"] if "family_offset" in t else [])]
        missing = [k for k in needed if k not in t]
        if missing:
            raise ValueError(f"truth lacks {missing}; simulating these scores needs {needed}")
        fam = data.model_family
        capability = (t["intercept_by_family"][fam]
                      + t["slope_by_family"][fam] * data.log_compute[:, None]
                      + self.spreads(t["sigma"].ravel()[0])
                      * rng.standard_normal((len(data.models), self.dims)))
        b, m = data.row_benchmark, data.row_model
        headroom = t.get("headroom", np.ones(len(data.benchmarks)))
        family_offset = (offsets_beside_capability(t["family_offset"], t["loadings"],
                                                   t["tau_family_offset"])
                         if "family_offset" in t else np.zeros((len(data.families), len(
                             data.benchmarks))))
        log_p = log_score(data.floor, headroom[b], t["offset"][b] + family_offset[fam[m], b],
                          t["loadings"][b], capability[m])
        aux = {k: t[k][b] for k in self.lik.aux}
        draws = pm.draw(self.lik.dist(log_p, aux, {"trials": data.items}), random_seed=rng,
                        mode="FAST_COMPILE")   # (a few arrays: no compilation)
        df[self.column("score")] = np.asarray(draws) / data.items
        return df, capability

    # ------------------------------------------------------------------ fitting
    def fit(self, scores: Any, *, draws: int = 1000, tune: int = 1000, chains: int = 4,
            seed: int | None = None, target_accept: float = 0.9, refits: int = 1
            ) -> CapabilityFit:
        """Draw from the posterior by NUTS (numpyro); sampling problems are reported in
        ``diagnostics`` (:class:`bayescale.fit.Diagnostics`), never hidden. After divergent
        transitions or R-hat > 1.01 the model is sampled again (at most ``refits`` times)
        with twice the warm-up and the target acceptance raised halfway to 1 (0.9 -> 0.95:
        smaller steps through the families' slope spread, where the divergences of the
        14-benchmark obsscaling table sat); ``diagnostics.history`` says what each
        discarded run showed."""
        from .fit import RHAT_MAX, chain_method_for, check_sampling_args, diagnostics_of
        from .numpyro_nuts import sample_numpyro

        check_sampling_args(draws=draws, tune=tune, chains=chains,
                            target_accept=target_accept, seed=seed)
        if isinstance(refits, bool) or not isinstance(refits, int) or refits < 0:
            raise ValueError(f"refits must be a whole number >= 0, got {refits!r}")
        data = self.encode(scores)
        pm_model = build_capability_model(self, data)
        history: list[str] = []
        start = time.perf_counter()      # sampling_seconds: every attempt's
        for attempt in range(refits + 1):
            idata, _ = sample_numpyro(
                pm_model, draws=draws, tune=tune, chains=chains,
                seed=None if seed is None else seed + attempt, target_accept=target_accept,
                dense=population_names(pm_model),
                chain_method=chain_method_for(chains, data.n_rows), progressbar=False)
            diagnostics = dataclasses.replace(
                diagnostics_of(idata, "numpyro", time.perf_counter() - start,
                               named=list(PRIORS)),
                target_accept=target_accept, refits=attempt, history=tuple(history))
            problems = diagnostics.divergences > 0 or not diagnostics.max_rhat <= RHAT_MAX
            if not problems or attempt == refits:
                break
            history.append(f"attempt {attempt + 1}: target_accept {target_accept:g}, {tune} "
                           f"warm-up + {draws} draws per chain: {diagnostics.divergences} "
                           f"divergences, max R-hat {diagnostics.max_rhat:.3f}")
            target_accept, tune = (1 + target_accept) / 2, 2 * tune
        diagnostics.warn("bayescale capabilities")
        return CapabilityFit(spec=self, data=data, idata=idata, diagnostics=diagnostics)


#: variables with one value per model or family (a diagonal mass matrix); the benchmarks'
#: and the population's parameters share a dense block: the scale of the capabilities moves
#: all loadings together
PER_GROUP = ("capability_z", "intercept_z", "slope_z", "family_offset_z")


def population_names(pm_model: Any) -> list[str]:
    """Value variables of the dense block (all but :data:`PER_GROUP`)."""
    return [v.name for v in pm_model.value_vars if not v.name.startswith(PER_GROUP)]


def loading_slots(n_benchmarks: int, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (benchmarks, dims) masks of the loadings that are free and of those that are
    positive (anchor ``j``, the ``j``-th benchmark, on dimension ``j + 2``); the rest are 0:
    anchor ``j`` on dimensions after ``j + 2``."""
    free = np.ones((n_benchmarks, dims), dtype=bool)
    positive = np.zeros_like(free)
    for j in range(dims - 1):
        free[j, j + 1:] = False
        positive[j, j + 1] = True
    return free, positive


def build_capability_model(spec: Capabilities, data: CapabilityData) -> Any:
    """The PyMC model of the module docstring for ``data``."""
    import pymc as pm

    k, n_bench = spec.dims, len(data.benchmarks)
    free, positive = loading_slots(n_bench, k)
    coords = {"model": list(data.models), "family": list(data.families),
              "benchmark": list(data.benchmarks), "capability": [f"s{i + 1}" for i in range(k)],
              "free_loading": [f"{data.benchmarks[b]}:s{c + 1}" for b, c in zip(
                  *np.nonzero(free), strict=True)],
              "anchor": list(data.benchmarks[:k - 1]), "row": np.arange(data.n_rows)}
    lik = spec.lik
    with pm.Model(coords=coords) as model:
        row_model = pm.Data("row_model", data.row_model, dims="row")
        row_bench = pm.Data("row_benchmark", data.row_benchmark, dims="row")
        floor = pm.Data("floor", data.floor, dims="row")
        items = pm.Data("trials", data.items, dims="row")
        log_c = pm.Data("log_compute", data.log_compute, dims="model")
        fam = pm.Data("model_family", data.model_family, dims="model")

        def prior(name: str, **kwargs: Any) -> Any:
            return spec.prior(name).create(name, **kwargs)

        tau_a = prior("tau_intercept", dims="capability")
        tau_b = prior("tau_slope", dims="capability")
        # zero-sum over the families: their mean intercept is 0 and mean slope beta exactly
        # (PyMC sums to zero over the last axes)
        u = pm.ZeroSumNormal("intercept_z", sigma=1.0, dims=("capability", "family")).T
        z = pm.ZeroSumNormal("slope_z", sigma=1.0, dims=("capability", "family")).T
        rho = (pm.Deterministic("line_correlation", pt.tanh(prior(
            "atanh_line_correlation", dims="capability")), dims="capability")
            if spec.line_correlation else 0.0)
        a, b = family_lines(tau_a, tau_b, rho, spec.mean_slope, u, z)
        a = pm.Deterministic("intercept_by_family", a, dims=("family", "capability"))
        b = pm.Deterministic("slope_by_family", b, dims=("family", "capability"))
        sigma = spec.spreads(prior("sigma"))
        line = a[fam] + b[fam] * log_c[:, None]
        e = pm.Normal("capability_z", 0.0, 1.0, dims=("model", "capability"))
        s = pm.Deterministic("capability_value", line + sigma * e, dims=("model", "capability"))
        loading = pt.zeros((n_bench, k))
        loading = pt.set_subtensor(loading[np.nonzero(free)],
                                   prior("loading", dims="free_loading"))
        if k > 1:
            loading = pt.set_subtensor(loading[np.nonzero(positive)], pt.exp(
                prior("log_anchor_loading", dims="anchor")))
        loading = pm.Deterministic("loadings", loading, dims=("benchmark", "capability"))
        headroom = (pm.Deterministic("headroom", pm.math.sigmoid(
            prior("logit_headroom", dims="benchmark")), dims="benchmark") if spec.ceiling
            else pt.ones(n_bench))
        # with a ceiling, c_b + log h_b is the low end's logit (p - g ~ (1 - g) e^(c + log h
        # + lambda s) far below the ceiling): sampled in its place it leaves h_b to the top of
        # the curve instead of trading with c_b wherever the scores do not saturate
        offset = (pm.Deterministic("offset", spec.prior("offset").create(
            "offset_low_end", dims="benchmark") - pt.log(headroom), dims="benchmark")
            if spec.ceiling else prior("offset", dims="benchmark"))
        row_offset = offset[row_bench]
        if spec.family_offsets:
            w = pm.ZeroSumNormal("family_offset_z", sigma=1.0, dims=("benchmark", "family"))
            tau_d = prior("tau_family_offset", dims="benchmark")
            d = pm.Deterministic("family_offset", offsets_beside_capability(
                (tau_d[:, None] * w).T, loading, tau_d, pt.linalg.inv),
                dims=("family", "benchmark"))
            row_offset = row_offset + d[fam[row_model], row_bench]
        aux = {}
        for name, par in lik.aux.items():   # one per benchmark (kappa)
            raw = par.default_prior(DataScale(0.5, 0.5, 0.5)).create(
                par.sampling_name(name), dims="benchmark")
            aux[name] = pm.Deterministic(name, pt.exp(raw) if par.link == "log" else raw,
                                         dims="benchmark")
        log_p = log_score(floor, headroom[row_bench], row_offset, loading[row_bench],
                          s[row_model])
        observed = pm.Data("observed", lik.observed(data.score, {"trials": data.items}),
                           dims="row")
        lik.observe(log_p, {n: v[row_bench] for n, v in aux.items()}, observed,
                    {"trials": items}, dims="row")
    return model


@dataclass
class CapabilityFit:
    """A fitted latent-capability model: the draws (``idata``, an ArviZ DataTree),
    :class:`~bayescale.fit.Diagnostics`, and the questions of the module docstring."""

    spec: Capabilities
    data: CapabilityData
    idata: Any
    diagnostics: Any

    @property
    def posterior(self) -> Any:
        return self.idata["posterior"].dataset

    # ------------------------------------------------------------------ model criticism
    def log_likelihood(self) -> Any:
        """Pointwise log-likelihood of every score under every draw, dims (chain, draw,
        row), computed once and kept in ``idata``."""
        from .fit import log_likelihood_group

        return log_likelihood_group(self.idata,
                                    lambda: build_capability_model(self.spec, self.data))

    def loo(self) -> Any:
        """PSIS-LOO (arviz-stats) of the scores: ``elpd`` of a left-out (model, benchmark)
        score; compare fits with different ``dims`` on the same scores by it
        (``arviz_stats.compare({k: fit.idata})``), reading each fit's diagnostics first."""
        from arviz_stats import loo

        self.log_likelihood()
        return loo(self.idata, pointwise=True, var_name=self.spec.lik.observed_name)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Any, *, overwrite: bool = False) -> Any:
        """Save as netCDF (``.nc``) or zarr (``.zarr``), atomically, never pickle: the draws,
        and in the root's ``bayescale`` attribute the model's specification, the encoded
        data and the diagnostics (:meth:`load` reads it back; only a file bayescale saved is
        ever replaced, see :mod:`bayescale.io`)."""
        import json
        from dataclasses import asdict

        from .io import ATTR, write_tree

        data = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                for k, v in asdict(self.data).items()}
        meta = {"kind": KIND, "spec": {
            "dims": self.spec.dims, "anchors": self.spec.anchors, "ceiling": self.spec.ceiling,
            "family_offsets": self.spec.family_offsets,
            "offsets_beside_capability": True,
            "line_correlation": self.spec.line_correlation,
            "likelihood": self.spec.likelihood, "columns": dict(self.spec.columns),
            "priors": {k: v.to_dict() for k, v in self.spec.priors.items()}},
            "data": data, "diagnostics": asdict(self.diagnostics)}
        tree = self.idata.copy()
        tree.attrs = {**tree.attrs, ATTR: json.dumps(meta, default=float)}
        return write_tree(tree, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Any) -> CapabilityFit:
        """A fit saved by :meth:`save`; draws, predictions and diagnostics identical."""
        from .fit import Diagnostics
        from .io import FitFileError, read_tree

        tree, meta = read_tree(path)
        if meta.get("kind") != KIND:
            raise FitFileError(f"{path} is not a latent-capability fit; load a scaling-law "
                               "fit with bayescale.load")
        spec = meta["spec"]
        if spec.get("family_offsets") and not spec.get("offsets_beside_capability"):
            raise FitFileError(f"{path} holds a fit whose family offsets were not yet made "
                               "orthogonal to the loadings (bayescale before 2026-12-07); "
                               "this version's predictions for new families would not match "
                               "it: fit the scores again")
        spec = Capabilities(
            dims=spec["dims"], anchors=None if spec["anchors"] is None else tuple(
                spec["anchors"]), ceiling=spec["ceiling"],
            family_offsets=spec.get("family_offsets", False),
            line_correlation=spec.get("line_correlation", False), likelihood=spec["likelihood"],
            columns=spec["columns"],
            priors={k: Prior.from_dict(v) for k, v in spec["priors"].items()})
        d = meta["data"]
        data = CapabilityData(**{k: tuple(v) if k in ("models", "families", "benchmarks")
                                 else (np.asarray(v) if isinstance(v, list) else v)
                                 for k, v in d.items()})
        diag = meta["diagnostics"]
        diagnostics = Diagnostics(**{k: tuple(v) if isinstance(v, list) else v
                                     for k, v in diag.items()})
        posterior = tree["posterior"].dataset
        if spec.ceiling and "offset_low_end" not in posterior:
            # saved before the low end's logit was sampled (2026-12-08): the same quantity,
            # derived in memory (the file is not touched) for the model's log-likelihood
            tree["posterior"] = xr.DataTree(posterior.assign(
                offset_low_end=posterior["offset"] + np.log(posterior["headroom"])))
        return cls(spec=spec, data=data, idata=tree, diagnostics=diagnostics)

    def _flat(self, name: str) -> np.ndarray:
        v = self.posterior[name]
        return v.values.reshape(v.sizes["chain"] * v.sizes["draw"], *v.shape[2:])

    def summary(self, var_names: Sequence[str] | None = None, ci_prob: float | None = None
                ) -> pd.DataFrame:
        """arviz-stats summary of the named variables (default: the benchmarks' loadings,
        offsets, headrooms and precisions, and the families' spreads and line correlation)."""
        from arviz_stats import summary

        if var_names is None:
            var_names = [v for v in ("loadings", "offset", "headroom", *self.spec.lik.aux,
                                     "sigma", "tau_intercept", "tau_slope",
                                     "line_correlation")
                         if v in self.posterior]
        return summary(self.idata, var_names=list(var_names), ci_prob=ci_prob)

    def predict(self, rows: Any, *, ci_prob: float | Sequence[float] | None = None,
                seed: int | None = None, kind: Literal["summary", "draws"] = "summary"
                ) -> pd.DataFrame | np.ndarray:
        """Scores of ``rows`` (columns: benchmark, floor, and either a model of the fit, or
        family and compute for a model not in it; items for a new observation).

        A model of the fit uses its capability draws; a new model of a known family
        ``s = a_f + b_f x + sigma e`` (``e`` drawn once per model and posterior draw, shared
        by its rows; rows without a model name are one model per family and compute); a
        model of a family not in the fit draws the family's intercept and slope from the
        population (one draw per new family and posterior draw, shared by its rows).
        Summary columns ``curve_*`` (the mean score ``p``) and ``obs_*`` (a new observation:
        successes / items, NaN without an items column); ``kind="draws"`` gives the ``p``
        draws, (samples, rows)."""
        probs = ci_probs(ci_prob)
        df = as_frame(rows)
        col = self.spec.column
        rng = np.random.default_rng(seed)
        check_columns(df, [col("benchmark"), col("floor")], role="rows to predict")
        floor = check_support(df, col("floor"), "unit_closed", meaning="the benchmark's floor")
        bench = group_labels(df, col("benchmark"))
        unknown = sorted(set(bench) - set(self.data.benchmarks))
        if unknown:
            raise DataError(f"benchmarks {unknown} are not in the fit "
                            f"({list(self.data.benchmarks)}); fit with some of their scores")
        b = pd.Categorical(bench, categories=self.data.benchmarks).codes
        s = self._capabilities(df, rng)                       # (samples, rows, K)
        offset = self._flat("offset")[:, b] + self._family_offsets(df, b, rng)
        log_p = log_score(floor[None, :], self._headroom()[:, b], offset,
                          self._flat("loadings")[:, b, :], s)
        p = np.exp(log_p.eval(mode="FAST_COMPILE"))
        if kind == "draws":
            return p
        out = df.copy()
        for name, values in interval_columns(p, probs, "curve").items():
            out[name] = values
        obs = np.full(p.shape, np.nan)
        if col("items") in df.columns:
            import pymc as pm

            n = check_counts(df, col("items"), meaning="items scored per benchmark")
            aux = {k: self._flat(k)[:, b] for k in self.spec.lik.aux}
            dist = self.spec.lik.dist(pt.as_tensor_variable(np.log(p)), aux, {"trials": n})
            obs = pm.draw(dist, random_seed=rng, mode="FAST_COMPILE") / n
        for name, values in interval_columns(obs, probs, "obs").items():
            out[name] = values
        return out

    def _capabilities(self, df: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """Capability draws (samples, rows, K) of the rows' models (module docstring)."""
        col = self.spec.column
        samples = self._flat("sigma").shape[0]
        k = self.spec.dims
        known = self._flat("capability_value")               # (samples, models, K)
        out = np.empty((samples, len(df), k))
        model, in_fit = self._models_in_fit(df)
        if in_fit.any():
            codes = pd.Categorical(model[in_fit], categories=self.data.models).codes
            out[:, in_fit] = known[:, codes]
        if (~in_fit).any():
            new = df.loc[~in_fit]
            check_columns(new, [col("family"), col("compute")],
                          role="rows of models not in the fit")
            x = np.log(check_positive(new, col("compute"), meaning="training compute")) \
                - self.data.log_ref
            family = group_labels(new, col("family"))
            a, b = self._flat("intercept_by_family"), self._flat("slope_by_family")
            lines = {}
            for f in family.unique():
                if f in self.data.families:
                    i = self.data.families.index(f)
                    lines[f] = (a[:, i], b[:, i])
                else:   # a new family: its own draw from the population
                    lines[f] = family_lines(
                        self._flat("tau_intercept"), self._flat("tau_slope"),
                        self._flat("line_correlation") if self.spec.line_correlation else 0.0,
                        self.spec.mean_slope, rng.standard_normal((samples, k)),
                        rng.standard_normal((samples, k)))
            sigma = self.spec.spreads(self._flat("sigma").reshape(-1, 1))
            # one capability draw per new model, shared by its rows (its benchmarks); rows
            # without a model name are a model each of their family and compute
            names = model[~in_fit].to_numpy()
            named = pd.DataFrame({"model": names, "x": x}).dropna(subset=["model"])
            mixed = named.groupby("model")["x"].nunique()
            if (mixed > 1).any():
                raise DataError(f"models {sorted(mixed.index[mixed > 1])} have more than one "
                                f"'{col('compute')}' in the rows to predict; a model has one "
                                f"training compute")
            keys = [(f, xj) if name is None else name
                    for name, f, xj in zip(names, family, x, strict=True)]
            drawn: dict[Any, np.ndarray] = {}
            for row, key, f, xj in zip(np.flatnonzero(~in_fit), keys, family, x, strict=True):
                if key not in drawn:
                    a_f, b_f = lines[f]
                    drawn[key] = a_f + b_f * xj + sigma * rng.standard_normal((samples, k))
                out[:, row] = drawn[key]
        return out

    def _models_in_fit(self, df: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
        """The rows' models (None without a model column) and which of them the fit has."""
        col = self.spec.column
        model = (group_labels(df, col("model")) if col("model") in df.columns
                 else pd.Series([None] * len(df)))
        return model, model.isin(self.data.models).to_numpy()

    def _row_families(self, df: pd.DataFrame) -> pd.Series:
        """Each row's family: its model's in the fit, else the row's ``family`` column."""
        col = self.spec.column
        model, in_fit = self._models_in_fit(df)
        known = dict(zip(self.data.models, np.asarray(self.data.families)[
            self.data.model_family], strict=True))
        out = pd.Series([known.get(m) for m in model], dtype=object)
        if (~in_fit).any():
            check_columns(df.loc[~in_fit], [col("family")], role="rows of models not in the fit")
            out[~in_fit] = group_labels(df.loc[~in_fit], col("family")).to_numpy()
        return out

    def _family_offsets(self, df: pd.DataFrame, bench: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
        """``d_fb`` draws (samples, rows), 0 without ``family_offsets``; a family not in the
        fit draws its own from the population (one per family, benchmark and draw)."""
        if not self.spec.family_offsets:
            return np.zeros((1, len(df)))
        d = self._flat("family_offset")                      # (samples, families, benchmarks)
        tau = self._flat("tau_family_offset")                # (samples, benchmarks)
        loadings = self._flat("loadings")                    # (samples, benchmarks, dims)
        family = self._row_families(df)
        out = np.empty((d.shape[0], len(df)))
        for f in family.unique():
            rows = np.flatnonzero((family == f).to_numpy())
            if f in self.data.families:
                by_bench = d[:, self.data.families.index(f), :]
            else:
                by_bench = offsets_beside_capability(
                    (tau * rng.standard_normal(tau.shape))[:, None, :], loadings, tau)[:, 0, :]
            out[:, rows] = by_bench[:, bench[rows]]
        return out

    def _headroom(self) -> np.ndarray:
        """(samples or 1, benchmarks): the estimated headrooms, or 1s."""
        if self.spec.ceiling:
            return self._flat("headroom")
        return np.ones((1, len(self.data.benchmarks)))

    def family_efficiency(self, dim: int = 0, ci_prob: float | None = None) -> pd.DataFrame:
        """Each family's capability at the reference compute (``a_f``, dimension ``dim``)
        and slope per e-fold (``b_f``), with ``P(best)``: the share of draws in which the
        family has the highest capability at the reference compute."""
        (prob,) = ci_probs(ci_prob)
        a = self._flat("intercept_by_family")[:, :, dim]
        b = self._flat("slope_by_family")[:, :, dim]
        best = np.bincount(a.argmax(axis=1), minlength=a.shape[1]) / a.shape[0]
        out = pd.DataFrame({"family": self.data.families})
        for name, draws in (("intercept", a), ("slope", b)):
            for key, values in interval_columns(draws, [prob], name).items():
                out[key] = values
        out["prob_best"] = best
        return out.sort_values("intercept_median", ascending=False, ignore_index=True)
