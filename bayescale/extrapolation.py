"""Extrapolation risk: the law being wrong beyond the data.

Noise and parameter uncertainty do not cover a law that bends away from the data beyond the
largest run. On the link scale (``log L`` for losses, ``logit L`` for bounded metrics) a
prediction ``s`` e-folds of scale beyond the data gets a discrepancy

    delta = d * b,   b ~ Normal(mu, tau^2),   d = max(0, log s - log s_max(group))

where ``s`` is the run's scale (compute ``N * D`` when the law takes ``N`` and ``D``, else
``C``, else its first input) and ``s_max`` the largest scale of that group in the fit (of all
runs for a group the fit has not seen). ``mu`` is a drift (a bend the law lacks: errors that
keep one sign as the distance grows), ``tau`` a spread; one slope ``b`` is drawn per posterior
draw and group, so a group's predictions move together and groups deviate from each other.
The variance grows as ``tau^2 d^2``; inside the data (``d = 0``) nothing changes.

``mu`` and ``tau`` are learned, not guessed:

* **leave-future-out** on the fit's own data: refit on the runs below a rolling origin (the
  lower 55%, 70% and 85% of the fit's log-scale range) and score the later runs. In fold
  ``f`` the residuals ``e = link(y) - E[link L]`` of the scored runs of all groups are
  ``e ~ Normal(d mu, S + tau^2 sum_g d_g d_g')``, ``d_g`` group ``g``'s distances (zero on
  other groups' runs: a slope per group) and ``S`` the fold's predictive covariance over all
  of them (parameters: the curve draws' covariance, which correlates groups through shared
  parameters; noise: the robust variance, ``(IQR / 1.349)^2``, of each observation draw
  minus its curve draw). Folds overlap (a late run is scored by several origins), so each
  fold's log-likelihood counts ``1 / folds``.
* **the published record** (:class:`Record`): the same blocks, computed once on every shipped
  data set and each of Revisiting Neural Scaling Laws' curves, give an empirical prior
  ``mu ~ Normal(m_mu, s_mu)``, ``log tau ~ Normal(m_tau, s_tau)`` fitted by marginal likelihood
  across data sets (each data set weighs 1, whatever its number of curves). Evaluated
  leave-one-data-set-out: ``Record.prior(exclude=...)`` learns without that data set.

The posterior of ``(mu, tau)`` is computed on a grid (deterministic; no sampling).
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from ._validate import DataError
from .hierarchy import group_keys, nested_parts, top_columns
from .intervals import eti_bounds, interval_score
from .likelihoods import MEASUREMENT_ERROR

if TYPE_CHECKING:
    from .fit import Fit
    from .model import Model

__all__ = ["ExtrapolationPrior", "ExtrapolationRisk", "Record", "log_scale", "scale_label",
           "link_values", "distances", "largest_scale", "training_frame", "leave_future_out",
           "fit_folds", "learn_risk", "block_stats", "robust_variance", "record_prior",
           "top_keys", "UnitMarginals", "ORIGINS", "LFO_SAMPLING"]

#: rolling origins: share of the fit's log-scale range the fold trains on
ORIGINS = (0.55, 0.70, 0.85)
#: NUTS settings of the leave-future-out refits (only predictive means and covariances are
#: needed from them, so no refits after sampling problems)
LFO_SAMPLING = {"draws": 400, "tune": 400, "chains": 2, "refits": 0}

# grid of (mu, log tau): mu to +-1.5 per e-fold, finest (1e-3) near 0; tau from 1e-4 to 1
MU = 1e-3 * np.sinh(np.linspace(-np.arcsinh(1500.0), np.arcsinh(1500.0), 241))
LOG_TAU = np.linspace(np.log(1e-4), np.log(1.0), 93)
_LOG_DMU = np.log(np.gradient(MU))


# ---------------------------------------------------------------------- distances and links
def log_scale(model: Model, frame: pd.DataFrame) -> np.ndarray:
    """Log of each run's scale: ``log N + log D`` (compute up to a constant) when the law
    takes ``N`` and ``D``, else ``log C``, else the log of the law's first input."""
    inputs = model.law.inputs
    if {"N", "D"} <= set(inputs):
        return np.log(frame["N"].to_numpy(dtype=float)) + np.log(frame["D"].to_numpy(dtype=float))
    name = "C" if "C" in inputs else inputs[0]
    return np.log(frame[name].to_numpy(dtype=float))


def scale_label(model: Model) -> str:
    inputs = model.law.inputs
    return "compute (N x D)" if {"N", "D"} <= set(inputs) else ("C" if "C" in inputs
                                                                 else inputs[0])


def link_values(model: Model, values: np.ndarray, trials: np.ndarray | None = None
                ) -> np.ndarray:
    """Values of the target on the link scale (proportions kept half an item, or 1e-4, from
    0 and 1 so that observed 0 or 1 stay finite)."""
    values = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if model.likelihood.link == "log":
            return np.log(values)
        eps = 0.5 / trials if trials is not None else 1e-4
        p = np.clip(values, eps, 1 - eps)
        return np.log(p) - np.log1p(-p)


def top_keys(model: Model, frame: pd.DataFrame) -> pd.Series:
    return group_keys(frame, top_columns(model.grouping_columns))


def training_frame(model: Model, design: Any) -> pd.DataFrame:
    """The fitted runs as a data frame (inputs, target, likelihood columns, group labels)."""
    out = {k: np.exp(v) for k, v in design.log_x.items()}
    out[model.target] = design.y
    out.update({k: v for k, v in design.extra.items() if k != MEASUREMENT_ERROR})
    out.update({model.fixed_columns[p]: v for p, v in design.constants.items()})
    me = model.measurement_error
    if me is not None:  # columns that give back the fitted observed-scale errors exactly
        m, y = design.extra[MEASUREMENT_ERROR], design.y
        log = model.likelihood.observed_as == "log"
        if me.se is not None:
            out[me.se] = m * y if me.relative(model.likelihood) else m
        else:
            out[me.lo] = y * np.exp(-me.z * m) if log else y - me.z * m
            out[me.hi] = y * np.exp(me.z * m) if log else y + me.z * m
    for col in model.grouping_columns:
        labels = np.asarray(design.levels[col], dtype=object)[design.codes[col]]
        if "/" in col:
            parts = nested_parts(col)
            split = [str(v).split("/") for v in labels]
            for i, part in enumerate(parts):
                out.setdefault(part, np.array([s[i] for s in split], dtype=object))
        else:
            out[col] = labels
    return pd.DataFrame(out)


def distances(model: Model, train: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    """``d = max(0, log s - log s_max)`` per row of ``frame``: e-folds of scale beyond the
    largest training run of the row's group (of all training runs for an unseen group)."""
    return np.maximum(0.0, log_scale(model, frame) - largest_scale(model, train, frame))


def largest_scale(model: Model, train: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    """``log s_max`` per row of ``frame``: the log scale of the largest training run of the
    row's group, of all training runs for a group the training runs lack."""
    train_scale = log_scale(model, train)
    top = pd.Series(train_scale).groupby(top_keys(model, train).to_numpy()).max()
    keys = top_keys(model, frame).to_numpy()
    return np.array([top.get(k, train_scale.max()) for k in keys], dtype=float)


# ---------------------------------------------------------------------- blocks and grids
def block_stats(e: np.ndarray, d: np.ndarray, cov: np.ndarray, weight: float,
                groups: np.ndarray | None = None) -> dict[str, Any]:
    """Sufficient statistics of one block ``e ~ Normal(d mu, S + tau^2 sum_g d_g d_g')``,
    ``d_g`` the distances of group ``g``'s rows (zero elsewhere; one group without
    ``groups``): ``Q = e'S^-1 e``, ``B = d'S^-1 e``, ``a = d'S^-1 d``, ``log|S|``, ``n``,
    ``weight``. With several groups, ``A = D'S^-1 D = V diag(lam) V'`` (``D``: the ``d_g``
    as columns) and the projections ``p = V'D'S^-1 e``, ``q = V'A 1`` (lists)."""
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(len(e)))
    we, wd = np.linalg.solve(chol, e), np.linalg.solve(chol, d)
    stats: dict[str, Any] = {"Q": float(we @ we), "B": float(wd @ we), "a": float(wd @ wd),
                             "logdet": float(2 * np.log(np.diag(chol)).sum()),
                             "n": float(len(e)), "weight": float(weight),
                             "max_d": float(d.max())}
    labels = np.unique(np.asarray(groups, dtype=str)) if groups is not None else ()
    if len(labels) > 1:
        columns = np.asarray(groups, dtype=str)[:, None] == labels[None, :]
        wD = np.linalg.solve(chol, columns * d[:, None])
        lam, vec = np.linalg.eigh(wD.T @ wD)
        stats |= {"lam": np.maximum(lam, 0.0).tolist(), "p": (vec.T @ (wD.T @ we)).tolist(),
                  "q": (vec.T @ (wD.T @ wd)).tolist()}
    return stats


def grid_loglik(blocks: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Weighted log-likelihood of the blocks on the (mu, log tau) grid: Woodbury on the
    sufficient statistics, ``|S + tau^2 D D'| = |S| prod_k (1 + tau^2 lam_k)`` and
    ``r'(S + tau^2 D D')^-1 r = r'S^-1 r - tau^2 sum_k (p_k - mu q_k)^2 / (1 + tau^2 lam_k)``
    for ``r = e - d mu`` (one group: ``lam = a``, ``p = B``, ``q = a``, Sherman-Morrison)."""
    mu, t2 = MU[:, None], np.exp(2 * LOG_TAU)[None, :]
    total = np.zeros((len(MU), len(LOG_TAU)))
    for b in blocks:
        if "lam" in b:
            lam, p, q = (np.asarray(b[k], dtype=float) for k in ("lam", "p", "q"))
        else:
            lam, p, q = np.array([b["a"]]), np.array([b["B"]]), np.array([b["a"]])
        one = 1 + t2[..., None] * lam                      # (mu, tau, eigenvalue)
        quad = (b["Q"] - 2 * mu * b["B"] + mu**2 * b["a"]
                - (t2[..., None] * (p - mu[..., None] * q)**2 / one).sum(axis=-1))
        total += -0.5 * b["weight"] * (b["n"] * np.log(2 * np.pi) + b["logdet"]
                                       + np.log(one).sum(axis=-1) + quad)
    return total


@dataclass(frozen=True)
class ExtrapolationPrior:
    """Prior of the discrepancy's slope: ``mu ~ Normal(drift_mean, drift_sd)`` (per e-fold
    of scale, on the link scale), ``log tau ~ Normal(log spread_median, spread_log_sd)``."""

    drift_mean: float = 0.0
    drift_sd: float = 0.02
    spread_median: float = 0.01
    spread_log_sd: float = 1.0
    source: str = "user"

    def __post_init__(self) -> None:
        for name in ("drift_sd", "spread_median", "spread_log_sd"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"ExtrapolationPrior.{name} must be a positive number, "
                                 f"got {value!r}")

    def log_density(self) -> np.ndarray:
        """Log prior mass of each grid cell."""
        lm = -0.5 * ((MU - self.drift_mean) / self.drift_sd) ** 2 + _LOG_DMU
        lt = -0.5 * ((LOG_TAU - np.log(self.spread_median)) / self.spread_log_sd) ** 2
        return lm[:, None] + lt[None, :]


def _normalised(log_mass: np.ndarray) -> np.ndarray:
    top = log_mass.max()
    mass = np.exp(log_mass - top)
    return mass / mass.sum()





# ---------------------------------------------------------------------- the record
class UnitMarginals:
    """``log sum_cells exp(loglik_u + log prior)`` for every unit ``u`` at once, the prior
    normalised over the grid. The likelihoods are exponentiated once, relative to each
    unit's maximum, so a prior costs one matrix-vector product; a unit whose sum underflows
    (its likelihood sits where the prior has no mass in double precision) falls back to
    ``logsumexp``."""

    def __init__(self, loglik: np.ndarray) -> None:
        self.loglik = loglik                                  # (units, grid cells)
        self.top = loglik.max(axis=1)
        self.likelihood = np.exp(loglik - self.top[:, None])

    def __call__(self, log_prior: np.ndarray) -> np.ndarray:
        log_prior = log_prior - logsumexp(log_prior)
        peak = log_prior.max()
        total = self.likelihood @ np.exp(log_prior - peak)
        out = np.log(np.where(total > 0, total, 1.0)) + peak + self.top
        low = total < 1e-250
        if low.any():
            out[low] = logsumexp(self.loglik[low] + log_prior[None], axis=1)
        return out


@dataclass
class Record:
    """Leave-future-out blocks of published data sets (``data/extrapolation_record.csv``):
    one row per block with its data set, unit (curve), link and :func:`block_stats`."""

    blocks: pd.DataFrame

    FILE = "extrapolation_record.csv"

    @classmethod
    def load(cls) -> Record:
        from .datasets.registry import data_dir

        path = data_dir() / cls.FILE
        if not path.exists():
            raise FileNotFoundError(f"the extrapolation record {path} is missing; reinstall "
                                    "bayescale or run benchmarks/extrapolation_record.py")
        return cls(pd.read_csv(path))

    @property
    def datasets(self) -> list[str]:
        return sorted(self.blocks["dataset"].unique())

    def prior(self, *, exclude: Sequence[str] | str = (), link: str = "log"
              ) -> ExtrapolationPrior:
        """Empirical prior fitted by marginal likelihood over the record's units (each data
        set weighs 1), without the data sets in ``exclude``; units of the same ``link``
        when at least two data sets have it, else all."""
        from scipy.optimize import minimize

        rows = self.rows(exclude=exclude, link=link)
        if rows.empty:
            raise ValueError("the record has no data sets left to learn a prior from")
        groups = list(rows.groupby(["dataset", "unit"]))
        loglik = np.stack([grid_loglik(part.to_dict("records")).ravel()
                           for _, part in groups])
        per_dataset = rows.groupby("dataset")["unit"].nunique()
        weights = np.array([1.0 / per_dataset[ds] for (ds, _), _ in groups])
        marginal = UnitMarginals(loglik)

        def prior_of(theta: np.ndarray) -> ExtrapolationPrior:
            return ExtrapolationPrior(theta[0], max(np.exp(theta[1]), 2e-3),
                                      np.exp(theta[2]), max(np.exp(theta[3]), 0.25),
                                      source="record")

        def objective(theta: np.ndarray) -> float:
            return -float(weights @ marginal(prior_of(theta).log_density().ravel()))

        start = np.array([0.0, np.log(0.02), np.log(0.01), 0.0])
        best = minimize(objective, start, method="Nelder-Mead",
                        options={"xatol": 1e-3, "fatol": 1e-4, "maxiter": 600})
        prior = prior_of(best.x)
        used = sorted(rows["dataset"].unique())
        return ExtrapolationPrior(prior.drift_mean, prior.drift_sd, prior.spread_median,
                                  prior.spread_log_sd,
                                  source=f"record ({len(used)} data sets: {', '.join(used)})")

    def rows(self, *, exclude: Sequence[str] | str = (), link: str = "log") -> pd.DataFrame:
        """The blocks a prior for ``link`` learns from: without ``exclude``, of that link
        when at least two data sets have it, else of every link."""
        exclude = {exclude} if isinstance(exclude, str) else set(exclude)
        rows = self.blocks[~self.blocks["dataset"].isin(exclude)]
        same = rows[rows["link"] == link]
        return same if same["dataset"].nunique() >= 2 else rows

    def max_distance(self, *, exclude: Sequence[str] | str = (), link: str = "log") -> float:
        """The largest distance the blocks of :meth:`rows` score."""
        rows = self.rows(exclude=exclude, link=link)
        return float(rows["max_d"].max()) if len(rows) else 0.0


@functools.lru_cache(maxsize=8)
def record_prior(exclude: tuple[str, ...] = (), link: str = "log"
                 ) -> tuple[ExtrapolationPrior, float]:
    """The shipped record's prior (:meth:`Record.prior`) and the largest distance it
    covers, without the data sets in ``exclude``; computed once per process."""
    record = Record.load()
    return (record.prior(exclude=exclude, link=link),
            record.max_distance(exclude=exclude, link=link))


# ---------------------------------------------------------------------- leave-future-out
@dataclass
class Fold:
    """One rolling origin: the scored runs' distances, residuals, groups and draws."""

    origin: float
    n_train: int
    d: np.ndarray
    e: np.ndarray
    groups: np.ndarray
    cov: np.ndarray
    link_obs: np.ndarray           # (samples, scored runs): observation draws, link scale
    link_y: np.ndarray
    divergences: int
    rows: np.ndarray               # scored runs' positions in the frame leave_future_out took

    def blocks(self, weight: float, *, joint: bool = True) -> list[dict[str, Any]]:
        """The fold's scored runs beyond the origin as blocks of weight ``weight``: one
        block over all groups with the fold's full predictive covariance (groups share
        parameters, so their errors are correlated; each group keeps its own slope), or
        with ``joint=False`` one block per group (the record's format)."""
        beyond = self.d > 0
        if joint and beyond.any():
            idx = np.flatnonzero(beyond)
            return [block_stats(self.e[idx], self.d[idx], self.cov[np.ix_(idx, idx)], weight,
                                self.groups[idx])]
        groups = [np.flatnonzero((self.groups == g) & beyond) for g in np.unique(self.groups)]
        return [block_stats(self.e[idx], self.d[idx], self.cov[np.ix_(idx, idx)], weight)
                for idx in groups if len(idx)]


def robust_variance(x: np.ndarray) -> np.ndarray:
    """``(IQR / 1.349)^2`` per column (the variance of a normal with that interquartile
    range), robust to the heavy tails of Student-t draws."""
    q75, q25 = np.percentile(x, [75, 25], axis=0)
    return ((q75 - q25) / 1.349) ** 2


def _fold(model: Model, train: pd.DataFrame, future: pd.DataFrame, origin: float, seed: int,
          sampling: Mapping[str, Any]) -> Fold | None:
    from .build import canonical_frame

    cols = top_columns(model.grouping_columns)
    if cols:  # score only groups the fold has data on; keep groups big enough to fit
        for col in model.grouping_columns:
            if "/" in col:
                continue
            counts = train[col].astype(str).value_counts()
            keep = set(counts[counts >= model.min_group_size].index)
            train = train[train[col].astype(str).isin(keep)]
            future = future[future[col].astype(str).isin(keep)]
    n_free = sum(1 for p in model.params if p not in model.fixed)
    if len(train) < max(2 * n_free, 8) or future.empty:
        return None
    try:
        fit = model.fit(train.reset_index(drop=True), seed=seed, progressbar=False, warn=False,
                        **sampling)
    except (DataError, ValueError):
        return None
    frame = canonical_frame(model, future, need_target=False)
    tree = fit.predict(future, kind="draws", seed=seed, extrapolation=False)
    curve, obs = (tree["predictions"][v].transpose("chain", "draw", "row").values
                  .reshape(-1, len(future)) for v in ("curve", "obs"))
    trials = frame["trials"].to_numpy(dtype=float) if "trials" in frame.columns else None
    link_curve = link_values(model, curve, trials)
    link_obs = link_values(model, obs, trials)
    link_y = link_values(model, frame[model.target].to_numpy(dtype=float), trials)
    finite = np.isfinite(link_curve).all(axis=0) & np.isfinite(link_y)
    noise = robust_variance(link_obs - link_curve)
    centred = link_curve - link_curve.mean(axis=0)
    cov = centred.T @ centred / max(len(centred) - 1, 1) + np.diag(noise)
    keep = np.flatnonzero(finite)
    return Fold(origin, len(train), distances(model, train, future)[keep],
                (link_y - link_curve.mean(axis=0))[keep],
                top_keys(model, future).to_numpy()[keep], cov[np.ix_(keep, keep)],
                link_obs[:, keep], link_y[keep], fit.diagnostics.divergences,
                future.index.to_numpy()[keep])


def leave_future_out(model: Model, data: pd.DataFrame, *, origins: Sequence[float] = ORIGINS,
                     seed: int = 0, sampling: Mapping[str, Any] | None = None) -> list[Fold]:
    """Refit ``model`` on the runs below each rolling origin (a share of the data's
    log-scale range) and score the runs beyond it; origins without enough runs are skipped.
    Each fold's ``rows`` are positions in ``data``."""
    data = data.reset_index(drop=True)
    scale = log_scale(model, data)
    lo, hi = scale.min(), scale.max()
    folds = []
    for k, share in enumerate(origins):
        cut = lo + share * (hi - lo)
        fold = _fold(model, data[scale <= cut], data[scale > cut], share, seed + k,
                     {**LFO_SAMPLING, **(sampling or {})})
        if fold is not None and len(fold.e):
            folds.append(fold)
    return folds


def fit_folds(fit: Fit, *, origins: Sequence[float] = ORIGINS, seed: int = 0,
              sampling: Mapping[str, Any] | None = None) -> list[Fold]:
    """:func:`leave_future_out` on the fit's own runs (:func:`training_frame`), refitted
    once per ``(origins, seed, sampling)`` and kept on the fit (``fit._cache["lfo_folds"]``),
    so the learned risk and :func:`bayescale.stacking.stack` share the refits. Fold rows are
    positions in the fitted runs."""
    if fit.design is None:
        raise ValueError("this fit has no data (design) to refit leave-future-out folds on")
    key = (tuple(float(o) for o in origins), int(seed),
           tuple(sorted({**LFO_SAMPLING, **(sampling or {})}.items())))
    cache = fit._cache.setdefault("lfo_folds", {})
    if key not in cache:
        cache[key] = leave_future_out(fit.model, training_frame(fit.model, fit.design),
                                      origins=origins, seed=seed, sampling=sampling)
    return cache[key]


# ---------------------------------------------------------------------- the learned risk
PROBS = (0.5, 0.8, 0.9, 0.95)


@dataclass
class ExtrapolationRisk:
    """The fit's learned discrepancy: the prior, its own leave-future-out blocks, the grid
    posterior of ``(mu, tau)`` and the nested leave-future-out scores."""

    prior: ExtrapolationPrior
    blocks: list[dict[str, float]]
    covered_distance: float            # largest distance the record and the folds score
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    folds: int = 0

    @property
    def posterior(self) -> np.ndarray:
        """Posterior mass on the (mu, log tau) grid."""
        return _normalised(self.prior.log_density() + grid_loglik(self.blocks))

    def draws(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` draws of ``(mu, tau)`` from the grid posterior (uniform within a cell)."""
        post = self.posterior
        cell = rng.choice(post.size, size=n, p=post.ravel())
        i, j = np.unravel_index(cell, post.shape)
        dmu = np.gradient(MU)[i]
        mu = MU[i] + (rng.random(n) - 0.5) * dmu
        log_tau = LOG_TAU[j] + (rng.random(n) - 0.5) * (LOG_TAU[1] - LOG_TAU[0])
        return mu, np.exp(log_tau)

    def slopes(self, groups: np.ndarray, n: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
        """Slopes ``b = mu + tau z`` (n draws, group labels) with ``z`` per draw and group,
        and each row's label index: the discrepancy of row ``i`` is ``d_i b[:, index_i]``."""
        mu, tau = self.draws(n, rng)
        labels, index = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
        z = rng.standard_normal((n, len(labels)))
        return mu[:, None] + tau[:, None] * z, index

    def shift(self, d: np.ndarray, groups: np.ndarray, n: int, rng: np.random.Generator
              ) -> np.ndarray:
        """Draws (n, rows) of the discrepancy ``d * b`` (see :meth:`slopes`)."""
        slopes, index = self.slopes(groups, n, rng)
        return np.asarray(d, dtype=float)[None, :] * slopes[:, index]

    def summary(self) -> pd.DataFrame:
        """Posterior medians and 89% intervals of drift ``mu`` and spread ``tau`` (per e-fold
        of scale beyond the data, link scale), with the prior's."""
        post = self.posterior
        rows = {}
        for name, values, marginal, prior in (
                ("drift mu", MU, post.sum(axis=1),
                 _normalised(self.prior.log_density()).sum(axis=1)),
                ("spread tau", np.exp(LOG_TAU), post.sum(axis=0),
                 _normalised(self.prior.log_density()).sum(axis=0))):
            cdf, pcdf = np.cumsum(marginal), np.cumsum(prior)
            q = [float(np.interp(p, cdf, values)) for p in (0.5, 0.055, 0.945)]
            pq = [float(np.interp(p, pcdf, values)) for p in (0.5, 0.055, 0.945)]
            rows[name] = {"median": q[0], "eti89_lb": q[1], "eti89_ub": q[2],
                          "prior_median": pq[0], "prior_eti89_lb": pq[1],
                          "prior_eti89_ub": pq[2]}
        return pd.DataFrame(rows).T

    def to_dict(self) -> dict[str, Any]:
        return {"prior": asdict(self.prior), "blocks": self.blocks,
                "covered_distance": self.covered_distance, "folds": self.folds,
                "calibration": json.loads(self.calibration.to_json(orient="split"))
                if len(self.calibration) else None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExtrapolationRisk:
        cal = d.get("calibration")
        frame = pd.read_json(io.StringIO(json.dumps(cal)), orient="split") \
            if cal else pd.DataFrame()
        return cls(ExtrapolationPrior(**d["prior"]), list(d["blocks"]),
                   float(d["covered_distance"]), frame, int(d.get("folds", 0)))


def _scores(link_y: np.ndarray, draws: np.ndarray) -> dict[str, float]:
    out = {}
    for p in PROBS:
        lo, hi = eti_bounds(draws, p)
        out[f"coverage_{100 * p:g}"] = float(np.mean((lo <= link_y) & (link_y <= hi)))
    lo, hi = eti_bounds(draws, 0.9)
    out["interval_score_90"] = float(np.mean(interval_score(link_y, lo, hi, 0.9)))
    out["n"] = float(len(link_y))
    return out


def _nested_calibration(folds: Sequence[Fold], prior: ExtrapolationPrior, seed: int
                        ) -> pd.DataFrame:
    """Leave-future-out scores of each fold's runs without the term, and with the term
    learned from the prior and the *other* folds (nested: a fold never scores itself)."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict[str, float]]] = {"without extrapolation term": [],
                                               "with extrapolation term": []}
    weight = 1.0 / max(len(folds) - 1, 1)
    for k, fold in enumerate(folds):
        others = [b for j, f in enumerate(folds) if j != k for b in f.blocks(weight)]
        risk = ExtrapolationRisk(prior, others, 0.0)
        shift = risk.shift(fold.d, fold.groups, len(fold.link_obs), rng)
        rows["without extrapolation term"].append(_scores(fold.link_y, fold.link_obs))
        rows["with extrapolation term"].append(_scores(fold.link_y, fold.link_obs + shift))
    out = {}
    for method, parts in rows.items():
        n = np.array([p["n"] for p in parts])
        out[method] = {k: float(np.average([p[k] for p in parts], weights=n))
                       for k in parts[0] if k != "n"} | {"n": int(n.sum())}
    return pd.DataFrame(out).T


def learn_risk(fit: Fit, *, prior: ExtrapolationPrior | None = None,
               covered_distance: float | None = None, seed: int = 0,
               origins: Sequence[float] = ORIGINS,
               sampling: Mapping[str, Any] | None = None) -> ExtrapolationRisk:
    """Learn the fit's discrepancy: leave-future-out on its own data, combined with
    ``prior`` (default: the record's empirical prior for the model's link)."""
    if fit.design is None:
        raise ValueError("this fit has no data (design) to learn its extrapolation risk from")
    model = fit.model
    if prior is None:
        prior, record_distance = record_prior(link=model.likelihood.link)
    else:
        record_distance = 0.0
    folds = fit_folds(fit, origins=origins, seed=seed, sampling=sampling)
    weight = 1.0 / max(len(folds), 1)
    blocks = [b for f in folds for b in f.blocks(weight)]
    own = max((b["max_d"] for b in blocks), default=0.0)
    covered = max(own, record_distance) if covered_distance is None else covered_distance
    calibration = _nested_calibration(folds, prior, seed) if len(folds) >= 2 else pd.DataFrame()
    return ExtrapolationRisk(prior, blocks, covered, calibration, len(folds))
