"""Decision questions answered from the posterior: which group is better, where two curves
cross, and which input reaches a target.

Every quantity is computed from :func:`bayescale.predict.predict` with ``kind="draws"``, so it
uses the fit's own law graph, and draws are paired: draw ``s`` of group ``a`` and draw ``s`` of
group ``b`` come from the same posterior sample (shared parameters, such as a common exponent,
cancel in their difference). A new group (``new_groups=True``) is drawn once per posterior
sample from the population distribution; ``seed`` makes that draw reproducible.

:func:`inverse_predict` includes the extrapolation term (:mod:`bayescale.extrapolation`) by
default, as ``predict`` does: the input that reaches a target beyond the data carries the risk
of the law being wrong there. :func:`prob_better` and :func:`crossover` compare the fitted
laws' curves without it: the term's slopes are independent between groups, so it would not
cancel in a paired difference, and its record calibrates single predictions, not differences.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ._validate import as_frame
from .hierarchy import data_columns, nested_parts
from .intervals import ci_probs, interval_columns, median_interval, percent_of
from .predict import draws_matrix, predict

if TYPE_CHECKING:
    from .fit import Fit

__all__ = ["prob_better", "crossover", "inverse_predict", "Crossover", "InversePrediction"]

Fixed = Mapping[str, float | Callable[[np.ndarray], Any]] | None
_CHUNK = 512  # inputs per predict call while bisecting


# ---------------------------------------------------------------------------- validation
def _check_kind(kind: str) -> None:
    if kind not in ("curve", "obs"):
        raise ValueError(f"kind must be 'curve' (the law) or 'obs' (a new observation), "
                         f"got {kind!r}")


def _seed(seed: int | None) -> int:
    """One seed for every predict call of a question, so new-group draws stay the same."""
    return int(np.random.default_rng().integers(2**63)) if seed is None else seed


def law_input(fit: Fit, name: str, argument: str) -> str:
    """A law input named by its law name or by its mapped data column."""
    inputs = fit.model.law.inputs
    name = {src: dst for dst, src in fit.model.columns.items()}.get(name, name)
    if name not in inputs:
        raise ValueError(f"{argument}={name!r} is not an input of law {fit.model.law.name}; "
                         f"its inputs are {list(inputs)}")
    return name


def _selection(fit: Fit, sel: Mapping[str, Any] | None, argument: str,
               also: Sequence[str] = ()) -> dict[str, Any]:
    """Validate a group selection ``{column: level}``; ``also``: columns given elsewhere."""
    if sel is None:
        sel = {}
    if not isinstance(sel, Mapping):
        raise TypeError(f"{argument} must be a dict {{column: level}}, got {sel!r}")
    cols = fit.model.grouping_columns
    valid = set(cols) | set(data_columns(cols))
    unknown = [k for k in sel if k not in valid]
    if unknown:
        raise ValueError(f"{argument}={dict(sel)!r}: {unknown} not grouping columns of this fit "
                         f"(it groups by {list(cols) or 'nothing'})")
    given = set(sel) | set(also)
    missing = [c for c in cols if c not in given and not set(nested_parts(c)) <= given]
    if missing:
        raise ValueError(f"{argument}={dict(sel)!r} must choose a level of {missing} (parameters "
                         f"vary by it), e.g. {argument}={{{missing[0]!r}: "
                         f"{fit.levels[missing[0]][0]!r}}}")
    return dict(sel)


def _positive_values(values: Any, argument: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).reshape(-1)
    bad = arr[~(np.isfinite(arr) & (arr > 0))]
    if bad.size:
        raise ValueError(f"{argument} must be finite and > 0 (inputs are used on a log scale); "
                         f"got {bad[:5].tolist()}")
    return arr


def inputs_frame(fit: Fit, along: str, values: np.ndarray, fixed: Fixed) -> pd.DataFrame:
    """Rows of law inputs: ``along`` at ``values``, the others from ``fixed`` (constants or
    functions of the ``along`` values), as are the data columns of parameters fixed to a
    column (``Model(fixed={"floor": "chance"})``: ``fixed={"chance": 0.25}``)."""
    fixed = dict(fixed or {})
    inputs = fit.model.law.inputs
    constant_columns = set(fit.model.fixed_columns.values())
    named = {k if k in constant_columns else law_input(fit, k, "fixed key"): v
             for k, v in fixed.items()}
    if along in named:
        raise ValueError(f"fixed sets {along!r}, the input varied by along={along!r}; drop it")
    missing = [k for k in (*inputs, *sorted(constant_columns)) if k != along and k not in named]
    if missing:
        raise ValueError(f"fixed must give the other inputs of law {fit.model.law.name} and "
                         f"the columns of parameters fixed to data: missing {missing} (a "
                         f"value, or a function of {along}, e.g. "
                         "fixed={'D': lambda n: C / (6 * n)})")
    cols = {along: values}
    for k, v in named.items():
        out = v(values) if callable(v) else v
        cols[k] = np.broadcast_to(np.asarray(out, dtype=float), values.shape)
    return pd.DataFrame(cols)


def _pair_draws(fit: Fit, a: Mapping[str, Any], b: Mapping[str, Any], rows: pd.DataFrame, *,
                new_groups: bool, seed: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Draws (sample, row) of groups ``a`` and ``b`` at the same rows, from one predict call
    (so draw ``s`` of both uses posterior sample ``s`` and the same new-group draws)."""
    frame = pd.concat([rows.assign(**a), rows.assign(**b)], ignore_index=True)
    out = draws_matrix(predict(fit, frame, new_groups=new_groups, seed=seed, kind="draws",
                               extrapolation=False)["predictions"][kind])
    if np.isnan(out).any():  # a new observation needs a column the rows lack
        lik = fit.model.likelihood
        raise ValueError(f"kind={kind!r}: likelihood {lik.name} needs column(s) "
                         f"{list(lik.columns)} in at to draw new observations")
    n = len(rows)
    return out[:, :n], out[:, n:]


# ---------------------------------------------------------------------------- P(better)
def prob_better(fit: Fit, a: Mapping[str, Any], b: Mapping[str, Any], at: Any, *,
                lower_is_better: bool = True, kind: Literal["curve", "obs"] = "curve",
                new_groups: bool = False, ci_prob: float | Sequence[float] | None = None,
                seed: int | None = None) -> pd.DataFrame:
    """Probability that group ``a`` beats group ``b`` at each row of ``at``.

    With paired draws ``y_a[s]``, ``y_b[s]`` (the law's curve, or a new observation if
    ``kind="obs"``), ``P(a better) = mean_s 1[y_a[s] < y_b[s]]`` (``>`` when
    ``lower_is_better=False``; ties count one half).

    Parameters
    ----------
    a, b : group selections ``{column: level}``; a level the fit has not seen raises
        :class:`~bayescale.UnknownGroupError` unless ``new_groups=True``.
    at : the law's inputs, a dict or a DataFrame (one row per question).

    Returns
    -------
    DataFrame: the rows of ``at`` plus ``prob_a_better``; ``a_median``, ``b_median``;
    ``diff_median`` and ``diff_eti{P}_{lb,ub}`` of ``d = y_a - y_b``; ``ratio_median`` and
    ``ratio_eti{P}_{lb,ub}`` of ``r = y_a / y_b`` (equal-tailed intervals, one per
    ``ci_prob``).
    """
    _check_kind(kind)
    probs = ci_probs(ci_prob)
    rows = as_frame(at)
    a = _selection(fit, a, "a", also=list(rows.columns))
    b = _selection(fit, b, "b", also=list(rows.columns))
    clash = [k for k in rows.columns if k in a or k in b]
    if clash:
        raise ValueError(f"at has column(s) {clash}, which a and b choose; drop them from at")
    ya, yb = _pair_draws(fit, a, b, rows, new_groups=new_groups, seed=_seed(seed), kind=kind)
    diff = ya - yb
    wins = diff < 0 if lower_is_better else diff > 0
    out = rows.copy()
    out["prob_a_better"] = wins.mean(axis=0) + 0.5 * (diff == 0).mean(axis=0)
    out["a_median"] = np.median(ya, axis=0)
    out["b_median"] = np.median(yb, axis=0)
    for prefix, draws in (("diff", diff), ("ratio", ya / yb)):
        for col, values in interval_columns(draws, probs, prefix).items():
            out[col] = values
    return out


# ---------------------------------------------------------------------------- crossover
@dataclass(frozen=True, eq=False)
class Crossover:
    """Where the curves of groups ``a`` and ``b`` cross along one input.

    ``first[s]`` is draw ``s``'s first crossing (NaN if it does not cross in the grid);
    ``median``, ``lower``, ``upper`` summarise the draws that cross (``draws``), so read them
    together with ``prob_cross``.
    """

    along: str
    prob_cross: float           # P(at least one crossing within the grid)
    prob_multiple: float        # P(more than one crossing)
    median: float
    lower: float
    upper: float
    ci_prob: float
    prob_a_lower_after: float   # among crossing draws: a's curve below b's after the crossing
    first: np.ndarray = field(repr=False)
    n_crossings: np.ndarray = field(repr=False)

    @property
    def draws(self) -> np.ndarray:
        """The first crossover point of each draw that crosses."""
        return self.first[np.isfinite(self.first)]

    def to_frame(self) -> pd.DataFrame:
        pct = percent_of(self.ci_prob)
        return pd.DataFrame([{
            "along": self.along, "prob_cross": self.prob_cross,
            "prob_multiple": self.prob_multiple, "median": self.median,
            f"eti{pct}_lb": self.lower, f"eti{pct}_ub": self.upper,
            "prob_a_lower_after": self.prob_a_lower_after}])


def crossover(fit: Fit, a: Mapping[str, Any], b: Mapping[str, Any], *, along: str,
              grid: Sequence[float] | np.ndarray, fixed: Fixed = None, ci_prob: float | None = None,
              new_groups: bool = False, seed: int | None = None) -> Crossover:
    """Posterior of the point where the curves of groups ``a`` and ``b`` cross.

    Per draw, ``d(x) = L_a(x) - L_b(x)`` is evaluated on ``grid`` (values of input ``along``;
    sorted, log spacing recommended; other inputs from ``fixed``, constants or functions of
    the ``along`` value, e.g. ``{"D": lambda n: C / (6 * n)}``). A crossing is a sign change of
    ``d`` between neighbouring grid points (an exact zero takes the previous sign); its point
    is refined by linear interpolation of ``d`` in ``log x``:
    ``log x* = log x_j + (log x_{j+1} - log x_j) d_j / (d_j - d_{j+1})``.
    Crossings between grid points that come and go (two within one grid step) are missed:
    use a grid fine enough for the curves.

    Returns
    -------
    :class:`Crossover`: ``prob_cross = P(>= 1 crossing)``, ``prob_multiple = P(>= 2)``, and
    the median and equal-tailed ``ci_prob`` interval of the first crossing among the draws
    that cross (draws that do not cross are excluded from them, not set to the grid's end).
    """
    (ci_prob,) = ci_probs(ci_prob)
    along = law_input(fit, along, "along")
    x = np.unique(_positive_values(grid, "grid"))
    if x.size < 2:
        raise ValueError(f"grid needs at least 2 distinct values of {along}, got {list(x)}")
    a = _selection(fit, a, "a")
    b = _selection(fit, b, "b")
    rows = inputs_frame(fit, along, x, fixed)
    ya, yb = _pair_draws(fit, a, b, rows, new_groups=new_groups, seed=_seed(seed),
                         kind="curve")
    d = ya - yb
    sign = np.sign(d)
    for j in range(1, sign.shape[1]):  # exact zeros carry the previous sign
        sign[:, j] = np.where(sign[:, j] == 0, sign[:, j - 1], sign[:, j])
    flips = sign[:, :-1] * sign[:, 1:] < 0
    n_cross = flips.sum(axis=1)
    crosses = n_cross > 0
    j = np.argmax(flips, axis=1)
    idx = np.arange(len(d))
    d0, d1 = d[idx, j], d[idx, j + 1]
    lx = np.log(x)
    t = np.divide(d0, d0 - d1, out=np.zeros_like(d0), where=d0 != d1)
    first = np.exp(np.where(crosses, lx[j] + t * (lx[j + 1] - lx[j]), np.nan))
    med, lo, hi = median_interval(first[crosses], ci_prob)
    after = (d1 < 0)[crosses]
    return Crossover(along=along, prob_cross=float(crosses.mean()),
                     prob_multiple=float((n_cross > 1).mean()), median=med, lower=lo, upper=hi,
                     ci_prob=ci_prob,
                     prob_a_lower_after=float(after.mean()) if after.size else np.nan,
                     first=first, n_crossings=n_cross)


# ---------------------------------------------------------------------------- inverse
@dataclass(frozen=True, eq=False)
class InversePrediction:
    """The value of input ``along`` at which the curve reaches ``target``.

    ``values[s]`` is draw ``s``'s solution (NaN where it never reaches the target within
    ``bounds``); ``median``, ``lower``, ``upper`` summarise only the draws that reach it, so
    read them together with ``fraction_unreachable``.
    """

    along: str
    target: float
    bounds: tuple[float, float]
    median: float
    lower: float
    upper: float
    ci_prob: float
    fraction_unreachable: float
    unreachable_above: float   # fraction whose curve stays above the target on all of bounds
    unreachable_below: float   # ... stays below it
    values: np.ndarray = field(repr=False)

    @property
    def draws(self) -> np.ndarray:
        """Solutions of the draws that reach the target."""
        return self.values[np.isfinite(self.values)]

    def to_frame(self) -> pd.DataFrame:
        pct = percent_of(self.ci_prob)
        return pd.DataFrame([{
            "along": self.along, "target": self.target, "median": self.median,
            f"eti{pct}_lb": self.lower, f"eti{pct}_ub": self.upper,
            "fraction_unreachable": self.fraction_unreachable,
            "unreachable_above": self.unreachable_above,
            "unreachable_below": self.unreachable_below}])


def inverse_predict(fit: Fit, target: float, *, along: str, bounds: tuple[float, float],
                    fixed: Fixed = None, group: Mapping[str, Any] | None = None,
                    new_groups: bool = False, ci_prob: float | None = None,
                    kind: Literal["curve", "obs"] = "curve", seed: int | None = None,
                    n_grid: int = 257, xtol: float = 1e-2, extrapolation: bool = True
                    ) -> InversePrediction:
    """Input value at which the curve reaches ``target`` (e.g. the compute for a loss of 2.0).

    Per draw ``s`` solve ``f_s(t) = log L_s(e^t) - log target = 0`` for ``t = log x`` in
    ``log bounds``: bracket on ``n_grid`` evenly spaced ``t`` (the first sign change from the
    lower bound, so decreasing and increasing curves both work; with several solutions the
    smallest is reported), bisect until the bracket ``[t_a, t_b]`` is narrower than ``xtol``,
    then interpolate, ``t* = t_a + (t_b - t_a) f_a / (f_a - f_b)`` (error in ``log x`` about
    ``xtol^2 |f''/f'| / 8``). Other inputs come from ``fixed`` (constants or functions of the
    ``along`` value); ``group`` chooses the group ``{column: level}``.

    ``kind="obs"`` solves for a new run's observation ``L_s(x) exp(sigma_s e_s)`` with one
    noise draw ``e_s`` per posterior draw (the ``studentt`` and ``normal`` likelihoods, whose
    noise on ``log y`` does not depend on the inputs).

    ``extrapolation=True`` (the default) solves with the learned risk of the law being wrong
    beyond the data (``predict``'s term): ``log L_s(x) + d(x) b_s``, ``d`` the e-folds of scale
    beyond the group's largest run and one slope ``b_s`` per draw; inside the data ``d = 0``.
    ``False`` inverts the law's own curve.

    Draws that never reach the target within ``bounds`` are not dropped silently: their
    fraction is ``fraction_unreachable`` (split into curves staying above / below the target),
    and they are left out of the median and the equal-tailed ``ci_prob`` interval, which
    describe the draws that reach it. If no draw reaches it, a warning says so and the
    summaries are NaN.
    """
    _check_kind(kind)
    if kind == "obs" and not fit.model.likelihood.shift_invariant:
        raise ValueError(f"kind='obs' needs noise on log y that does not depend on the inputs "
                         f"(a shift_invariant likelihood: studentt, normal); this fit uses "
                         f"{fit.model.likelihood.name!r}: use kind='curve'")
    (ci_prob,) = ci_probs(ci_prob)
    along = law_input(fit, along, "along")
    if not (np.isscalar(target) and np.isfinite(target) and target > 0):
        raise ValueError(f"target must be a finite number > 0 (the law is positive), "
                         f"got {target!r}")
    lo_hi = _positive_values(bounds, "bounds")
    if lo_hi.size != 2 or not lo_hi[0] < lo_hi[1]:
        raise ValueError(f"bounds must be (low, high) with 0 < low < high, got {bounds!r}")
    if n_grid < 2 or not xtol > 0:
        raise ValueError(f"need n_grid >= 2 and xtol > 0, got n_grid={n_grid}, xtol={xtol}")
    group = _selection(fit, group, "group")
    seed = _seed(seed)

    def evaluate(log_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = inputs_frame(fit, along, np.exp(log_x), fixed).assign(**group)
        out = predict(fit, rows, new_groups=new_groups, seed=seed, kind="draws",
                      extrapolation=extrapolation)["predictions"]
        return draws_matrix(out["curve"]), draws_matrix(out["obs"])

    grid = np.linspace(np.log(lo_hi[0]), np.log(lo_hi[1]), n_grid)
    curve, obs = evaluate(grid)
    n_samples = len(curve)
    # kind="obs": one noise draw per posterior draw, log(obs / curve), moved to the target.
    noise = np.log(obs[:, 0] / curve[:, 0]) if kind == "obs" else np.zeros(n_samples)
    log_target = np.log(target) - noise
    f = np.log(curve) - log_target[:, None]
    event = np.sign(f[:, :-1]) * np.sign(f[:, 1:]) <= 0   # NaN compares False
    reached = event.any(axis=1)
    j = np.argmax(event, axis=1)
    idx = np.flatnonzero(reached)
    a, b = grid[j[idx]], grid[j[idx] + 1]
    fa, fb = f[idx, j[idx]], f[idx, j[idx] + 1]
    check = curve[idx, 0]  # predict must give the same draws in every call (same seed)
    while idx.size and np.max(b - a) > xtol:
        mid = (a + b) / 2
        points, where = np.unique(mid, return_inverse=True)
        fm = np.empty_like(mid)
        for start in range(0, len(points), _CHUNK):  # (samples, chunk) arrays per call
            values, _ = evaluate(np.concatenate([grid[:1], points[start:start + _CHUNK]]))
            if not np.allclose(values[idx, 0], check, rtol=1e-9, atol=0):
                raise RuntimeError("predict gave different draws for the same seed; the "
                                   "inverse prediction cannot pair its evaluations")
            mine = (where >= start) & (where < start + _CHUNK)
            fm[mine] = np.log(values[idx[mine], 1 + where[mine] - start]) - log_target[idx[mine]]
        left = np.sign(fa) * np.sign(fm) <= 0
        b, fb = np.where(left, mid, b), np.where(left, fm, fb)
        a, fa = np.where(left, a, mid), np.where(left, fa, fm)
    t = np.divide(fa, fa - fb, out=np.full_like(fa, 0.5), where=fa != fb)
    values = np.full(n_samples, np.nan)
    values[idx] = np.exp(a + t * (b - a))
    above = float((~reached & (f > 0).all(axis=1)).mean())
    below = float((~reached & (f < 0).all(axis=1)).mean())
    if not reached.any():
        warnings.warn(f"no posterior draw reaches target={target:g} for {along} within "
                      f"bounds={tuple(lo_hi.tolist())}: the curve stays above it in "
                      f"{above:.0%} of draws and below it in {below:.0%} (median curve "
                      f"{np.median(curve[:, 0]):.4g} to {np.median(curve[:, -1]):.4g}); "
                      "widen the bounds or check the target", UserWarning, stacklevel=2)
    med, lo, hi = median_interval(values[idx], ci_prob)
    return InversePrediction(along=along, target=float(target),
                             bounds=(float(lo_hi[0]), float(lo_hi[1])), median=med, lower=lo,
                             upper=hi, ci_prob=ci_prob,
                             fraction_unreachable=float(1 - reached.mean()),
                             unreachable_above=above, unreachable_below=below, values=values)
