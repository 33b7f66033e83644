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
    d = pooled_fit.diagnostics
    assert d.divergences == 0 and d.max_rhat <= 1.01 and d.ok, d.problems()


@pytest.mark.parametrize("name", ["E", "A", "B", "alpha", "beta"])
def test_population_values_inside_95_intervals(pooled_fit, name):
    _, lo, hi = pooled_fit.interval(name, 0.95)
    assert lo <= TRUTH[name] <= hi, f"{name}: truth {TRUTH[name]} outside [{lo:.4g}, {hi:.4g}]"


def test_well_observed_families_recovered(pooled_fit, simulation):
    # With 40 runs each, the family values of E are pinned down: truth inside 95% intervals.
    e = pooled_fit.posterior["E_by_family"]
    for fam in ("fam0", "fam1", "fam2", "fam3"):
        lo, hi = np.quantile(e.sel(family=fam).values, [0.025, 0.975])
        assert lo <= simulation.by_group[fam]["E"] <= hi, fam


def _distance_to_others(fit, family):
    """Posterior median of log E_family minus the mean log E of the other families."""
    log_e = np.log(draws(fit, "E_by_family"))  # (family, sample)
    fams = list(fit.posterior["family"].values)
    k = fams.index(family)
    others = np.delete(log_e, k, axis=0).mean(axis=0)
    return float(np.median(log_e[k] - others))


def test_sparse_family_shrinks_toward_population(pooled_fit, unpooled_fit):
    # Pooling pulls the sparse family toward the others: its distance to them shrinks by more
    # than 30% (measured: ~70%), and it moves at least twice as far as any 40-run family
    # (whose distances move only because the others' mean moves with the sparse family).
    families = ("sparse", "fam0", "fam1", "fam2", "fam3")
    pooled = {f: _distance_to_others(pooled_fit, f) for f in families}
    unpooled = {f: _distance_to_others(unpooled_fit, f) for f in families}
    shrink = 1 - abs(pooled["sparse"]) / abs(unpooled["sparse"])
    moved = {f: abs(pooled[f] - unpooled[f]) for f in families}
    assert shrink > 0.3, (pooled, unpooled)
    assert moved["sparse"] > 2 * max(moved[f] for f in families[1:]), moved


def test_sparse_family_is_less_certain(pooled_fit):
    e = np.log(draws(pooled_fit, "E_by_family"))
    fams = list(pooled_fit.posterior["family"].values)
    sd = {f: e[fams.index(f)].std() for f in fams}
    # Measured ratio ~2.4: 4 small runs leave E open where 40 runs spanning 2 decades don't.
    assert sd["sparse"] > 1.5 * max(sd[f] for f in fams if f != "sparse"), sd


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
