"""Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788).

If parameters are drawn from the prior, data from the model given those parameters, and the
posterior is computed exactly, the rank of the true value among ``L`` independent posterior
draws is uniform on ``0 .. L``. A model, a prior or a sampler that is wrong somewhere (a missing
Jacobian, a sign error, a prior in the fit that differs from the one the model claims, a
sampler that does not reach part of the posterior) shows up as non-uniform ranks: a U shape
(posterior too narrow), a hump (too wide), a slope (biased).

:func:`sbc` runs the whole loop on the PyMC model the fit uses
(``build_model(model, encode(model, data))``):

1. The default priors of ``E`` and the term coefficients are scaled to the observed target
   (:class:`~bayescale.priors.DataScale`, computed by ``encode`` from the data being fitted).
   Refitting simulated data would then move the prior with every data set, and SBC would test
   a different model than the one that generated the data. :func:`with_fixed_priors` writes
   every prior out explicitly from the DataScale of ``design_data``, once, and both the
   simulation and every fit use that model.
2. Parameters and a data set are drawn from the prior predictive (``pm.sample_prior_predictive``
   on the model built on ``design_data``: same inputs and groups, target replaced). Draws
   whose data the likelihood cannot take (NaN, inf, non-positive losses, proportions outside
   the unit interval) are redrawn and counted (``SBCResult.rejected``). Rejecting on the data
   alone keeps SBC valid: conditioning on ``y`` in a set leaves ``p(theta | y)`` unchanged.
3. Each data set is fitted by NUTS, one simulation per task of ``executor``, through
   :func:`run_simulation` (module level, picklable arguments). With nutpie installed
   (``sampler="auto"`` or ``"nutpie"``) every simulation is fitted by
   :func:`bayescale.fit.fit` with nutpie, which compiles the model once per worker and
   structure (:func:`bayescale.fit.compiled_nutpie`) and swaps each simulated data set in.
   Measured on 2 shared cores for ``power_law:C`` with 24 runs: 8.5 s to compile, then 0.15 s
   per fit of 2 x (300 + 200) iterations, against about 5 s per numpyro fit (which compiles
   every time). Any other ``sampler`` (``numpyro``, ``pymc``) is passed to ``fit`` as is.
4. The rank of each true value among ``L`` thinned posterior draws is computed (every
   ``thin``-th draw of each chain; ``L = chains * ceil(draws / thin)``), ties broken at random.

Fits that diverge or fail are not dropped silently: divergences, R-hat and ESS of every
simulation are in ``SBCResult.diagnostics``, failures carry their error message, and the
summary counts them.
"""

from __future__ import annotations

from .result import SBCResult
from .runner import DEFAULT_FIT_KWARGS as DEFAULT_FIT_KWARGS
from .runner import run_simulation, sbc, with_fixed_priors
from .stats import default_bins, rank_bins, uniformity_test

__all__ = ["sbc", "SBCResult", "with_fixed_priors", "run_simulation",
           "uniformity_test", "rank_bins", "default_bins"]
