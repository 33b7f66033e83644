"""What every figure shares: its axes, its layout, its colours, its log-axis labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["new_axes", "finish", "plain_log_labels", "distinct_colours", "band_alphas"]


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.4)
              ) -> tuple[Figure, Axes, bool]:
    """The user's axes, or a new figure (third value True: ours to lay out)."""
    if ax is not None:
        return ax.figure, ax, False
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax, True


def finish(fig: Figure, own: bool) -> Figure:
    if own:
        fig.tight_layout()
    return fig


def plain_log_labels(axis: Any) -> None:
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


def distinct_colours(n: int) -> list[Any]:
    """Distinct colours: tab10 up to 10, tab20 up to 20, then viridis."""
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    if n <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(n)]
    return list(plt.get_cmap("viridis")(np.linspace(0, 0.95, n)))


def band_alphas(probs: Sequence[float]) -> list[tuple[float, float]]:
    """(probability, alpha) pairs, widest interval first and palest."""
    ordered = sorted(probs, reverse=True)
    return [(p, 0.15 + 0.15 * i) for i, p in enumerate(ordered)]
