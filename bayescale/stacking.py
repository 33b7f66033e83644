"""Law-form uncertainty: stacking candidate fits with leave-future-out weights.

PSIS-LOO (:mod:`bayescale.compare`) scores interpolation; a scaling law is used to
extrapolate. :func:`stack` scores each candidate (law, hierarchy, likelihood) on the runs
beyond rolling origins, refitted on the runs below them (:func:`bayescale.extrapolation.
leave_future_out`, the refits the extrapolation risk learns from, shared with it), and
weighs the candidates by stacking of predictive distributions (Yao, Vehtari, Simpson &
Gelman 2018):

    a* = argmax_{a in simplex} sum_i w_i log sum_k a_k p_k(y_i)

over the scored pairs ``i = (origin, run)`` present in every candidate's folds, with
``w_i = 1 / (number of origins scoring that run)`` so that each run counts once whatever the
number of origins scoring it. ``p_k(y_i)`` is the density of the observed value on the link
scale (``log`` for losses, ``logit`` for bounded metrics; one Jacobian for all candidates, so
it cancels from the weights) under candidate ``k``'s fold predictive, without the
extrapolation term (which would be learned from these very folds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp

from ._validate import as_frame
from .compare import check_same_runs
from .extrapolation import ORIGINS, fit_folds, robust_variance
from .intervals import ci_probs, interval_columns
from .predict import draws_matrix

if TYPE_CHECKING:
    from .fit import Fit

__all__ = ["stack", "Stack", "stacking_weights", "pointwise_lfo", "draw_counts"]


# ---------------------------------------------------------------------- weights
def stacking_weights(lpd: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Stacking weights ``a`` maximising ``sum_i w_i log sum_k a_k exp(lpd[i, k])`` on the
    simplex (``w``: ``weights``, default 1). Softmax parametrisation (last logit 0) and
    L-BFGS-B with the exact gradient from zero logits: deterministic; a dominated candidate's
    weight goes to about 1e-8, not exactly 0."""
    lpd = np.asarray(lpd, dtype=float)
    n, k = lpd.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if k == 1:
        return np.ones(1)
    w = w / w.sum()

    def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
        logits = np.append(z, 0.0)
        log_a = logits - logsumexp(logits)
        mix = logsumexp(lpd + log_a, axis=1)
        g = w @ np.exp(lpd + log_a - mix[:, None])     # d objective / d log a_k
        grad = g - np.exp(log_a) * g.sum()              # through the softmax
        return -float(w @ mix), -grad[:-1]

    best = minimize(objective, np.zeros(k - 1), jac=True, method="L-BFGS-B",
                    options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10_000})
    logits = np.append(best.x, 0.0)
    return np.exp(logits - logsumexp(logits))


def draw_counts(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to ``total`` in proportion to ``weights`` (largest remainder,
    ties to the earlier candidate)."""
    share = np.asarray(weights, dtype=float) * total
    counts = np.floor(share).astype(int)
    rest = total - counts.sum()
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


# ---------------------------------------------------------------------- pointwise scores
def pointwise_lfo(fits: Mapping[str, Fit], *, origins: Sequence[float] = ORIGINS,
                  seed: int = 0, sampling: Mapping[str, Any] | None = None
                  ) -> pd.DataFrame:
    """One row per ``(origin, run)`` scored by every candidate's folds: ``origin``, ``run``
    (position in the fitted runs), ``link_y``, ``weight`` (``1 / origins scoring the run``)
    and one column per candidate with the log density of ``link_y`` under
    ``Normal(mean, robust variance)`` of the fold's observation draws on the link scale.

    A Gaussian rather than a kernel density: the draws' tails are few (a far-future miss would
    get a KDE density of 0, or one set by the bandwidth), the Gaussian's log density is smooth
    and deterministic, and it is the predictive the extrapolation risk's blocks use. The
    robust variance (``(IQR / 1.349)^2``) keeps a few wild Student-t draws from widening it.
    """
    parts = []
    for name, fit in fits.items():
        for fold in fit_folds(fit, origins=origins, seed=seed, sampling=sampling):
            mean = fold.link_obs.mean(axis=0)
            var = np.maximum(robust_variance(fold.link_obs), 1e-12)
            lpd = -0.5 * (np.log(2 * np.pi * var) + (fold.link_y - mean) ** 2 / var)
            parts.append(pd.DataFrame({"candidate": name, "origin": fold.origin,
                                       "run": fold.rows, "link_y": fold.link_y, "lpd": lpd}))
    if not parts:
        raise ValueError("no leave-future-out fold could be fitted for any candidate (too few "
                         "runs below the origins)")
    long = pd.concat(parts, ignore_index=True)
    wide = long.pivot_table(index=["origin", "run"], columns="candidate", values="lpd",
                            aggfunc="first")
    wide = wide.reindex(columns=list(fits)).dropna().reset_index()
    if wide.empty:
        raise ValueError("the candidates' leave-future-out folds share no scored run (their "
                         f"laws' scales may cut the runs at different origins): {list(fits)}")
    link_y = long.groupby(["origin", "run"])["link_y"].first()
    pairs = pd.MultiIndex.from_frame(wide[["origin", "run"]])
    wide.insert(2, "link_y", link_y.loc[pairs].to_numpy())
    wide.insert(3, "weight", 1.0 / wide.groupby("run")["run"].transform("size").to_numpy())
    wide.columns.name = None
    return wide


# ---------------------------------------------------------------------- the result
@dataclass(frozen=True, eq=False)
class Stack:
    """Candidates weighed by leave-future-out stacking (:func:`stack`).

    ``weights``: stacking weights; ``elpd`` and ``se``: each candidate's leave-future-out
    ``elpd = sum_i w_i log p_k(y_i)`` and ``sqrt(R var_r(c_rk))`` over the ``R`` scored runs'
    contributions ``c_rk``; ``pseudo_bma``: ``exp(elpd_k) / sum_j exp(elpd_j)``;
    ``pointwise``: :func:`pointwise_lfo`'s frame; ``n_own``: runs each candidate's own folds
    scored (those used, ``n_runs``, are scored by all).
    """

    weights: pd.Series
    elpd: pd.Series
    se: pd.Series
    pseudo_bma: pd.Series
    n_runs: int
    n_own: pd.Series
    pointwise: pd.DataFrame = field(repr=False)
    fits: Mapping[str, Fit] = field(repr=False)

    @property
    def best(self) -> str:
        """The candidate with the largest stacking weight."""
        return str(self.weights.idxmax())

    def table(self) -> pd.DataFrame:
        """``elpd_lfo``, ``se``, ``elpd_diff`` (to the best), ``weight`` (stacking),
        ``pseudo_bma_weight``, ``n_runs`` (scored by all, used) and ``n_runs_own``; best
        ``elpd_lfo`` first."""
        out = pd.DataFrame({"elpd_lfo": self.elpd, "se": self.se,
                            "elpd_diff": self.elpd - self.elpd.max(), "weight": self.weights,
                            "pseudo_bma_weight": self.pseudo_bma, "n_runs": self.n_runs,
                            "n_runs_own": self.n_own})
        return out.sort_values("elpd_lfo", ascending=False, kind="stable")

    def __repr__(self) -> str:
        with pd.option_context("display.width", 120, "display.float_format", "{:.3f}".format):
            return (f"Stack of {len(self.weights)} candidates by leave-future-out scores "
                    f"(elpd of the link-scale target)\n{self.table().to_string()}")

    def predict(self, data: Any, *, ci_prob: float | Sequence[float] = 0.9, seed: int = 0,
                extrapolation: bool = True) -> pd.DataFrame:
        """The stacked posterior predictive at the rows of ``data``: each candidate gives a
        share of the draws in proportion to its weight (:func:`draw_counts` of the fewest
        draws any candidate has; which draws, drawn without replacement with ``seed``), and
        the mixture's ``{curve,obs}_mean``, ``_median`` and ``_eti{P}_lb/_ub`` per row (as
        :func:`bayescale.predict.predict` names them). ``extrapolation`` adds each
        candidate's own extrapolation term beyond the data."""
        probs = ci_probs(ci_prob)
        names = list(self.weights.index)
        sizes = [self.fits[n].posterior.sizes["chain"] * self.fits[n].posterior.sizes["draw"]
                 for n in names]
        counts = draw_counts(self.weights.to_numpy(), min(sizes))
        rng = np.random.default_rng(seed)
        curves, obs = [], []
        for k, (name, count) in enumerate(zip(names, counts, strict=True)):
            if count == 0:
                continue
            tree = self.fits[name].predict(data, kind="draws", seed=seed + k,
                                           extrapolation=extrapolation)
            pick = np.sort(rng.choice(sizes[k], size=count, replace=False))
            curves.append(draws_matrix(tree["predictions"]["curve"])[pick])
            obs.append(draws_matrix(tree["predictions"]["obs"])[pick])
        out = as_frame(data).copy()
        for prefix, parts in (("curve", curves), ("obs", obs)):
            draws = np.concatenate(parts)
            out[f"{prefix}_mean"] = draws.mean(axis=0)
            for col, values in interval_columns(draws, probs, prefix).items():
                out[col] = values
        return out


# ---------------------------------------------------------------------- stack
def _named(fits: Mapping[str, Fit] | Sequence[Fit]) -> dict[str, Fit]:
    if isinstance(fits, Mapping):
        return {str(k): v for k, v in fits.items()}
    named: dict[str, Fit] = {}
    for fit in fits:
        base = fit.model.law.name
        name, i = base, 2
        while name in named:
            name, i = f"{base}#{i}", i + 1
        named[name] = fit
    return named


def _check_candidates(fits: Mapping[str, Fit]) -> None:
    """Same runs (:func:`bayescale.compare.check_same_runs`), target and link."""
    names = list(fits)
    first = fits[names[0]].model
    for name in names[1:]:
        model = fits[name].model
        for what, a, b in (("targets", first.target, model.target),
                           ("link scales", first.likelihood.link, model.likelihood.link)):
            if a != b:
                raise ValueError(f"models {names[0]!r} and {name!r} have different {what}: "
                                 f"{a!r} vs {b!r}; stacking mixes predictions of one target "
                                 "on one link scale")
    check_same_runs(fits, "stacking")


def stack(fits: Mapping[str, Fit] | Sequence[Fit], *, origins: Sequence[float] = ORIGINS,
          seed: int = 0, sampling: Mapping[str, Any] | None = None) -> Stack:
    """Weigh candidate fits to the same runs by stacking of their leave-future-out
    predictive densities (Yao et al. 2018):

        a* = argmax_{a in simplex} sum_i w_i log sum_k a_k p_k(y_i)

    with ``i`` the ``(origin, run)`` pairs every candidate scored, ``w_i`` one over the number
    of origins scoring the run and ``p_k`` the Gaussian predictive of :func:`pointwise_lfo`.

    Parameters
    ----------
    fits : ``{name: Fit}`` or fits (named by their law, ``#2``... for repeats), at least two,
        fitted to the same runs; laws, hierarchies and likelihoods may differ if the target
        and its link do.
    origins, seed, sampling : of the leave-future-out refits
        (:func:`bayescale.extrapolation.fit_folds`: refitted once, kept on each fit and
        shared with :meth:`bayescale.Fit.extrapolation_risk` at the same settings).

    Raises
    ------
    ValueError
        Fewer than two fits, fits to different runs, targets or links (naming the two
        models), or no run scored by every candidate.
    """
    named = _named(fits)
    if len(named) < 2:
        raise ValueError(f"stacking needs at least two fits, got {len(named)}")
    _check_candidates(named)
    names = list(named)
    points = pointwise_lfo(named, origins=origins, seed=seed, sampling=sampling)
    lpd, w = points[names].to_numpy(), points["weight"].to_numpy()
    weights = pd.Series(stacking_weights(lpd, w), index=names, name="weight")
    per_run = (points[names].mul(w, axis=0)).groupby(points["run"]).sum()
    elpd = per_run.sum()
    se = np.sqrt(len(per_run) * per_run.var(ddof=0))
    pseudo = np.exp(elpd - logsumexp(elpd.to_numpy()))
    own = pd.Series({n: len({r for f in fit_folds(named[n], origins=origins, seed=seed,
                                                      sampling=sampling) for r in f.rows})
                     for n in names})
    return Stack(weights=weights, elpd=elpd.rename("elpd_lfo"), se=se.rename("se"),
                 pseudo_bma=pseudo.rename("pseudo_bma_weight"), n_runs=len(per_run),
                 n_own=own, pointwise=points, fits=named)
