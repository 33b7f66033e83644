"""Parameter recovery and shrinkage on simulated data from a 5-family Chinchilla model.

The simulation (tests/conftest.py) has a fixed seed, so each assertion is deterministic. A 95%
interval misses a calibrated truth 5% of the time; the checks below are not coverage
estimates but would fail for the errors they target: a wrong reference shift moves log A by
alpha * log N0 (about 7), a wrong link or swapped exponent moves a parameter far outside its
interval, and pooling that does not pool leaves the sparse family where its 4 runs put it.
"""

import numpy as np
import pytest

from .conftest import TRUTH, draws

pytestmark = pytest.mark.statistical


def test_sampler_converged(pooled_fit):
    """The default fit of a 5-family simulation is clean: 0 divergences and R-hat <= 1.01
    (after the automatic refits), bulk and tail ESS >= 200 of 4,000 draws (enough for the
    95% intervals below: Monte Carlo error of a 2.5% quantile ~0.01 in probability). Measured
    over 20 seed offsets (benchmarks/test_seeds.py): 0 failures of this assertion; the
    stricter fit.diagnostics.ok (ESS >= 400) failed on 1 of 20 (tail ESS 252)."""
    d = pooled_fit.diagnostics
    assert d.divergences == 0 and d.max_rhat <= 1.01, d.problems()
    assert min(d.min_ess_bulk, d.min_ess_tail) >= 200, d.problems()


@pytest.mark.parametrize("name", ["E", "A", "B", "alpha", "beta"])
def test_population_values_inside_95_intervals(pooled_fit, name):
    _, lo, hi = pooled_fit.interval(name, 0.95)
    assert lo <= TRUTH[name] <= hi, f"{name}: truth {TRUTH[name]} outside [{lo:.4g}, {hi:.4g}]"


def test_well_observed_families_recovered(pooled_fit, simulation):
    """With 40 runs each, the family values of E are pinned down: the truth is inside the 95%
    interval for at least 3 of the 4 families. Under calibration each misses with probability
    0.05, so all four inside fails 18.5% of seeds (measured: 1 of 20 offsets) while >= 3 of 4
    fails 1.4%; a wrong family mapping or reference shift moves all four out."""
    e = pooled_fit.posterior["E_by_family"]
    missed = []
    for fam in ("fam0", "fam1", "fam2", "fam3"):
        lo, hi = np.quantile(e.sel(family=fam).values, [0.025, 0.975])
        if not lo <= simulation.by_group[fam]["E"] <= hi:
            missed.append((fam, simulation.by_group[fam]["E"], float(lo), float(hi)))
    assert len(missed) <= 1, missed


def _log_e_sd(fit):
    """Posterior sd of each family's log E."""
    log_e = np.log(draws(fit, "E_by_family"))  # (family, sample)
    return dict(zip(fit.posterior["family"].values, log_e.std(axis=1), strict=True))


def test_sparse_family_borrows_strength(pooled_fit, unpooled_fit):
    """Partial pooling never leaves the sparse family less certain than no pooling (spreads
    fixed at 5), and leaves the well-observed families alone: each 40-run family's log E sd
    changes by less than 40%.

    How much pooling narrows the sparse family depends on how much its 4 runs already pin E
    against the families' spread: the sd ratio pooled/unpooled was 0.62, 0.55, 0.53 and 1.02
    at seed offsets 0, 6, 8 and 4 (for a normal model it is <= 1 by construction). An
    earlier "< 0.8" failed at offset 4 (1 of 7 offsets run), and a comparison of posterior
    medians failed on 2 of 20. The bound 1.2 is about 3 Monte Carlo standard errors above 1
    (each sd comes from >= 200 effective draws, asserted above, 740-890 at offset 4:
    relative error <= 5%, <= 7% for the ratio)."""
    pooled, unpooled = _log_e_sd(pooled_fit), _log_e_sd(unpooled_fit)
    assert pooled["sparse"] < 1.2 * unpooled["sparse"], (pooled, unpooled)
    for fam in ("fam0", "fam1", "fam2", "fam3"):
        assert 0.6 < pooled[fam] / unpooled[fam] < 1.4, (fam, pooled, unpooled)


def test_sparse_family_is_less_certain(pooled_fit):
    sd = _log_e_sd(pooled_fit)
    # Measured ratio ~2.4: 4 small runs leave E open where 40 runs spanning 2 decades don't.
    assert sd["sparse"] > 1.5 * max(v for f, v in sd.items() if f != "sparse"), sd


def test_parameterisation_choice_recorded_in_posterior(pooled_fit):
    # The first attempt is non-centred; a refit chooses per parameter from the draws. The
    # choice is kept on the fit and decides which variables the posterior holds.
    if not pooled_fit.diagnostics.refits:
        assert pooled_fit.centring == {"E": {"family": False}, "A": {"family": False}}
    for p in ("log_E", "log_A_ref"):
        centred = pooled_fit.centring[p.removeprefix("log_").removesuffix("_ref")]["family"]
        assert (f"{p}_deviation_family" in pooled_fit.posterior) == centred
        assert (f"{p}_z_family" in pooled_fit.posterior) == (not centred)
        assert f"{p}_effect_family" in pooled_fit.posterior
