"""Backtests: hold out the largest runs (or whole groups), fit on the rest, score the held-out
runs, for bayescale and for the point-fit baseline in the same run.

Scores per method, over held-out runs ``i`` with observed ``y_i``:

* coverage of central intervals at ``probs`` (50/80/90/95%): share of ``y_i`` inside;
* interval score (Gneiting & Raftery 2007, eq. 43) on log y, at level ``1 - a``:
  ``(u - l) + (2/a)(l - y) 1{y < l} + (2/a)(y - u) 1{y > u}`` (lower is better);
* log predictive density ``log (1/S) sum_s p(log y_i | theta_s)`` (bayescale only: the
  baseline has no noise model);
* PIT values ``P(y_rep <= y_i)`` (uniform when calibrated);
* error of the median in log space, ``log median(y_rep) - log y_i`` (mean and median
  absolute, RMSE).

bayescale's intervals are of a new observation (``obs``: curve plus noise); the baseline's are
bootstrap percentile intervals of the curve, exactly as the published protocol reports them.
Folds run through any ``concurrent.futures.Executor`` (e.g. a Dask client's executor).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._validate import DataError, as_frame
from .batch import model_from_spec, model_spec, run_tasks
from .extrapolation import log_scale
from .hierarchy import group_keys, top_columns
from .intervals import eti_bounds, interval_score
from .model import Model
from .predict import group_codes, new_group_z

__all__ = ["backtest", "Backtest", "parse_holdout", "interval_score"]

PROBS = (0.5, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class Holdout:
    kind: str                       # "largest", "group" or "column"
    k: int = 0                      # runs held out per group ("largest")
    groups: tuple[str, ...] = ()    # held-out groups ("group"); ("*",) = each in turn
    column: str = ""                # boolean column marking held-out runs ("column")


def parse_holdout(spec: str | Holdout) -> Holdout:
    """``"largest:K"`` (the K largest runs of each group), ``"group:NAME[,NAME]"`` (whole
    groups; ``"group:*"`` holds out each group in turn) or ``"column:NAME"`` (a published
    split: runs whose boolean column NAME is true are held out)."""
    if isinstance(spec, Holdout):
        return spec
    kind, _, arg = str(spec).partition(":")
    if kind == "largest":
        try:
            k = int(arg)
        except ValueError:
            k = 0
        if k < 1:
            raise ValueError(f"holdout {spec!r}: expected largest:K with K >= 1")
        return Holdout("largest", k=k)
    if kind == "column" and arg:
        return Holdout("column", column=arg)
    if kind == "group" and arg:
        return Holdout("group", groups=tuple(a.strip() for a in arg.split(",") if a.strip()))
    raise ValueError(f"holdout {spec!r}: expected 'largest:K', 'group:NAME[,NAME]' or "
                     "'column:NAME'")


def _axis_values(model: Model, frame: pd.DataFrame, axis: str | None) -> np.ndarray:
    """Scale of each run for 'largest': a column, or compute (6ND, C, or the first input)."""
    if axis not in (None, "compute"):
        if axis not in frame.columns:
            raise DataError(f"axis column {axis!r} not in the data ({list(frame.columns)})")
        return pd.to_numeric(frame[axis]).to_numpy(dtype=float)
    return np.exp(log_scale(model, frame))   # the scale extrapolation distances are in


def _folds(model: Model, frame: pd.DataFrame, holdout: Holdout, axis: str | None
           ) -> list[tuple[str, np.ndarray]]:
    """(label, held-out mask) per fold."""
    cols = top_columns(model.grouping_columns)
    if holdout.kind == "column":
        if holdout.column not in frame.columns:
            raise DataError(f"holdout column {holdout.column!r} not in the data "
                            f"({list(frame.columns)})")
        return [(f"{holdout.column} = true", frame[holdout.column].astype(bool).to_numpy())]
    if holdout.kind == "largest":
        values = _axis_values(model, frame, axis)
        keys = group_keys(frame, cols)
        mask = np.zeros(len(frame), dtype=bool)
        for _, idx in keys.groupby(keys).groups.items():
            idx = np.asarray(idx)
            if len(idx) <= holdout.k + 1:
                continue  # too few runs to both fit and hold out; stays in training
            mask[idx[np.argsort(values[idx])[-holdout.k:]]] = True
        return [(f"largest {holdout.k} per group", mask)]
    if not cols:
        raise ValueError("holdout by group needs a model with a grouping column")
    col = cols[0]
    labels = frame[col].astype(str)
    groups = sorted(labels.unique()) if holdout.groups == ("*",) else list(holdout.groups)
    unknown = [g for g in groups if g not in set(labels)]
    if unknown:
        raise DataError(f"holdout groups {unknown} not found in column {col!r}; it has "
                        f"{sorted(labels.unique())}")
    return [(f"{col}={g}", (labels == g).to_numpy()) for g in groups]


def _scores(y: np.ndarray, draws: np.ndarray, probs: Sequence[float],
            lpd: np.ndarray | None) -> dict[str, float]:
    log_y = np.log(y)
    with np.errstate(divide="ignore"):  # draws beyond the float range: 0 -> -inf, inf -> inf
        log_d = np.log(draws)
    out: dict[str, float] = {"n": float(len(y))}
    for p in probs:
        lo, hi = eti_bounds(log_d, p)
        out[f"coverage_{100 * p:g}"] = float(np.mean((lo <= log_y) & (log_y <= hi)))
        out[f"interval_score_{100 * p:g}"] = float(np.mean(interval_score(log_y, lo, hi, p)))
    err = np.median(log_d, axis=0) - log_y
    out["mae_log"] = float(np.mean(np.abs(err)))
    out["median_abs_error_log"] = float(np.median(np.abs(err)))
    out["rmse_log"] = float(np.sqrt(np.mean(err**2)))
    out["lpd"] = float(np.mean(lpd)) if lpd is not None else float("nan")
    return out


def run_fold(spec: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame, new_groups: bool,
             probs: Sequence[float], baseline: dict[str, Any] | None,
             fit_kwargs: dict[str, Any], seed: int | None,
             extrapolation: Any = True) -> dict[str, Any]:
    """One fold: fit on ``train``, score ``test`` (module-level so executors can pickle it).

    ``extrapolation``: True scores bayescale with its default extrapolation term (and, from
    the same fit and draws, without it, as ``"bayescale (no extrapolation term)"``); an
    :class:`~bayescale.extrapolation.ExtrapolationPrior` learns the term with that prior
    (e.g. the record's, learned without this data set); False scores without the term."""
    from .baseline import HuberBootstrap
    from .build import canonical_frame
    from .predict import discrepancy_slopes, log_predictive_density, predictive_draws

    model = model_from_spec(spec)
    target = model.target
    y = test[model.target].to_numpy(dtype=float)
    fit = model.fit(train, seed=seed, progressbar=False, warn=False, **fit_kwargs)
    frame = canonical_frame(model, test, need_target=False)
    log_x = {k: np.log(frame[k].to_numpy(dtype=float))[None, :] for k in model.law.inputs}
    rng = np.random.default_rng(seed)
    prior = None if isinstance(extrapolation, bool) else extrapolation
    distance, risk, slopes, index = discrepancy_slopes(
        fit, frame, np.random.default_rng(rng.integers(2**63)),
        enabled=extrapolation is not False, prior=prior)
    codes = group_codes(fit, frame, new_groups)
    z_new = new_group_z(fit, codes, rng)
    variants = {"bayescale": None if risk is None else distance[None, :] * slopes[:, index]}
    if risk is not None:
        variants["bayescale (no extrapolation term)"] = None
    with_lpd = all(c in test.columns for c in model.likelihood.columns)
    result: dict[str, Any] = {"pit": {}, "target": target,
                              "diagnostics": {"divergences": fit.diagnostics.divergences,
                                              "max_rhat": fit.diagnostics.max_rhat}}
    for name, shift in variants.items():
        draws = predictive_draws(fit, frame, log_x, new_groups=new_groups,
                                 rng=np.random.default_rng(seed), codes=codes, z_new=z_new,
                                 shift=shift)
        lpd = log_predictive_density(fit, draws, frame, y) if with_lpd else None
        result[name] = _scores(y, draws.obs, probs, lpd)
        result["pit"][name] = np.mean(draws.obs <= y[None, :], axis=0).tolist()
    if risk is not None:
        result["extrapolation"] = {"summary": risk.summary().to_dict(),
                                   "prior": risk.prior.source, "folds": risk.folds,
                                   "distance_max": float(distance.max())}
    if baseline is not None:
        cols = top_columns(model.grouping_columns) if not new_groups else []
        draws = np.empty((baseline["bootstrap"], len(test)))
        keys, train_keys = group_keys(test, cols), group_keys(train, cols)
        for key in keys.unique():
            rows = (keys == key).to_numpy()
            sub = train[(train_keys == key).to_numpy()]
            n_params = len([p for p in model.law.params if p not in model.fixed])
            if len(sub) <= n_params + 1:
                sub = train  # too few runs for a per-group point fit: pool all groups
            base = HuberBootstrap(model, seed=seed, **{k: v for k, v in baseline.items()})
            draws[:, rows] = base.fit(sub).predict_curve(test[rows])
        result["baseline"] = _scores(y, draws, probs, None)
        result["pit"]["baseline"] = np.mean(draws <= y[None, :], axis=0).tolist()
    return result


@dataclass
class Backtest:
    """Scores of held-out runs per method and fold; ``table()`` pools the folds."""

    folds: list[dict[str, Any]]
    labels: list[str]
    probs: tuple[float, ...]
    holdout: str
    n_heldout: int
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """One row per method: n-weighted means of each score over folds."""
        rows = {}
        methods = [k for f in self.folds for k in f
                   if k not in ("pit", "target", "diagnostics", "extrapolation")]
        for method in dict.fromkeys(methods):
            parts = [f[method] for f in self.folds if method in f]
            if not parts:
                continue
            n = np.array([p["n"] for p in parts])
            rows[method] = {k: float(np.average([p[k] for p in parts], weights=n))
                            for k in parts[0] if k != "n"} | {"n": int(n.sum())}
        return pd.DataFrame(rows).T

    def pit(self, method: str = "bayescale") -> np.ndarray:
        return np.concatenate([np.asarray(f["pit"][method]) for f in self.folds
                               if method in f["pit"]])

    def to_dict(self) -> dict[str, Any]:
        table = self.table()
        return {"holdout": self.holdout, "folds": self.labels, "n_heldout": self.n_heldout,
                "probs": list(self.probs),
                "scores": {m: table.loc[m].to_dict() for m in table.index},
                "diagnostics": [f["diagnostics"] for f in self.folds], "notes": self.notes}

    def __str__(self) -> str:
        with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 200):
            return (f"backtest ({self.holdout}; {self.n_heldout} held-out runs in "
                    f"{len(self.folds)} fold(s))\n{self.table().to_string()}")


def backtest(model: Model, data: Any, *, holdout: str | Holdout = "largest:3",
             axis: str | None = None, probs: Sequence[float] = PROBS, baseline: bool = True,
             bootstrap: int = 200, starts: int = 32, seed: int | None = 0,
             fit_kwargs: Mapping[str, Any] | None = None, executor: Executor | None = None,
             extrapolation: Any = True, progressbar: bool = True) -> Backtest:
    """Hold out runs, fit bayescale (and the Huber/L-BFGS/bootstrap baseline) on the rest,
    and score the held-out runs. ``extrapolation``: see :func:`run_fold` (default: the
    extrapolation term learned with the record's prior, scored with and without it; pass
    ``bs.record_prior(exclude=(name,))[0]`` to learn the prior without the data set scored).
    Folds are submitted to ``executor`` when one is given (any
    ``concurrent.futures.Executor``, e.g. ``ProcessPoolExecutor`` or a Dask client's
    ``get_executor()``), else run in this process, with one progress bar over folds done
    (``progressbar=False``: none)."""
    frame = as_frame(data)
    from .build import canonical_frame

    frame = canonical_frame(model, frame)
    hold = parse_holdout(holdout)
    folds = _folds(model, frame, hold, axis)
    spec = model_spec(model)
    base = {"bootstrap": bootstrap, "starts": starts} if baseline else None
    kwargs = dict(fit_kwargs or {})
    jobs = []
    for _, mask in folds:
        if not mask.any():
            raise ValueError("the holdout selects no runs (groups too small to hold out?)")
        args = (spec, frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True),
                hold.kind == "group", tuple(probs), base, kwargs, seed, extrapolation)
        jobs.append(args)
    results = run_tasks(run_fold, jobs, executor=executor, progressbar=progressbar,
                        description="backtest folds")
    notes = []
    if baseline:
        notes.append("baseline: Huber (delta 1e-3) on log y, L-BFGS from prior draws, "
                     f"{bootstrap} bootstrap refits; intervals are of the curve; one fit per "
                     "group (all training runs pooled for a new group or a group with too few "
                     "runs for the law's parameters)")
    return Backtest(results, [lb for lb, _ in folds], tuple(probs), str(holdout),
                    int(sum(m.sum() for _, m in folds)), notes)
