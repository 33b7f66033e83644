"""Observational scaling (Ruan, Maddison, Hashimoto 2024, arXiv:2405.10938) as a baseline.

Reimplemented from the paper's description, with the same data roles as
:class:`bayescale.capabilities.Capabilities`:

1. principal components ``S_m`` (``components``, default 3) of the models' scores on the
   ``predictors`` benchmarks (centred, not scaled; missing scores imputed by iterating the
   rank-``components`` reconstruction, as the paper imputes by PCA);
2. within each family the components are linear in log compute,
   ``S_m = w_f log C_m + b_f`` (least squares; a family with one model keeps the families'
   mean slope ``w`` and takes its intercept from that model);
3. each benchmark ``b`` is ``y = g + (1 - g) sigmoid(beta_b . S + alpha_b)`` with ``g`` its
   floor (least squares over the models that have its score).

A model of the fit is predicted from its own components (its scores projected on the axes);
a new model from its family's line at its compute (a family not in the fit: the families'
mean line). The paper gives point predictions only; the intervals here come from the usual
recipe, a bootstrap over families (the axes, the mean slope and the sigmoids refitted on
families drawn with replacement; every family's line refitted to its models' projections)
plus, per replicate, a residual of that benchmark drawn from the replicate's residuals on the
logit scale of ``(y - g) / (1 - g)``: those of the route the row takes (from a model's own
components, or from its family's line in compute).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from ._validate import DataError, as_frame, check_columns, check_support, group_labels
from .intervals import ci_probs, interval_columns

__all__ = ["PCAScaling", "PCAScalingFit", "principal_components"]

#: the roles it reads (the capability model's names; ``columns=`` maps them to yours)
ROLES = ("model", "family", "benchmark", "score", "compute", "floor")
#: ``(y - g) / (1 - g)`` is clipped into [EPS, 1 - EPS] before the logit of a residual
EPS = 1e-3


def principal_components(matrix: np.ndarray, components: int, *, iterations: int = 200,
                         tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                     np.ndarray]:
    """PCA of a (models, benchmarks) matrix with NaN for missing scores, imputed by the
    rank-``components`` reconstruction until it stops changing. Returns the centre
    (benchmarks,), the loadings (components, benchmarks), the scores (models, components) and
    the share of variance of every component of the imputed matrix."""
    x = np.array(matrix, dtype=float)
    missing = np.isnan(x)
    if missing.all(axis=0).any():
        raise DataError("a benchmark has no scores; drop it from the predictors")
    x[missing] = np.nanmean(matrix, axis=0)[np.nonzero(missing)[1]]
    for _ in range(iterations):
        centre = x.mean(axis=0)
        u, d, vt = np.linalg.svd(x - centre, full_matrices=False)
        low_rank = centre + (u[:, :components] * d[:components]) @ vt[:components]
        change = np.abs(low_rank[missing] - x[missing]).max() if missing.any() else 0.0
        x[missing] = low_rank[missing]
        if change < tol:
            break
    centre = x.mean(axis=0)
    u, d, vt = np.linalg.svd(x - centre, full_matrices=False)
    vt = vt * np.where(vt.sum(axis=1, keepdims=True) < 0, -1.0, 1.0)  # loadings sum >= 0
    return centre, vt[:components], (x - centre) @ vt[:components].T, d**2 / (d**2).sum()


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def _fit_sigmoid(s: np.ndarray, y: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """``(alpha, beta...)`` of ``y = g + (1 - g) sigmoid(alpha + beta . s)``, least squares,
    started from a linear fit on the logit scale."""
    design = np.column_stack([np.ones(len(s)), s])
    start = np.linalg.lstsq(design, _logit((y - floor) / (1 - floor)), rcond=None)[0]

    def residual(theta: np.ndarray) -> np.ndarray:
        return floor + (1 - floor) / (1 + np.exp(-design @ theta)) - y

    return least_squares(residual, start, method="lm" if len(y) > len(start) else "trf").x


@dataclass(frozen=True)
class _Point:
    """One fit of steps 1-3 (module docstring), for every model and family of the data."""

    axes: np.ndarray                 # (components, predictors)
    scores: np.ndarray               # (models, components): projections on the axes
    lines: np.ndarray                # (families, 2, components): intercept, slope
    mean_line: np.ndarray            # (2, components)
    sigmoid: dict[str, np.ndarray]   # benchmark -> (alpha, beta...)
    residuals: dict[str, tuple[np.ndarray, np.ndarray]]  # benchmark -> (own, line) routes


@dataclass(frozen=True)
class _Table:
    """The scores as arrays: models, their family and log compute, the imputed predictor
    matrix, and the rows (model code, benchmark, floor, score)."""

    models: tuple[str, ...]
    families: tuple[str, ...]
    model_family: np.ndarray
    log_c: np.ndarray
    benchmarks: tuple[str, ...]      # the predictors
    predictors: np.ndarray           # (models, predictor benchmarks), imputed
    rows: pd.DataFrame               # model (code), benchmark, floor, score


@dataclass(frozen=True)
class PCAScaling:
    """Ruan et al.'s observational scaling law (module docstring): ``components`` principal
    components of the ``predictors`` benchmarks (default: every benchmark in the data),
    ``bootstrap`` refits over families for the intervals; ``columns`` maps the roles of
    :data:`bayescale.capabilities.COLUMNS` to your column names."""

    components: int = 3
    predictors: Sequence[str] | None = None
    bootstrap: int = 200
    columns: Mapping[str, str] = field(default_factory=dict)

    def column(self, role: str) -> str:
        from .capabilities import COLUMNS

        return self.columns.get(role, COLUMNS[role])

    def fit(self, scores: Any, *, seed: int | None = None) -> PCAScalingFit:
        """Fit steps 1-3 on the scores (one row per model and benchmark) and on
        ``bootstrap`` resamples of the families."""
        table = self._table(as_frame(scores))
        rng = np.random.default_rng(seed)
        everyone = np.arange(len(table.models))
        point = self._fit_point(table, everyone)
        by_family = [np.flatnonzero(table.model_family == f)
                     for f in range(len(table.families))]
        replicates = []
        for _ in range(self.bootstrap):
            drawn = rng.integers(len(by_family), size=len(by_family))
            replicates.append(self._fit_point(table, np.concatenate(
                [by_family[f] for f in drawn])))
        return PCAScalingFit(spec=self, table=table, point=point,
                             replicates=tuple(replicates))

    def _table(self, df: pd.DataFrame) -> _Table:
        names = {role: self.column(role) for role in ROLES}
        check_columns(df, list(names.values()), role="benchmark scores")
        rows = pd.DataFrame({
            "model": group_labels(df, names["model"]),
            "family": group_labels(df, names["family"]),
            "benchmark": group_labels(df, names["benchmark"]),
            "score": check_support(df, names["score"], "unit_closed",
                                   meaning="benchmark score"),
            "log_c": np.log(check_support(df, names["compute"], "positive",
                                          meaning="training compute")),
            "floor": check_support(df, names["floor"], "unit_low",
                                   meaning="the benchmark's floor")})
        predictors = list(self.predictors or dict.fromkeys(rows["benchmark"]))
        missing = sorted(set(predictors) - set(rows["benchmark"]))
        if missing:
            raise DataError(f"predictors {missing} are not benchmarks in column "
                            f"{names['benchmark']!r}")
        if not 1 <= self.components <= len(predictors):
            raise ValueError(f"components must be between 1 and {len(predictors)} (the "
                             f"predictors), got {self.components}")
        per_model = rows.drop_duplicates("model").set_index("model").sort_index()
        models = tuple(per_model.index)
        families = tuple(sorted(per_model["family"].unique()))
        wide = rows[rows["benchmark"].isin(predictors)].pivot_table(
            index="model", columns="benchmark", values="score", aggfunc="first")
        wide = wide.reindex(index=list(models), columns=predictors)
        if wide.isna().all(axis=1).any():
            name = wide.index[wide.isna().all(axis=1).to_numpy()][0]
            raise DataError(f"model {name!r} has no score on the predictors {predictors}")
        centre, axes, s, _ = principal_components(wide.to_numpy(), self.components)
        imputed = np.where(wide.isna(), centre + s @ axes, wide.to_numpy())
        rows["model"] = pd.Categorical(rows["model"], categories=models).codes
        return _Table(models=models, families=families,
                      model_family=pd.Categorical(per_model["family"],
                                                  categories=families).codes,
                      log_c=per_model["log_c"].to_numpy(), benchmarks=tuple(predictors),
                      predictors=imputed,
                      rows=rows[["model", "benchmark", "floor", "score"]])

    def _fit_point(self, t: _Table, sample: np.ndarray) -> _Point:
        """Steps 1-3 on the models ``sample`` (codes, repeated as drawn)."""
        centre, axes, _, _ = principal_components(t.predictors[sample], self.components)
        scores = (t.predictors - centre) @ axes.T
        n_fam = len(t.families)
        slopes = []
        for f in np.unique(t.model_family[sample]):
            members = np.flatnonzero(t.model_family == f)
            if len(members) >= 2 and np.ptp(t.log_c[members]) > 0:
                copies = int(np.sum(t.model_family[sample] == f) // len(members))
                slopes += [self._line(t.log_c[members], scores[members])[1]] * max(copies, 1)
        slope = np.mean(slopes, axis=0) if slopes else np.zeros(self.components)
        lines = np.empty((n_fam, 2, self.components))
        for f in range(n_fam):
            members = np.flatnonzero(t.model_family == f)
            if len(members) >= 2 and np.ptp(t.log_c[members]) > 0:
                lines[f] = self._line(t.log_c[members], scores[members])
            else:
                lines[f] = ((scores[members] - slope * t.log_c[members, None]).mean(axis=0),
                            slope)
        drawn = np.unique(t.model_family[sample])
        mean_line = np.array([lines[drawn, 0].mean(axis=0), slope])
        weight = np.bincount(sample, minlength=len(t.models))
        sigmoid, residuals = {}, {}
        for bench, rows in t.rows.groupby("benchmark", sort=False):
            code = rows["model"].to_numpy()
            keep = np.repeat(np.arange(len(rows)), weight[code])
            if len(keep) == 0:
                continue
            y, g = rows["score"].to_numpy(), rows["floor"].to_numpy()
            theta = _fit_sigmoid(scores[code][keep], y[keep], g[keep])
            sigmoid[bench] = theta
            share = _logit((y - g) / (1 - g))
            line = lines[t.model_family[code], 0] + lines[t.model_family[code], 1] \
                * t.log_c[code, None]
            residuals[bench] = ((share - theta[0] - scores[code] @ theta[1:])[keep],
                                (share - theta[0] - line @ theta[1:])[keep])
        return _Point(axes=axes, scores=scores, lines=lines, mean_line=mean_line, sigmoid=sigmoid,
                      residuals=residuals)

    @staticmethod
    def _line(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(intercept, slope) rows of the least-squares lines of the columns of ``y``."""
        return np.linalg.lstsq(np.column_stack([np.ones(len(x)), x]), y, rcond=None)[0]


@dataclass
class PCAScalingFit:
    """A fitted :class:`PCAScaling`: the point fit and its bootstrap replicates."""

    spec: PCAScaling
    table: _Table
    point: _Point
    replicates: tuple[_Point, ...]

    def explained_variance(self) -> np.ndarray:
        """Share of the variance of the (imputed) predictor scores per component, all of
        them (the paper's Fig. 2 reports the leading ones)."""
        return principal_components(self.table.predictors, self.spec.components)[3]

    def loadings(self) -> pd.DataFrame:
        """The components' loadings (predictor benchmarks x ``PC1..PCk``; signs such that
        each component's loadings sum positive)."""
        return pd.DataFrame(self.point.axes.T, index=list(self.table.benchmarks),
                            columns=[f"PC{k + 1}" for k in range(self.spec.components)])

    def predict(self, rows: Any, *, ci_prob: float | Sequence[float] | None = None,
                seed: int | None = None) -> pd.DataFrame:
        """Scores of ``rows`` (benchmark, floor, and a model of the fit or a family and
        compute): ``curve_median`` the point fit's prediction, ``obs_*`` the bootstrap's
        quantiles with a residual added per replicate (module docstring)."""
        probs = ci_probs(ci_prob)
        df = as_frame(rows)
        col = self.spec.column
        t = self.table
        check_columns(df, [col("benchmark"), col("floor")], role="rows to predict")
        bench = group_labels(df, col("benchmark"))
        unknown = sorted(set(bench) - set(self.point.sigmoid))
        if unknown:
            raise DataError(f"benchmarks {unknown} are not in the fit "
                            f"({sorted(self.point.sigmoid)})")
        floor = check_support(df, col("floor"), "unit_low", meaning="the benchmark's floor")
        model = (group_labels(df, col("model")) if col("model") in df.columns
                 else pd.Series([""] * len(df)))
        code = pd.Index(t.models).get_indexer(model)        # -1: not in the fit
        new = code < 0
        family = np.full(len(df), -1)
        log_c = np.zeros(len(df))
        if new.any():
            sub = df.loc[new]
            check_columns(sub, [col("family"), col("compute")],
                          role="rows of models not in the fit")
            family[new] = pd.Index(t.families).get_indexer(group_labels(sub, col("family")))
            log_c[new] = np.log(check_support(sub, col("compute"), "positive",
                                              meaning="training compute"))
        rng = np.random.default_rng(seed)

        def share_logit(fit: _Point) -> tuple[np.ndarray, np.ndarray]:
            """Each row's logit share above its floor under one fit, and a residual."""
            line = np.where(family[:, None] >= 0, fit.lines[family, 0], fit.mean_line[0]) \
                + np.where(family[:, None] >= 0, fit.lines[family, 1], fit.mean_line[1]) \
                * log_c[:, None]
            s = np.where(new[:, None], line, fit.scores[code])
            eta, noise = np.empty(len(df)), np.empty(len(df))
            for i, b in enumerate(bench):
                theta = fit.sigmoid[b]
                eta[i] = theta[0] + s[i] @ theta[1:]
                noise[i] = rng.choice(fit.residuals[b][int(new[i])])
            return eta, noise

        def score(eta: np.ndarray) -> np.ndarray:
            return floor + (1 - floor) / (1 + np.exp(-eta))

        out = df.copy()
        out["curve_median"] = score(share_logit(self.point)[0])
        draws = [score(sum(share_logit(fit))) for fit in self.replicates
                 if set(bench) <= set(fit.sigmoid)]
        for name, values in interval_columns(np.array(draws), probs, "obs").items():
            out[name] = values
        return out
