"""Model comparison by PSIS-LOO: which law / hierarchy / likelihood predicts held-out runs best.

:func:`compare` estimates each fit's expected log predictive density of a left-out run
(Vehtari et al. 2017, 2024) and names the runs whose Pareto-k makes the estimate unreliable.
Predictive checks of one fit are in :mod:`bayescale.checks`; refits under several
specifications in :mod:`bayescale.sensitivity`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

if TYPE_CHECKING:
    from .fit import Fit

__all__ = ["compare", "CompareResult", "check_same_runs"]



# ---------------------------------------------------------------------------- observed data
def _observed_name(fit: Fit) -> str:
    return fit.model.likelihood.observed_name


def _observed_raw(fit: Fit) -> np.ndarray:
    """What the likelihood observes (log y, y or counts), from the fit's ``observed_data``."""
    return np.asarray(fit.idata["observed_data"][_observed_name(fit)].values, dtype=float)


def _scale_kind(fit: Fit) -> str:
    return "counts" if fit.model.likelihood.observed_as == "successes" else "continuous"


def _check_same_data(fits: Mapping[str, Fit]) -> None:
    """Refuse fits whose observed runs differ (LOO differences need the same runs)."""
    kinds = {name: _scale_kind(f) for name, f in fits.items()}
    if len(set(kinds.values())) > 1:
        raise ValueError(f"cannot compare likelihoods on counts with likelihoods on a continuous "
                         f"target (densities and probabilities are not on one scale): {kinds}")
    check_same_runs(fits, "PSIS-LOO")


def check_same_runs(fits: Mapping[str, Fit], method: str) -> None:
    """Raise ValueError naming two models (the first and another) whose observed runs differ
    in number, in observed values or in a shared input; ``method`` names what needs them."""
    names = list(fits)
    first = names[0]
    ref = _observed_natural(fits[first])
    for name in names[1:]:
        y = _observed_natural(fits[name])
        if y.shape != ref.shape:
            raise ValueError(f"models {first!r} and {name!r} were fitted to different data: "
                             f"{ref.size} vs {y.size} observed runs; {method} compares models "
                             "fitted to the same runs")
        bad = ~np.isclose(y, ref, rtol=1e-9, atol=0.0)
        if bad.any():
            rows = np.flatnonzero(bad)
            shown = ", ".join(f"run {i}: {ref[i]:.6g} vs {y[i]:.6g}" for i in rows[:5])
            raise ValueError(f"models {first!r} and {name!r} were fitted to different data: "
                             f"observed values differ in {rows.size} run(s) ({shown}); "
                             f"{method} compares models fitted to the same runs")
        d0, d1 = fits[first].design, fits[name].design
        if d0 is not None and d1 is not None:
            for inp in sorted(set(d0.log_x) & set(d1.log_x)):
                if not np.allclose(d0.log_x[inp], d1.log_x[inp], rtol=0, atol=1e-12):
                    raise ValueError(f"models {first!r} and {name!r} were fitted to different "
                                     f"data: input {inp!r} differs")


def _observed_natural(fit: Fit) -> np.ndarray:
    """Observed targets on the natural scale (counts for count likelihoods)."""
    raw = _observed_raw(fit)
    return np.exp(raw) if _observed_name(fit) == "log_y" else raw


# ---------------------------------------------------------------------------- compare
@dataclass(frozen=True, eq=False)
class CompareResult:
    """PSIS-LOO comparison of fits to the same runs.

    ``table``: :func:`arviz.compare`'s frame (best first: ``rank``, ``elpd_diff``, ``dse``,
    ``p_worse``, ``diag_diff``, ``diag_elpd``, ``p``, ``elpd``, ``se``, ``weight``) plus
    ``n_high_pareto_k`` and ``max_pareto_k``; ``pareto_k``: ``{model: k per run}``;
    ``warnings``: one line per model with runs above the Pareto-k threshold.
    """

    table: pd.DataFrame
    warnings: list[str]
    pareto_k: dict[str, np.ndarray] = field(repr=False)
    loo: dict[str, Any] = field(repr=False)
    pareto_k_threshold: float = 0.7

    @property
    def best(self) -> str:
        """Name of the model with the highest ELPD."""
        return str(self.table.index[0])

    def __str__(self) -> str:
        cols = ["rank", "elpd", "se", "elpd_diff", "dse", "p", "weight", "n_high_pareto_k"]
        with pd.option_context("display.width", 120, "display.float_format", "{:.2f}".format):
            text = f"PSIS-LOO (elpd of y on its natural scale)\n{self.table[cols].to_string()}"
        if self.warnings:
            text += "\n" + "\n".join(f"warning: {w}" for w in self.warnings)
        return text


def _loo(fit: Fit) -> Any:
    """PSIS-LOO of one fit, pointwise, on the natural scale of y.

    A likelihood on ``z = log y`` gives densities of ``z``; ``p(y) = p(z) |dz/dy|`` adds the
    log-Jacobian ``-log y_i`` to each run, so fits on ``log y`` and on ``y`` compare.
    """
    fit.log_likelihood()
    jacobian = None
    if _observed_name(fit) == "log_y":
        raw = fit.idata["observed_data"][_observed_name(fit)]
        jacobian = xr.DataArray(-np.asarray(raw.values, dtype=float), dims=raw.dims,
                                coords={d: raw.coords[d].values for d in raw.dims
                                        if d in raw.coords})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # Pareto k: reported by compare itself
        warnings.simplefilter("ignore", RuntimeWarning)
        from arviz_stats import loo

        return loo(fit.idata, pointwise=True, var_name=_observed_name(fit),
                      log_jacobian=jacobian)


def compare(fits: Mapping[str, Fit], *, pareto_k_threshold: float = 0.7) -> CompareResult:
    """Compare fits to the same runs by PSIS-LOO.

    For each model, ``elpd_loo = sum_i log p(y_i | y_-i)``, with
    ``p(y_i | y_-i) ~= sum_s w_i^s p(y_i | theta^s) / sum_s w_i^s`` and Pareto-smoothed
    importance weights ``w_i^s ~ 1 / p(y_i | theta^s)``; ``elpd_diff`` is relative to the
    best model and ``dse = sqrt(n var_i(elpd_i^a - elpd_i^b))`` is its standard error.
    Densities are of y on its natural scale (log-y likelihoods get the Jacobian ``-log y_i``).

    Runs whose Pareto shape ``k_i > pareto_k_threshold`` (0.7: Vehtari et al. 2024) make the
    estimate unreliable for that run (an outlier or a run the posterior hinges on): each
    model with such runs raises a :class:`UserWarning` naming the runs (row positions in the
    fitted data) and their ``k``, also listed in ``.warnings``.

    Parameters
    ----------
    fits : ``{name: Fit}``, at least one, fitted to the same runs in the same order (laws,
        hierarchies, likelihoods, priors may differ).
    pareto_k_threshold : runs above it are reported.

    Returns
    -------
    CompareResult

    Raises
    ------
    ValueError
        If the fits' observed data differ in length or values (the message names the models),
        or count and continuous likelihoods are mixed.
    """
    if not isinstance(fits, Mapping) or not fits:
        raise ValueError("compare needs a mapping {name: Fit} with at least one fit")
    fits = {str(k): v for k, v in fits.items()}
    _check_same_data(fits)
    loos = {name: _loo(f) for name, f in fits.items()}
    if len(loos) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            from arviz_stats import compare as arviz_compare

            table = arviz_compare(loos, round_to="none")
    else:
        (name, res), = loos.items()
        table = pd.DataFrame({"rank": [0], "elpd_diff": [0.0], "dse": [0.0],
                              "p_worse": [np.nan], "diag_diff": [""], "diag_elpd": [""],
                              "p": [res.p], "elpd": [res.elpd], "se": [res.se],
                              "weight": [1.0]}, index=[name])
    ks = {name: np.asarray(res.pareto_k.values, dtype=float).reshape(-1)
          for name, res in loos.items()}
    table["n_high_pareto_k"] = [int((ks[m] > pareto_k_threshold).sum()) for m in table.index]
    table["max_pareto_k"] = [float(np.nanmax(ks[m])) for m in table.index]
    messages = []
    for name in table.index:
        k = ks[name]
        high = np.flatnonzero(k > pareto_k_threshold)
        if high.size:
            runs = ", ".join(f"run {i} (k={k[i]:.2f})" for i in high[np.argsort(-k[high])])
            messages.append(f"model {name!r}: {high.size} run(s) with Pareto k > "
                            f"{pareto_k_threshold:g}: {runs}; PSIS-LOO is unreliable there "
                            "(outlier or highly influential run): check these runs, refit "
                            "without them for exact LOO, or use a robust likelihood")
    for msg in messages:
        warnings.warn(msg, UserWarning, stacklevel=2)
    return CompareResult(table=table, warnings=messages, pareto_k=ks, loo=loos,
                         pareto_k_threshold=pareto_k_threshold)
