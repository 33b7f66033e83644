"""Figures from fits (matplotlib); every function returns the ``Figure``.

By subject:

* :mod:`~bayescale.plots.curves`: the fit against the data (:func:`plot_fit`);
* :mod:`~bayescale.plots.allocation`: compute allocation (:func:`plot_isoflop`,
  :func:`plot_frontier`, :func:`plot_tokens_per_parameter`);
* :mod:`~bayescale.plots.groups`: group-level estimates (:func:`plot_forest`,
  :func:`plot_shrinkage`);
* :mod:`~bayescale.plots.calibration`: backtests (:func:`plot_calibration`, :func:`plot_pit`);
* :mod:`~bayescale.plots.decisions`: crossings of two groups (:func:`plot_crossover`);
* :mod:`~bayescale.plots.capabilities`: latent capabilities (:func:`plot_family_efficiency`,
  :func:`plot_score_forecast`);
* :mod:`~bayescale.plots.common`: the axes, layout and colours they share.
"""

from __future__ import annotations

from .allocation import plot_frontier, plot_isoflop, plot_tokens_per_parameter
from .calibration import plot_calibration, plot_pit
from .capabilities import plot_family_efficiency, plot_score_forecast
from .curves import plot_fit
from .decisions import plot_crossover
from .groups import plot_forest, plot_shrinkage

__all__ = ["plot_tokens_per_parameter", "plot_shrinkage", "plot_fit", "plot_isoflop",
           "plot_frontier", "plot_forest", "plot_calibration", "plot_pit", "plot_crossover",
           "plot_family_efficiency", "plot_score_forecast"]
