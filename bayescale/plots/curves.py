"""The fit against the data: observed runs, posterior predictive bands and curves, held-out
runs (:func:`plot_fit`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..hierarchy import data_columns, finest_columns, group_keys
from ..intervals import ci_probs
from ..intervals import percent_of as _pct
from ..predict import predict
from .common import band_alphas, distinct_colours, finish, new_axes, plain_log_labels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..decisions import Fixed
    from ..fit import Fit

__all__ = ["plot_fit"]


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
    from ..build import canonical_frame
    from ..decisions import inputs_frame, law_input

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
    colours = dict(zip(palette, distinct_colours(len(palette)), strict=True))
    held, held_keys = _heldout_runs(fit, heldout, present, order, new_group, curves)
    fig, ax, own = new_axes(ax)
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
            for p, alpha in band_alphas(probs):
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
            for p, alpha in band_alphas(probs):
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
    for p, alpha in band_alphas(probs):
        handles.append(Patch(color="0.3", alpha=alpha if curves else min(1.0, 2 * alpha),
                             lw=0, label=f"curve {_pct(p)}% interval"))
    handles.append(Line2D([], [], color="0.3", lw=0.8, ls="--",
                          label=f"new observation {_pct(widest)}% interval"))
    ax.set(xscale="log", yscale=yscale, xlabel=f"{along} (log scale)",
           ylabel=f"{target}" + (" (log scale)" if yscale == "log" else ""))
    if yscale == "log":
        plain_log_labels(ax.yaxis)
    ax.legend(handles=handles, fontsize=7, ncol=2 if len(handles) > 8 else 1)
    return finish(fig, own)


def _heldout_runs(fit: Fit, heldout: Any, present: Sequence[str], order: Sequence[str],
                  new_group: bool, curves: bool) -> tuple[pd.DataFrame | None, pd.Series]:
    """The held-out runs to draw (those of the shown groups and, with ``new_group``, of groups
    the data lacks) and their group labels."""
    from ..build import canonical_frame

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


def _group_keys(fit: Fit, frame: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """A label per row for the combination of grouping levels (finest columns, '/'-joined),
    and the plain data columns that define it (what a prediction row needs)."""
    cols = list(fit.model.grouping_columns)
    if not cols:
        return pd.Series("all runs", index=frame.index), []
    return group_keys(frame, finest_columns(cols)), data_columns(cols)
