"""Stacking candidate laws by leave-future-out scores (:mod:`bayescale.stacking`).

The optimiser is checked on synthetic pointwise densities against a brute-force grid over the
simplex; the end-to-end test fits two small candidates (300 draws, 300 tuning steps, 2 chains;
leave-future-out refits of the same size) to 30 runs of ``L = 1.7 + 400 N^-0.3`` with
log-normal noise 0.01.
"""

import copy
import dataclasses
import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import logsumexp
from scipy.stats import norm

import bayescale as bs
from bayescale.stacking import draw_counts, stacking_weights

from .conftest import seed_for

pytestmark = pytest.mark.filterwarnings("ignore::bayescale.SamplingWarning")

SAMPLING = {"draws": 300, "tune": 300, "chains": 2, "progressbar": False}
LFO = {"draws": 300, "tune": 300, "chains": 2}
ORIGINS = (0.6, 0.8)   # two rolling origins: each refit costs seconds of compilation


# ---------------------------------------------------------------------- the optimiser
def _objective(lpd, w, a):
    return float(w @ logsumexp(lpd + np.log(np.maximum(a, 1e-300)), axis=1)) / w.sum()


def _grid_best(lpd, w, step):
    k = lpd.shape[1]
    ticks = np.arange(0, 1 + step / 2, step)
    best, arg = -np.inf, None
    for head in itertools.product(ticks, repeat=k - 1):
        if sum(head) > 1 + 1e-12:
            continue
        a = np.array([*head, max(1 - sum(head), 0.0)])
        value = _objective(lpd, w, a)
        if value > best:
            best, arg = value, a
    return arg, best


def test_uniformly_better_candidate_gets_all_weight():
    y = np.linspace(-2, 2, 40)
    lpd = np.column_stack([norm.logpdf(y, 0, 1), norm.logpdf(y, 3, 1)])  # 1st better everywhere
    a = stacking_weights(lpd)
    assert a[0] > 1 - 1e-4 and abs(a.sum() - 1) < 1e-12


def test_mixture_gets_interior_weights_matching_a_grid():
    """Half the runs come from N(-2, 0.5), half from N(2, 0.5); candidate 0 predicts the
    first half well, candidate 1 the second, candidate 2 is vague: the mixture of 0 and 1
    beats each, and the weights agree with a 0.001-step grid (two candidates) or a 0.005-step
    grid (three) to the grid's step. Run weights (as 1 / origins) are uneven on purpose."""
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.normal(-2, 0.5, 30), rng.normal(2, 0.5, 50)])
    lpd = np.column_stack([norm.logpdf(y, -2, 0.6), norm.logpdf(y, 2, 0.6),
                           norm.logpdf(y, 0, 3.0)])
    w = np.where(np.arange(len(y)) % 3 == 0, 1.0, 0.5)
    two = stacking_weights(lpd[:, :2], w)
    grid, best = _grid_best(lpd[:, :2], w, 0.001)
    assert 0.05 < two[0] < 0.95
    assert np.abs(two - grid).max() <= 1e-3
    assert _objective(lpd[:, :2], w, two) >= best - 1e-9
    three = stacking_weights(lpd, w)
    grid3, best3 = _grid_best(lpd, w, 0.005)
    assert np.abs(three - grid3).max() <= 5e-3
    assert _objective(lpd, w, three) >= best3 - 1e-9
    assert _objective(lpd, w, three) > max(_objective(lpd, w, np.eye(3)[k]) for k in range(3))


def test_draw_counts_follow_weights():
    assert draw_counts(np.array([0.5, 0.25, 0.25]), 10).tolist() == [5, 3, 2]
    assert draw_counts(np.array([1.0, 0.0]), 7).tolist() == [7, 0]
    assert draw_counts(np.array([0.333, 0.333, 0.334]), 600).sum() == 600


# ---------------------------------------------------------------------- end to end
def _runs(seed, n=30):
    rng = np.random.default_rng(seed)
    size = np.geomspace(1e7, 1e9, n)
    loss = (1.7 + 400 * size ** -0.3) * np.exp(rng.normal(0, 0.01, n))
    return pd.DataFrame({"N": size, "loss": loss})


@pytest.fixture(scope="module")
def runs():
    return _runs(seed_for(5))


@pytest.fixture(scope="module")
def fits(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"with E": bs.Model("power_law:N").fit(runs, seed=seed_for(1), **SAMPLING),
                "without E": bs.Model("power_law:N", fixed={"E": 1e-9}).fit(
                    runs, seed=seed_for(2), **SAMPLING)}


def test_refuses_fits_to_different_runs(fits):
    """A copy of a fit whose observed run 3 differs (no refit: compiling one costs seconds)."""
    fit = copy.copy(fits["with E"])
    fit.idata = fit.idata.copy()
    observed = fit.idata["observed_data"].to_dataset()
    name = fit.model.likelihood.observed_name
    values = observed[name].values.copy()
    values[3] += 0.1
    fit.idata["observed_data"] = xr.DataTree(observed.assign({name: (observed[name].dims,
                                                                     values)}))
    with pytest.raises(ValueError, match=r"'with E' and 'changed'.*observed values differ"):
        bs.stack({"with E": fits["with E"], "changed": fit})
    with pytest.raises(ValueError, match="at least two"):
        bs.stack([fits["with E"]])


@pytest.mark.slow
@pytest.mark.statistical
def test_true_law_gets_the_larger_weight_and_predictions_are_sane(fits):
    """The law with the irreducible term (the truth) gets the larger stacking weight and the
    larger leave-future-out elpd; the mixture predicts finite intervals at N = 1e10 (one
    decade beyond the data) that contain its own mean. The weight asserted is only the
    ordering (> 0.5): the law without E bends the wrong way beyond each origin, so its
    future log densities are far lower. Measured with tests' seeds at offsets 0-5
    (BAYESCALE_TEST_SEED_OFFSET, 12 runs scored by both): weight of "with E" 1.000000 at every
    offset, LFO elpd difference 42.6 to 91.9 nats, intervals finite and containing the mean:
    0 failures in 6 offsets (45-75 s each). An even mixture of the two is predicted too, to
    exercise draws from both candidates."""
    result = bs.stack(fits, origins=ORIGINS, seed=seed_for(3), sampling=LFO)
    assert result.weights["with E"] > 0.5, result
    assert result.best == "with E"
    table = result.table()
    assert table.index[0] == "with E" and table["n_runs"].iloc[0] > 5
    assert abs(result.weights.sum() - 1) < 1e-9 and abs(result.pseudo_bma.sum() - 1) < 1e-9
    # the folds are kept on each fit and shared: a second call refits nothing
    again = bs.stack(fits, origins=ORIGINS, seed=seed_for(3), sampling=LFO)
    assert np.allclose(again.weights, result.weights)
    pred = result.predict(pd.DataFrame({"N": [1e9, 1e10]}), ci_prob=0.9, seed=seed_for(4))
    for prefix in ("curve", "obs"):
        lo, mid, hi = (pred[f"{prefix}_{c}"].to_numpy()
                       for c in ("eti90_lb", "mean", "eti90_ub"))
        assert np.isfinite(lo).all() and np.isfinite(hi).all()
        assert (lo <= mid).all() and (mid <= hi).all()
    assert (pred["obs_eti90_ub"] - pred["obs_eti90_lb"]).iloc[1] > 0
    even = dataclasses.replace(result, weights=pd.Series(0.5, index=result.weights.index))
    mixed = even.predict(pd.DataFrame({"N": [1e10]}), ci_prob=(0.5, 0.9), seed=seed_for(4))
    assert {"obs_mean", "obs_median", "obs_eti50_lb", "obs_eti90_ub"} <= set(mixed.columns)
    assert (mixed["obs_eti90_lb"] <= mixed["obs_eti50_lb"]).all()
    assert (mixed["obs_eti90_lb"] <= mixed["obs_mean"]).all()
    assert (mixed["obs_mean"] <= mixed["obs_eti90_ub"]).all()
    assert "elpd_lfo" in repr(result)


@pytest.mark.slow
def test_learned_risk_reuses_the_stacked_folds(fits, monkeypatch):
    """After :func:`bs.stack`, learning a fit's risk at the same settings refits nothing."""
    from bayescale import extrapolation

    bs.stack(fits, origins=ORIGINS, seed=seed_for(3), sampling=LFO)

    def refit(*args, **kwargs):
        raise AssertionError("leave_future_out refitted although the folds are cached")

    monkeypatch.setattr(extrapolation, "leave_future_out", refit)
    risk = extrapolation.learn_risk(fits["with E"], origins=ORIGINS, seed=seed_for(3),
                                      sampling=LFO)
    assert risk.folds >= 2
