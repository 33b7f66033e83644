"""Figures from fits (matplotlib); every function returns the ``Figure``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator
from scipy import stats

from .hierarchy import by_name, dim_name
from .predict import ci_probs, predict
from .predict import percent_of as _pct

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .calibrate import Backtest
    from .decisions import Crossover, Fixed
    from .fit import Fit

__all__ = ["plot_tokens_per_parameter", "plot_shrinkage", "plot_fit", "plot_isoflop",
           "plot_frontier", "plot_forest", "plot_calibration", "plot_pit", "plot_crossover"]


def plot_tokens_per_parameter(fit: Fit, compute: Sequence[float], *,
                              references: Mapping[str, Sequence[float]] | None = None,
                              ci_prob: Sequence[float] = (0.5, 0.95),
                              mark: float | None = None) -> Figure:
    """Posterior of the compute-optimal ``D*/N*`` against compute (log-log), with bands.

    ``references`` maps a label to values of ``D/N`` at the same ``compute`` (e.g. from
    published parameters), drawn as lines; ``mark`` draws a vertical line at a budget.
    """
    compute = np.asarray(compute, dtype=float)
    table = fit.compute_optimal(compute, groups="population", ci_prob=ci_prob)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for p, alpha in zip(sorted(ci_prob, reverse=True), (0.2, 0.4, 0.6), strict=False):
        pct = _pct(p)
        ax.fill_between(table["compute"], table[f"tokens_per_parameter_eti{pct}_lb"],
                        table[f"tokens_per_parameter_eti{pct}_ub"], color="C0", alpha=alpha,
                        lw=0, label=f"bayescale {pct}% interval")
    ax.plot(table["compute"], table["tokens_per_parameter_median"], color="C0",
            label="bayescale median")
    for i, (label, values) in enumerate((references or {}).items()):
        ax.plot(compute, values, ls="--", color=f"C{i + 1}", label=label)
    if mark is not None:
        ax.axvline(mark, color="grey", lw=0.8, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="training compute C (FLOP)",
           ylabel="compute-optimal tokens per parameter D*/N*")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_shrinkage(fits: Mapping[str, Fit], param: str, column: str, *,
                   truth: Mapping[str, float] | None = None, ci_prob: float = 0.9,
                   groups: Sequence[str] | None = None) -> Figure:
    """Per-group estimates of ``param`` under several fits (e.g. pooled vs unpooled), with
    intervals, the pooled population median, and the true values when known. ``groups``
    chooses and orders the levels of ``column`` shown (default: all, as in the first fit);
    long or many labels are drawn rotated."""
    first = next(iter(fits.values()))
    dim = dim_name(column)
    levels = [str(v) for v in first.posterior[dim].values]
    if groups is not None:
        unknown = [g for g in groups if str(g) not in levels]
        if unknown:
            raise ValueError(f"groups {unknown} are not levels of {column}; the fit has {levels}")
        levels = [str(g) for g in groups]
    width = max(6.4, min(16.0, 1.6 + 0.45 * len(levels)))
    fig, ax = plt.subplots(figsize=(width, 3.8))
    offsets = np.linspace(-0.15, 0.15, len(fits))
    q = [(1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2]
    for k, (label, fit) in enumerate(fits.items()):
        by = fit.posterior[by_name(param, column)]
        values = {str(v): v for v in by[dim].values}
        by = by.sel({dim: [values[lv] for lv in levels]})
        lo, med, hi = (by.quantile(qq, dim=("chain", "draw")).values for qq in q)
        x = np.arange(len(levels)) + offsets[k]
        ax.errorbar(x, med, yerr=[med - lo, hi - med], fmt="o", capsize=3, color=f"C{k}",
                    label=f"{label} ({100 * ci_prob:g}% interval)")
    pop = float(first.posterior[param].median())
    ax.axhline(pop, color="C0", lw=0.8, ls="--", label=f"population median ({next(iter(fits))})")
    if truth:
        ax.scatter(range(len(levels)), [truth[lv] for lv in levels], marker="x", color="k",
                   zorder=3, label="true value")
    crowded = len(levels) > 8 or max(len(lv) for lv in levels) * len(levels) > 60
    tick_style = {"rotation": 45, "ha": "right", "fontsize": 8} if crowded else {}
    ax.set_xticks(range(len(levels)), levels, **tick_style)
    ax.set(xlabel=column, ylabel=param)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- helpers
def _new_axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.4)
              ) -> tuple[Figure, Axes, bool]:
    """The user's axes, or a new figure (third value True: ours to lay out)."""
    if ax is not None:
        return ax.figure, ax, False
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax, True


def _finish(fig: Figure, own: bool) -> Figure:
    if own:
        fig.tight_layout()
    return fig


def _plain_log_labels(axis: Any) -> None:
    """Plain numbers (``3``, ``400``) instead of ``3 x 10^0`` on a log axis that spans less than
    two decades (matplotlib then labels minor ticks in scientific notation)."""
    axis.axes.autoscale_view()
    lo, hi = sorted(axis.get_view_interval())
    if not (lo > 0 and hi / lo < 100):
        return
    small = hi / lo < 10

    def label(v: float, _: Any) -> str:
        mantissa = round(v / 10 ** np.floor(np.log10(v) + 1e-9), 6)
        return f"{v:g}" if small or mantissa in (1, 2, 5) else ""

    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(FuncFormatter(label))


def _colours(n: int) -> list[Any]:
    """Distinct colours: tab10 up to 10, tab20 up to 20, then viridis."""
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    if n <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(n)]
    return list(plt.get_cmap("viridis")(np.linspace(0, 0.95, n)))


def _band_alphas(probs: Sequence[float]) -> list[tuple[float, float]]:
    """(probability, alpha) pairs, widest interval first and palest."""
    ordered = sorted(probs, reverse=True)
    return [(p, 0.15 + 0.15 * i) for i, p in enumerate(ordered)]


def _group_keys(fit: Fit, frame: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """A label per row for the combination of grouping levels (finest columns, '/'-joined),
    and the plain data columns that define it (what a prediction row needs)."""
    cols = list(fit.model.grouping_columns)
    if not cols:
        return pd.Series("all runs", index=frame.index), []
    leaves = [c for c in cols if not any(o.startswith(c + "/") for o in cols)]
    base = list(dict.fromkeys(p for c in cols for p in c.split("/")))
    keys = frame[leaves].astype(str).agg("/".join, axis=1)
    return keys, base


def _curve_draws(fit: Fit, rows: pd.DataFrame, group: Mapping[str, Any] | None, *,
                 seed: int | None) -> np.ndarray:
    """Draws (sample, row) of the law's curve at ``rows`` for a group ``{column: level}``, or
    for the population location (all group effects zero, "a typical group") when ``None``."""
    if group:
        out = predict(fit, rows.assign(**group), kind="draws", seed=seed)
        return out["curve"].values
    from .build import canonical_frame
    from .predict import POPULATION, compiled_curve, sampling_values

    frame = canonical_frame(fit.model, rows, need_target=False, need_groups=False)
    n = len(frame)
    codes = {c: np.full(n, POPULATION) for c in fit.model.grouping_columns}
    u = sampling_values(fit, codes, n, np.random.default_rng(seed))
    log_x = {k: np.log(frame[k].to_numpy(dtype=float))[None, :] for k in fit.model.law.inputs}
    log_curve, _ = compiled_curve(fit)(u, log_x)
    return np.exp(log_curve)


# ---------------------------------------------------------------------------- fit
def plot_fit(fit: Fit, data: Any, *, along: str | None = None,
             groups: Sequence[str] | None = None, fixed: Fixed = None,
             extrapolate_to: float | None = None, ci_prob: float | Sequence[float] = (0.5, 0.9),
             new_group: bool = False, heldout: Any = None, n_points: int = 100,
             yscale: str = "log", title: str | None = None, seed: int | None = 0,
             ax: Axes | None = None) -> Figure:
    """Observed runs and the posterior predictive, one colour per group, on log-log axes.

    ``along`` is the law input on the x axis (default ``N`` when the law has it, else its first
    input). The other inputs are

    * held at each run's own values when ``fixed`` is None: the bands are then intervals at
      each observed run (a posterior predictive check, no extrapolation), or
    * given by ``fixed`` (``{input: value or function of the along values}``, e.g.
      ``{"D": lambda n: 20 * n}``): the bands are curves on a grid from the smallest observed
      value of ``along`` to ``extrapolate_to`` (or the largest observed value).

    Shaded bands are equal-tailed ``ci_prob`` intervals of the law's curve; dashed lines the
    widest interval of a new observation (curve plus noise). ``groups`` chooses group labels
    (levels of the grouping column, '/'-joined for several columns); ``new_group=True`` adds
    the curve of a group the fit has not seen, drawn from the population distribution (needs
    curves, i.e. ``fixed`` or a one-input law).

    ``heldout`` takes runs that were not fitted (same columns as ``data``, e.g. the largest
    runs of a backtest): they are drawn as open markers in their group's colour (held-out runs
    of a group the data lacks: in the new group's colour, with ``new_group=True``), the curves
    reach them, and without ``fixed`` they get their intervals as the fitted runs do.
    """
    from .build import canonical_frame
    from .decisions import inputs_frame, law_input

    model = fit.model
    inputs = model.law.inputs
    if along is None:
        along = "N" if "N" in inputs else inputs[0]
    along = law_input(fit, along, "along")
    probs = ci_probs(ci_prob)
    frame = canonical_frame(model, data)
    keys, base = _group_keys(fit, frame)
    present = list(dict.fromkeys(keys))
    order = present
    if groups is not None:
        wanted = [str(g) for g in groups]
        unknown = [g for g in wanted if g not in present]
        if unknown:
            raise ValueError(f"groups {unknown} not in the data; it has {present}")
        order = wanted
    curves = len(inputs) == 1 or fixed is not None
    others = [k for k in inputs if k != along]
    if not curves and (extrapolate_to is not None or new_group):
        raise ValueError(f"extrapolate_to and new_group need curves along {along!r}: give the "
                         f"other input(s) {others} with fixed=, e.g. fixed={{{others[0]!r}: "
                         f"lambda x: 20 * x}}")
    # Colours follow all groups of the data (the same with any subset), unless there are more
    # than ten and a subset is shown: then the shown groups get distinct colours.
    palette = present if len(present) <= 10 or groups is None else order
    colours = dict(zip(palette, _colours(len(palette)), strict=True))
    held, held_keys = _heldout_runs(fit, heldout, present, order, new_group, curves)
    fig, ax, own = _new_axes(ax)
    handles: list[Any] = []
    target = model.target
    widest = max(probs)
    shown = frame[keys.isin(order)]
    if curves:
        x_lo = float(shown[along].min())
        x_hi = float(shown[along].max()) if extrapolate_to is None else float(extrapolate_to)
        if held is not None and extrapolate_to is None:
            x_lo = min(x_lo, float(held[along].min()))
            x_hi = max(x_hi, float(held[along].max()))
        if not x_hi > x_lo:
            raise ValueError(f"extrapolate_to={extrapolate_to} must exceed the smallest observed "
                             f"{along} ({x_lo:g})")
        grid = np.geomspace(x_lo, x_hi, n_points)
        rows = inputs_frame(fit, along, grid, fixed)
        settings = []
        for label in order:
            first = frame.loc[keys == label].iloc[0]
            settings.append((label, {c: first[c] for c in base}, False))
        if new_group:
            settings.append((f"new {'/'.join(base) or 'group'} (population)",
                             {c: f"(new {c})" for c in base}, True))
            colours[settings[-1][0]] = "0.35"
        for label, sel, new in settings:
            pred = predict(fit, rows.assign(**sel), ci_prob=probs, new_groups=new, seed=seed)
            colour = colours[label]
            for p, alpha in _band_alphas(probs):
                ax.fill_between(grid, pred[f"curve_eti{_pct(p)}_lb"],
                                pred[f"curve_eti{_pct(p)}_ub"], color=colour, alpha=alpha, lw=0,
                                gid=f"curve_band {_pct(p)} {label}")
            ax.plot(grid, pred["curve_median"], color=colour, lw=1.4, gid=f"median {label}")
            if np.isfinite(pred[f"obs_eti{_pct(widest)}_lb"]).all():
                for side in ("lb", "ub"):
                    ax.plot(grid, pred[f"obs_eti{_pct(widest)}_{side}"], color=colour, lw=0.8,
                            ls="--", gid=f"obs_band {side} {label}")
            if not new:
                sub = frame[keys == label]
                ax.scatter(sub[along], sub[target], color=colour, s=16, edgecolor="k",
                           linewidth=0.4, zorder=3, alpha=0.7 if others else 1.0,
                           gid=f"runs {label}")
                handles.append(Line2D([], [], color=colour, marker="o", markeredgecolor="k",
                                      markeredgewidth=0.4, label=f"{label} ({len(sub)} runs)"))
            else:
                handles.append(Line2D([], [], color=colour, label=label))
            if held is not None:
                mine = ~held_keys.isin(present) if new else held_keys == label
                _draw_heldout(ax, held[mine.to_numpy()], along, target, colour, label)
        if held is not None:
            handles.append(_heldout_handle(len(held)))
        fitted_max = float(shown[along].max())
        if x_hi > fitted_max * (1 + 1e-9):
            ax.axvline(fitted_max, color="0.5", lw=0.8, ls=":")
            what = "fitted" if held is not None else "observed"
            handles.append(Line2D([], [], color="0.5", lw=0.8, ls=":",
                                  label=f"largest {what} {along}"))
        if others:
            fixed_text = ", ".join(f"{k} = {_describe(v, along)}" for k, v in fixed.items())
            auto = f"curves at {fixed_text}; runs at their own {', '.join(others)}"
            ax.set_title(auto if title is None else title, fontsize=9)
        elif title is not None:
            ax.set_title(title, fontsize=9)
    else:
        for label in order:
            colour = colours[label]
            mine = held[(held_keys == label).to_numpy()] if held is not None else frame[:0]
            if len(mine):
                pred = predict(fit, mine, ci_prob=probs, seed=seed)
                ax.vlines(mine[along].to_numpy(dtype=float), pred[f"obs_eti{_pct(widest)}_lb"],
                          pred[f"obs_eti{_pct(widest)}_ub"], color=colour, lw=0.8,
                          linestyles="--", gid=f"heldout_obs_band {label}")
                _draw_heldout(ax, mine, along, target, colour, label)
            sub = frame[keys == label].sort_values(along)
            pred = predict(fit, sub, ci_prob=probs, seed=seed)
            x = sub[along].to_numpy(dtype=float)
            for p, alpha in _band_alphas(probs):
                ax.vlines(x, pred[f"curve_eti{_pct(p)}_lb"], pred[f"curve_eti{_pct(p)}_ub"],
                          color=colour, alpha=min(1.0, 2 * alpha), lw=4,
                          gid=f"curve_band {_pct(p)} {label}")
            ax.vlines(x, pred[f"obs_eti{_pct(widest)}_lb"], pred[f"obs_eti{_pct(widest)}_ub"],
                      color=colour, lw=0.8, linestyles="--", gid=f"obs_band {label}")
            ax.scatter(x, sub[target], color=colour, s=16, edgecolor="k", linewidth=0.4,
                       zorder=3, gid=f"runs {label}")
            handles.append(Line2D([], [], color=colour, marker="o", markeredgecolor="k",
                                  markeredgewidth=0.4, ls="none",
                                  label=f"{label} ({len(sub)} runs)"))
        if held is not None:
            handles.append(_heldout_handle(len(held)))
        auto = f"intervals at each run's own {', '.join(others)}"
        ax.set_title(auto if title is None else title, fontsize=9)
    for p, alpha in _band_alphas(probs):
        handles.append(Patch(color="0.3", alpha=alpha if curves else min(1.0, 2 * alpha),
                             lw=0, label=f"curve {_pct(p)}% interval"))
    handles.append(Line2D([], [], color="0.3", lw=0.8, ls="--",
                          label=f"new observation {_pct(widest)}% interval"))
    ax.set(xscale="log", yscale=yscale, xlabel=f"{along} (log scale)",
           ylabel=f"{target}" + (" (log scale)" if yscale == "log" else ""))
    if yscale == "log":
        _plain_log_labels(ax.yaxis)
    ax.legend(handles=handles, fontsize=7, ncol=2 if len(handles) > 8 else 1)
    return _finish(fig, own)


def _heldout_runs(fit: Fit, heldout: Any, present: Sequence[str], order: Sequence[str],
                  new_group: bool, curves: bool) -> tuple[pd.DataFrame | None, pd.Series]:
    """The held-out runs to draw (those of the shown groups and, with ``new_group``, of groups
    the data lacks) and their group labels."""
    from .build import canonical_frame

    if heldout is None:
        return None, pd.Series(dtype=str)
    held = canonical_frame(fit.model, heldout)
    keys, _ = _group_keys(fit, held)
    unseen = sorted(set(keys) - set(present))
    if unseen and not (new_group and curves):
        raise ValueError(f"heldout has runs of groups {unseen} that the data lacks; draw them "
                         "with the new group's curve (new_group=True and curves: fixed= or a "
                         "one-input law)")
    keep = (keys.isin(order) | ~keys.isin(present)).to_numpy()
    if not keep.any():
        raise ValueError(f"heldout has no runs of the shown groups {list(order)}")
    return held[keep].reset_index(drop=True), keys[keep].reset_index(drop=True)


def _draw_heldout(ax: Axes, runs: pd.DataFrame, along: str, target: str, colour: Any,
                  label: str) -> None:
    if len(runs):
        ax.scatter(runs[along], runs[target], facecolor="white", edgecolor=colour, s=28,
                   linewidth=1.4, zorder=4, gid=f"heldout {label}")


def _heldout_handle(n: int) -> Line2D:
    return Line2D([], [], ls="none", marker="o", markerfacecolor="white",
                  markeredgecolor="0.3", markeredgewidth=1.4,
                  label=f"held-out runs, not fitted ({n})")


def _describe(value: Any, along: str) -> str:
    """``20 N``-style text for a fixed input: a number, a named function, or ``f(N)``."""
    if not callable(value):
        return f"{float(value):.3g}"
    name = getattr(value, "__name__", "<lambda>")
    return f"f({along})" if name == "<lambda>" else f"{name}({along})"


# ---------------------------------------------------------------------------- IsoFLOP
def plot_isoflop(fit: Fit, compute: Sequence[float], *,
                 n_range: tuple[float, float] | None = None, ci_prob: float = 0.9,
                 data: Any = None, group: Mapping[str, Any] | None = None,
                 tolerance: float = 0.15, flops_per_param_token: float = 6.0,
                 n_points: int = 80, seed: int | None = 0, ax: Axes | None = None) -> Figure:
    """IsoFLOP curves: the loss against ``N`` at fixed compute ``C = 6 N D`` (``D = C/(6N)``),
    one curve (median and ``ci_prob`` band of the law's curve) per budget, with the posterior
    compute-optimal ``N*`` marked (median, and its ``ci_prob`` interval as a horizontal bar).

    ``group`` chooses a group ``{column: level}``; default the population location (all group
    effects zero, as ``compute_optimal(groups="population")``). ``n_range`` is the range of
    ``N`` (default ``N*/30`` to ``30 N*`` per budget). Runs in ``data`` whose ``6ND`` lies
    within ``tolerance`` (log10 units) of a budget are drawn in that budget's colour.
    """
    from .build import canonical_frame

    law = fit.model.law
    if set(law.inputs) != {"N", "D"}:
        raise ValueError(f"plot_isoflop needs a law in N and D; {law.name} has inputs "
                         f"{list(law.inputs)}")
    (prob,) = ci_probs(ci_prob)
    budgets = np.sort(np.atleast_1d(np.asarray(compute, dtype=float)))
    k = flops_per_param_token
    where: str | Mapping[str, Any] = "population" if not group else dict(group)
    opt = fit.compute_optimal(budgets, groups=where, ci_prob=prob, seed=seed,
                              flops_per_param_token=k)
    fig, ax, own = _new_axes(ax, figsize=(8.6, 4.4))
    colours = list(plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(budgets))))
    runs = None
    if data is not None:
        runs = canonical_frame(fit.model, data)
        run_c = np.log10(k * runs["N"].to_numpy(float) * runs["D"].to_numpy(float))
    handles: list[Any] = []
    pct = _pct(prob)
    for i, (c, row) in enumerate(zip(budgets, opt.itertuples(index=False), strict=True)):
        n_star = row.N_opt_median
        lo, hi = (n_range if n_range is not None else (n_star / 30, n_star * 30))
        if runs is not None:
            near = np.abs(run_c - np.log10(c)) <= tolerance
            if near.any() and n_range is None:
                lo = min(lo, runs["N"][near].min() / 1.5)
                hi = max(hi, runs["N"][near].max() * 1.5)
        n = np.geomspace(lo, hi, n_points)
        rows = pd.DataFrame({"N": n, "D": c / (k * n)})
        draws = _curve_draws(fit, rows, group, seed=seed)
        med = np.median(draws, axis=0)
        lb, ub = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        colour = colours[i]
        ax.fill_between(n, lb, ub, color=colour, alpha=0.25, lw=0, gid=f"curve_band {c:g}")
        ax.plot(n, med, color=colour, lw=1.4, gid=f"median {c:g}")
        handles.append(Line2D([], [], color=colour, lw=1.4, label=f"C = {c:.3g} FLOP"))
        n_lo, n_hi = getattr(row, f"N_opt_eti{pct}_lb"), getattr(row, f"N_opt_eti{pct}_ub")
        loss_star = row.loss_opt_median
        bar = ax.errorbar([n_star], [loss_star], xerr=[[n_star - n_lo], [n_hi - n_star]],
                          fmt="D", color=colour, markeredgecolor="k", ms=6, capsize=3, zorder=4)
        bar.lines[0].set_gid(f"optimum {c:g}")
        if runs is not None and near.any():
            ax.scatter(runs["N"][near], runs[fit.model.target][near], color=colour, s=18,
                       edgecolor="k", linewidth=0.4, zorder=3, gid=f"runs {c:g}")
    who = "population" if not group else ", ".join(f"{a}={b}" for a, b in group.items())
    handles.append(Patch(color="0.4", alpha=0.25, lw=0, label=f"curve {pct}% interval"))
    handles.append(Line2D([], [], color="0.4", marker="D", markeredgecolor="k", ls="none",
                          label=f"compute-optimal N* (median, {pct}% interval)"))
    if runs is not None:
        handles.append(Line2D([], [], color="0.4", marker="o", markeredgecolor="k", ls="none",
                              label=f"observed runs ({k:g}ND within a factor "
                                    f"{10 ** tolerance:.3g} of C)"))
    ax.set(xscale="log", xlabel="N (log scale)", ylabel=f"{fit.model.target}",
           title=f"IsoFLOP curves ({who}; D = C / ({k:g} N))")
    ax.title.set_fontsize(9)
    # Outside the axes: IsoFLOP curves and their runs leave no corner reliably empty.
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _finish(fig, own)


# ---------------------------------------------------------------------------- frontier
def plot_frontier(fit: Fit, compute: Sequence[float], *,
                  ci_prob: float | Sequence[float] = (0.5, 0.9),
                  groups: str | Mapping[str, str] = "population",
                  flops_per_param_token: float = 6.0, seed: int | None = 0) -> Figure:
    """Compute-optimal frontier: ``N*(C)`` (left) and ``D*/N*`` (right) against compute, log-log,
    with equal-tailed ``ci_prob`` bands from :meth:`Fit.compute_optimal` (``groups`` as
    there: ``"population"``, ``"all"`` or ``{column: level}``)."""
    probs = ci_probs(ci_prob)
    budgets = np.sort(np.atleast_1d(np.asarray(compute, dtype=float)))
    table = fit.compute_optimal(budgets, groups=groups, ci_prob=probs, seed=seed,
                                flops_per_param_token=flops_per_param_token)
    labels = list(dict.fromkeys(table["group"]))
    colours = _colours(len(labels))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    panels = (("N_opt", "N* (log scale)", "compute-optimal parameters N*"),
              ("tokens_per_parameter", "D*/N* (log scale)", "compute-optimal tokens per parameter"))
    for ax, (q, ylabel, heading) in zip(axes, panels, strict=True):
        handles: list[Any] = []
        for label, colour in zip(labels, colours, strict=True):
            sub = table[table["group"] == label]
            for p, alpha in _band_alphas(probs):
                ax.fill_between(sub["compute"], sub[f"{q}_eti{_pct(p)}_lb"],
                                sub[f"{q}_eti{_pct(p)}_ub"], color=colour, alpha=alpha, lw=0,
                                gid=f"band {_pct(p)} {label}")
            ax.plot(sub["compute"], sub[f"{q}_median"], color=colour, lw=1.4,
                    gid=f"median {label}")
            handles.append(Line2D([], [], color=colour, lw=1.4, label=f"{label} (median)"))
        for p, alpha in _band_alphas(probs):
            handles.append(Patch(color="0.3", alpha=alpha, lw=0, label=f"{_pct(p)}% interval"))
        ax.set(xscale="log", yscale="log", xlabel="training compute C (FLOP, log scale)",
               ylabel=ylabel)
        ax.set_title(heading, fontsize=9)
        _plain_log_labels(ax.yaxis)
        ax.legend(handles=handles, fontsize=7)
    edge = table["boundary_fraction"].max()
    if edge > 0:
        fig.suptitle(f"up to {edge:.0%} of draws have their optimum at the search boundary",
                     fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- forest
def plot_forest(fit: Fit, param: str, column: str, *, ci_prob: float = 0.9,
                data: Any = None, new_group: bool = True, seed: int | None = 0,
                xscale: str | None = None, ax: Axes | None = None) -> Figure:
    """Forest plot of the group-level values ``{param}_by_{column}``: median and equal-tailed
    ``ci_prob`` interval per group, the population value (line and band), and each group's
    number of observed runs in its label, so shrinkage of small groups toward the population
    is visible. ``new_group`` adds the interval for a group the fit has not seen (the
    population distribution). Run counts come from the fitted data (or ``data`` for a fit
    loaded from disk). ``xscale`` defaults to log when the intervals span a factor > 10.
    """
    name = by_name(param, column)
    if name not in fit.posterior:
        varying = [v for v in fit.posterior.data_vars if "_by_" in str(v)]
        raise ValueError(f"{name!r} is not in the posterior: {param} does not vary by {column} "
                         f"in this model (group-level variables: {varying})")
    (prob,) = ci_probs(ci_prob)
    q = [(1 - prob) / 2, 0.5, (1 + prob) / 2]
    dim = dim_name(column)
    levels = [str(v) for v in fit.posterior[dim].values]
    by = fit.posterior[name].stack(sample=("chain", "draw")).transpose(dim, "sample").values
    lo, med, hi = np.quantile(by, q, axis=1)
    counts = _run_counts(fit, column, levels, data)
    pop = fit.posterior[param].values.reshape(-1)
    pop_lo, pop_med, pop_hi = np.quantile(pop, q)
    fig, ax, own = _new_axes(ax, figsize=(6.4, 2.0 + 0.42 * (len(levels) + new_group)))
    y = np.arange(len(levels))[::-1] + (1 if new_group else 0)
    ax.axvspan(pop_lo, pop_hi, color="C0", alpha=0.12, lw=0,
               label=f"population {param} ({_pct(prob)}% interval)")
    ax.axvline(pop_med, color="C0", lw=1, ls="--", label=f"population {param} (median)",
               gid="population")
    bars = ax.errorbar(med, y, xerr=[med - lo, hi - med], fmt="o", color="k", capsize=3, ms=5,
                       label=f"{column} (median, {_pct(prob)}% interval)")
    bars.lines[0].set_gid("groups")
    labels = [f"{lv} (n={counts[lv]})" if counts else lv for lv in levels]
    ticks = list(y)
    if new_group:
        new = _new_group_draws(fit, param, column, seed)
        n_lo, n_med, n_hi = np.quantile(new, q)
        ax.errorbar([n_med], [0], xerr=[[n_med - n_lo], [n_hi - n_med]], fmt="D",
                    color="C1", capsize=3, ms=5, label=f"new {column} (population distribution)")
        ticks.append(0)
        labels.append(f"new {column}")
    ax.set_yticks(ticks, labels)
    lows = np.concatenate([lo, [pop_lo]])
    highs = np.concatenate([hi, [pop_hi]])
    if xscale is None:
        xscale = "log" if lows.min() > 0 and highs.max() / lows.min() > 10 else "linear"
    ax.set(xscale=xscale, xlabel=f"{param}" + (" (log scale)" if xscale == "log" else ""),
           ylabel=column, title=f"{name}: partial pooling toward the population")
    ax.title.set_fontsize(9)
    if xscale == "log":
        _plain_log_labels(ax.xaxis)
    # Below the x label: a fixed distance (0.55 inch) whatever the height of the axes.
    height = ax.get_position().height * fig.get_figheight()
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.55 / height), ncol=2)
    return _finish(fig, own)


def _run_counts(fit: Fit, column: str, levels: Sequence[str], data: Any) -> dict[str, int]:
    """Observed runs per level of ``column`` (empty when neither the design nor data has it)."""
    if data is not None:
        from .build import canonical_frame

        frame = canonical_frame(fit.model, data)
        counts = frame[column].astype(str).value_counts()
        return {lv: int(counts.get(lv, 0)) for lv in levels}
    if fit.design is not None and column in fit.design.codes:
        n = np.bincount(fit.design.codes[column], minlength=len(levels))
        return {lv: int(n[i]) for i, lv in enumerate(fit.design.levels[column])}
    return {}


def _new_group_draws(fit: Fit, param: str, column: str, seed: int | None) -> np.ndarray:
    """Draws of ``param`` for a new level of ``column`` (other groupings at their population
    location): the hierarchy's population distribution, as predictions draw it."""
    from .predict import POPULATION, natural_values, sampling_values

    codes = {c: np.array([-1 if c == column else POPULATION]) for c in fit.model.grouping_columns}
    u = sampling_values(fit, codes, 1, np.random.default_rng(seed))
    return natural_values(fit, u)[param][:, 0]


# ---------------------------------------------------------------------------- backtests
def _methods(backtest: Backtest, methods: Sequence[str] | None) -> list[str]:
    have = [m for m in ("bayescale", "baseline") if any(m in f for f in backtest.folds)]
    if methods is None:
        return have
    missing = [m for m in methods if m not in have]
    if missing:
        raise ValueError(f"the backtest has no scores for {missing}; it has {have}")
    return list(methods)


def _binomial_band(n: int, p: np.ndarray, band_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``band_prob`` interval of Binomial(n, p) / n."""
    lo = stats.binom.ppf((1 - band_prob) / 2, n, p) / n
    hi = stats.binom.ppf((1 + band_prob) / 2, n, p) / n
    return lo, hi


def plot_calibration(backtest: Backtest, *, methods: Sequence[str] | None = None,
                     band_prob: float = 0.9, ax: Axes | None = None) -> Figure:
    """Empirical coverage of held-out runs against the nominal probability of each central
    interval, per method (default: ``bayescale`` and ``baseline``, those the backtest has),
    with the diagonal and the central ``band_prob`` range of a calibrated method's coverage
    (Binomial(n, p) / n for the n held-out runs)."""
    names = _methods(backtest, methods)
    table = backtest.table()
    probs = np.asarray(backtest.probs, dtype=float)
    fig, ax, own = _new_axes(ax, figsize=(5.0, 4.8))
    n = int(table.loc[names[0], "n"])
    p = np.linspace(0.005, 0.995, 199)
    lo, hi = _binomial_band(n, p, band_prob)
    ax.fill_between(p, lo, hi, step="mid", color="0.5", alpha=0.2, lw=0, gid="binomial_band",
                    label=f"{_pct(band_prob)}% range if calibrated (n = {n})")
    ax.plot([0, 1], [0, 1], color="0.3", lw=0.8, ls="--", label="nominal = empirical",
            gid="diagonal")
    for i, m in enumerate(names):
        cover = [float(table.loc[m, f"coverage_{100 * q:g}"]) for q in probs]
        ax.plot(probs, cover, marker="os"[i % 2], color=f"C{i}", lw=1.2, gid=f"coverage {m}",
                label=f"{m} ({int(table.loc[m, 'n'])} held-out runs)")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), aspect="equal",
           xlabel="nominal probability of the central interval",
           ylabel="empirical coverage of held-out runs",
           title=f"backtest {backtest.holdout}: interval coverage")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="upper left")
    return _finish(fig, own)


def plot_pit(backtest: Backtest, *, methods: Sequence[str] | None = None, bins: int = 10,
             band_prob: float = 0.9) -> Figure:
    """Histograms of the held-out runs' PIT values ``P(y_rep <= y)``, one panel per method,
    with the uniform expectation ``n / bins`` and the central ``band_prob`` range of a bin's
    count under uniformity (Binomial(n, 1/bins))."""
    names = _methods(backtest, methods)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2), sharey=True,
                             squeeze=False)
    edges = np.linspace(0.0, 1.0, bins + 1)
    for ax, m in zip(axes[0], names, strict=True):
        pit = backtest.pit(m)
        n = len(pit)
        lo, hi = stats.binom.ppf([(1 - band_prob) / 2, (1 + band_prob) / 2], n, 1 / bins)
        ax.axhspan(lo, hi, color="0.5", alpha=0.2, lw=0,
                   label=f"{_pct(band_prob)}% range if uniform")
        ax.hist(pit, bins=edges, color="C0" if m == "bayescale" else "C1", edgecolor="k",
                lw=0.5, label=f"{m} ({n} held-out runs)")
        ax.axhline(n / bins, color="k", lw=1, ls="--", label="uniform (calibrated)")
        ax.set(xlim=(0, 1), xlabel="PIT = P(y_rep <= y) of held-out runs", title=m)
        ax.set_ylim(0, 1.1 * max(hi, np.histogram(pit, bins=edges)[0].max()))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    axes[0][0].set_ylabel(f"held-out runs per bin ({bins} bins)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- crossover
def plot_crossover(result: Crossover, *, bins: int = 40, title: str | None = None,
                   ax: Axes | None = None) -> Figure:
    """Posterior of the first crossing point of two groups' curves (histogram of the draws that
    cross, on a log axis), its median and ``ci_prob`` interval, and ``P(cross)``, the share of
    draws that cross within the grid, in the title and legend."""
    draws = result.draws
    fig, ax, own = _new_axes(ax)
    pct = _pct(result.ci_prob)
    if draws.size:
        lo_edge, hi_edge = draws.min(), draws.max()
        if hi_edge <= lo_edge:
            lo_edge, hi_edge = lo_edge / 1.1, hi_edge * 1.1
        ax.hist(draws, bins=np.geomspace(lo_edge, hi_edge, bins + 1), color="C0", alpha=0.7,
                edgecolor="k", lw=0.4, label=f"first crossing ({draws.size} of "
                f"{result.first.size} draws cross; P = {result.prob_cross:.2f})")
        ax.axvline(result.median, color="k", lw=1.2, label=f"median {result.median:.3g}")
        ax.axvline(result.lower, color="C3", lw=1, ls="--",
                   label=f"{pct}% interval [{result.lower:.3g}, {result.upper:.3g}]")
        ax.axvline(result.upper, color="C3", lw=1, ls="--")
    else:
        ax.text(0.5, 0.5, "no posterior draw crosses within the grid", ha="center",
                va="center", transform=ax.transAxes)
        ax.plot([], [], color="C0", label="P(cross) = 0")
    if result.prob_multiple > 0:
        ax.plot([], [], ls="none", label=f"P(more than one crossing) = {result.prob_multiple:.2f}")
    ax.set(xscale="log", xlabel=f"{result.along} at the first crossing (log scale)",
           ylabel="posterior draws")
    head = f"{title}: " if title else ""
    ax.set_title(f"{head}P(curves cross in range) = {result.prob_cross:.2f}", fontsize=9)
    ax.legend(fontsize=7)
    return _finish(fig, own)
