"""The result of an SBC run: ranks, per-simulation diagnostics, uniformity tests, figures."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .stats import uniformity_test

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["SBCResult"]


@dataclass
class SBCResult:
    """Ranks and fit diagnostics of a simulation-based calibration run.

    Attributes
    ----------
    ranks : DataFrame
        One row per simulation, one column per parameter: the number of the ``n_draws``
        thinned posterior draws below the true value (``<NA>`` where the fit failed).
    diagnostics : DataFrame
        One row per simulation: ``seed``, ``divergences``, ``max_rhat``, ``min_ess_bulk``,
        ``min_ess_tail``, ``seconds``, ``y_min`` and ``y_max`` of the simulated target, and
        ``error`` (the message of a fit that raised, else empty).
    n_draws : int
        ``L``: ranks lie in ``0 .. L``.
    rejected : int
        Prior draws whose data were impossible (NaN, inf, outside the likelihood's support)
        and were redrawn.
    model : dict
        Spec (``Model.to_dict()``) of the model simulated from, priors fixed.
    fit_model : dict
        Spec of the model fitted (the same unless ``sbc(fit_model=...)``).
    settings : dict
        Draws, thinning, sampler settings, seed entropy, and the design's ``DataScale``.
    """

    ranks: pd.DataFrame
    diagnostics: pd.DataFrame
    n_draws: int
    rejected: int
    model: dict[str, Any]
    fit_model: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def simulations(self) -> int:
        """Number of simulations run (failed fits included)."""
        return len(self.ranks)

    @property
    def failed(self) -> int:
        """Number of simulations whose fit raised an error (no ranks)."""
        return int((self.diagnostics["error"] != "").sum())

    @property
    def divergent(self) -> int:
        """Number of simulations whose fit had at least one divergent transition."""
        return int((self.diagnostics["divergences"].fillna(0) > 0).sum())

    def flagged(self, max_rhat: float = 1.01) -> pd.DataFrame:
        """Simulations whose fit diverged, had R-hat above ``max_rhat``, or failed.

        Their data (``y_min``, ``y_max``) show whether the prior generated data sets the
        sampler cannot handle. They are kept in the ranks: leaving them out would select
        simulations by their data and bias the test.

        Parameters
        ----------
        max_rhat : float
            R-hat above which a fit is flagged.

        Returns
        -------
        DataFrame
            The flagged rows of ``diagnostics``.
        """
        d = self.diagnostics
        bad = (d["divergences"].fillna(0) > 0) | (d["max_rhat"] > max_rhat) | (d["error"] != "")
        return d[bad]

    def uniformity(self, bins: int | None = None) -> pd.DataFrame:
        """Chi-square uniformity test per parameter (see :func:`~bayescale.sbc.uniformity_test`).

        Parameters
        ----------
        bins : int, optional
            Number of rank bins; :func:`~bayescale.sbc.default_bins` of the number of simulations.

        Returns
        -------
        DataFrame
            Index: parameter; columns ``statistic``, ``dof``, ``p_value``, ``bins``,
            ``simulations``.
        """
        rows = {name: uniformity_test(self.ranks[name].to_numpy(dtype=float, na_value=np.nan),
                                      self.n_draws, bins)
                for name in self.ranks.columns}
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "parameter"
        return table

    def summary(self, bins: int | None = None) -> pd.DataFrame:
        """Per parameter: mean and sd of the normalised rank ``rank / L``, the chi-square
        test, and the number of simulations that diverged or failed.

        Uniform ranks have mean 0.5 and sd ``sqrt(1/12) = 0.289`` (slightly more for small
        ``L``). A mean below 0.5 means true values tend to lie below the posterior (the
        posterior is biased upward); an sd above 0.289 a posterior too narrow, below it one
        too wide. ``mean_z`` is the mean's distance from 0.5 in standard errors under
        uniformity (``|z| > 3.3``: two-sided p < 0.001); it detects a bias with fewer
        simulations than the chi-square test, which looks at every shape.

        Parameters
        ----------
        bins : int, optional
            Number of rank bins of the chi-square test.

        Returns
        -------
        DataFrame
            Index: parameter; columns ``mean_rank``, ``sd_rank``, ``mean_z``, ``statistic``,
            ``dof``, ``p_value``, ``bins``, ``simulations``, ``divergent``, ``failed``.
        """
        norm = self.ranks.astype(float) / self.n_draws
        sd_uniform = math.sqrt(((self.n_draws + 1) ** 2 - 1) / 12) / max(self.n_draws, 1)
        table = pd.DataFrame({"mean_rank": norm.mean(), "sd_rank": norm.std(ddof=1)})
        table["mean_z"] = (table["mean_rank"] - 0.5) / (sd_uniform / np.sqrt(norm.count()))
        table.index.name = "parameter"
        table = table.join(self.uniformity(bins))
        table["divergent"] = self.divergent
        table["failed"] = self.failed
        return table

    def histogram(self, bins: int | None = None, *, band: float = 0.99,
                  var_names: Sequence[str] | None = None, ncols: int = 4) -> Figure:
        """Rank histograms with the ``band`` interval of a bin's count under uniformity.

        The band of bin ``k`` holds ``band`` of the mass of ``Binomial(S, p_k)``, ``S`` the
        number of simulations and ``p_k`` the bin's probability; it is pointwise (with 20 bins
        about one bin in five histograms falls outside a 99% band by chance). Drawn by
        :func:`bayescale.sbc.plots.rank_histograms`.

        Parameters
        ----------
        bins : int, optional
            Number of bins; :func:`~bayescale.sbc.default_bins` of the number of simulations.
        band : float
            Probability of the uniform band.
        var_names : sequence of str, optional
            Parameters to draw (all by default).
        ncols : int
            Panels per row.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .plots import rank_histograms

        return rank_histograms(
            self.ranks, self.n_draws, self.uniformity(bins), band=band, var_names=var_names,
            ncols=ncols, title=f"SBC rank histograms: {self._label()}, {self.simulations} "
                               f"simulations, L = {self.n_draws}")

    def _label(self) -> str:
        varying = [f"{p} by {', '.join(cols)}" for p, cols in self.model.get("hierarchy",
                                                                               {}).items()]
        return self.model.get("law", "") + (f" ({'; '.join(varying)})" if varying else "")

    def to_dict(self, bins: int | None = None) -> dict[str, Any]:
        """JSON-ready summary: settings, counts and the per-parameter table."""
        table = self.summary(bins).reset_index()
        return {"model": self.model, "fit_model": self.fit_model, "settings": self.settings,
                "simulations": self.simulations, "n_draws": self.n_draws,
                "rejected": self.rejected, "divergent": self.divergent,
                "failed": self.failed,
                "seconds_per_fit": float(self.diagnostics["seconds"].median()),
                "summary": json.loads(table.to_json(orient="records"))}

    def __repr__(self) -> str:
        table = self.summary()
        worst = table["p_value"].idxmin() if table["p_value"].notna().any() else None
        lines = [f"bayescale.SBCResult  {self._label()}: {self.simulations} "
                 f"simulations, L = {self.n_draws}, {self.rejected} prior draws redrawn, "
                 f"{self.divergent} with divergences, {self.failed} failed"]
        if worst is not None:
            lines.append(f"  smallest uniformity p-value: {table.loc[worst, 'p_value']:.3g} "
                         f"({worst})")
        return "\n".join(lines)
