"""Simulation-based calibration (bayescale.sbc): the statistics, the simulation, and SBC runs.

Threshold. A parameter fails when its chi-square uniformity p-value is below 0.001. The
p-values of calibrated parameters are uniform, so with k parameters the chance that any falls
below 0.001 is at most k * 0.001 (5 parameters: 0.5%; 6: 0.6%), whatever their correlation;
the seeds are fixed, so a run either passes or fails every time. The errors SBC exists to find
give p ~ 0: the negative control below (the fit's prior on log alpha shifted by +1 and
narrowed to sd 0.3) drives p(log_alpha) below 9.4e-14 with 60 simulations on all 21 seed
offsets 0-20 (mean rank <= 0.341; with 30 simulations p reached 0.025 and 3 of 21 offsets
failed to reject: ``benchmarks/sbc_negative_control.py``), and a posterior shifted by half its
sd or 30% too narrow (the conjugate test) to 7e-21 and 2e-19.
Measured p-values of the calibrated runs: power_law:C (60 simulations) 0.10 to 0.95;
hierarchical (30 simulations) 0.064 to 0.98.

The NUTS runs use nutpie compiled once per model structure (``sampler="auto"``; see
``bayescale.fit.compiled_nutpie`` and tests/test_reuse.py), about 0.2-0.5 s per fit on 2 cores
after a 10-20 s compile; nutpie is part of the ``fast`` extra that ./run installs.
"""

import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import bayescale as bs
from bayescale.build import encode
from bayescale.priors import DataScale
from bayescale.sbc import (
    rank_bins,
    run_simulation,
    sbc,
    uniformity_test,
    with_fixed_priors,
)
from bayescale.sbc import runner as sbc_module
from bayescale.simulate import simulate_runs

from .conftest import seed_for

P_MIN = 1e-3
DRAWS, THIN = 200, 4                       # 2 chains x 200 draws, every 4th: L = 100
FIT = {"chains": 2, "tune": 400}
NEGATIVE_SIMS = 60    # 30 failed to reject on 3 of 21 seed offsets (p up to 0.025)


def power_law_design(seed):
    """20 runs of a compute law, C log-uniform over 4 decades."""
    sim = simulate_runs("power_law:C", population={"E": 2.0, "A": 50.0, "alpha": 0.3},
                        group_sizes={"g": 20}, ranges={"C": (1e17, 1e21)}, sigma=0.02,
                        seed=seed)
    return sim.runs.drop(columns="family")


def negative_control(design, simulations, seed):
    """SBC summary of data simulated with log alpha ~ N(log 0.3, 1) and fitted with a wrong
    prior, N(log 0.3 + 1, 0.3) (benchmarks/sbc_negative_control.py measures it over seeds)."""
    wrong = bs.Model("power_law:C", priors={
        "alpha": bs.Prior("Normal", mu=float(np.log(0.3)) + 1.0, sigma=0.3)})
    return sbc(bs.Model("power_law:C"), design, fit_model=wrong, simulations=simulations,
               draws=DRAWS, thin=THIN, seed=seed, fit_kwargs=FIT).summary()


@pytest.fixture(scope="module")
def design():
    return power_law_design(seed_for(1))


@pytest.fixture(scope="module")
def family_design():
    """4 families x 5 runs (non-centred effects, the first attempt's default)."""
    sim = simulate_runs("power_law:C", population={"E": 2.0, "A": 50.0, "alpha": 0.3},
                        group_sizes={f"f{i}": 5 for i in range(4)}, spreads={"E": 0.2},
                        ranges={"C": (1e17, 1e21)}, sigma=0.02, seed=seed_for(1))
    return sim.runs


def _fake_worker(*args):
    """Stands in for run_simulation where only the simulation step is tested."""
    return {"ranks": {}, "n_draws": 0, "divergences": 0, "max_rhat": 1.0, "min_ess_bulk": 1.0,
            "min_ess_tail": 1.0, "seconds": 0.0, "error": ""}


# ---------------------------------------------------------------------------- statistics
def test_rank_bins_are_exact_when_bins_do_not_divide():
    index, prob = rank_bins(99, 8)            # 100 rank values into 8 bins of 12 or 13
    assert index.shape == (100,) and index[0] == 0 and index[-1] == 7
    assert set(np.bincount(index)) == {12, 13}
    assert prob.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        rank_bins(9, 11)


def _conjugate_ranks(shift: float, scale: float, sims: int = 500, n_draws: int = 99,
                     seed: int = 0) -> np.ndarray:
    """theta ~ N(0, 1), y ~ N(theta, 1): the posterior is N(y / 2, 1 / 2). Ranks of theta
    among draws of N(y / 2 + shift * sd, (scale * sd)^2), sd = sqrt(1 / 2)."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(sims)
    y = theta + rng.standard_normal(sims)
    sd = np.sqrt(0.5)
    draws = y[:, None] / 2 + sd * (shift + scale * rng.standard_normal((sims, n_draws)))
    return (draws < theta[:, None]).sum(axis=1)


def test_uniformity_test_on_an_exact_posterior_and_wrong_ones():
    exact = uniformity_test(_conjugate_ranks(0.0, 1.0), 99)
    assert exact["bins"] == 20 and exact["dof"] == 19 and exact["simulations"] == 500
    assert exact["p_value"] > P_MIN, exact                          # measured 0.43
    biased = uniformity_test(_conjugate_ranks(0.5, 1.0), 99)       # measured p 7e-21
    narrow = uniformity_test(_conjugate_ranks(0.0, 0.7), 99)       # measured p 2e-19
    assert biased["p_value"] < 1e-10 and narrow["p_value"] < 1e-10, (biased, narrow)
    missing = uniformity_test([0, 5, np.nan, 9], 9, bins=2)         # failed fits are dropped
    assert missing["simulations"] == 3


# ---------------------------------------------------------------------------- set-up
def test_priors_fixed_from_the_design(design):
    model = bs.Model("power_law:C")
    fixed = with_fixed_priors(model, design)
    scale = encode(model, design).scale
    assert set(fixed.priors) == {"E", "A", "alpha", "sigma", "nu"}
    for name in fixed.priors:
        assert fixed.priors[name] == model.prior_for(name, scale)
    # A simulated data set has another scale; the fixed model's priors do not follow it.
    other = DataScale(scale.y_min * 10, scale.y_median * 10, scale.y_max * 10)
    assert fixed.prior_for("E", other) == model.prior_for("E", scale)
    assert model.prior_for("E", other) != model.prior_for("E", scale)


def test_impossible_prior_data_are_redrawn_and_counted(design, monkeypatch):
    # log sigma ~ N(log 100, 1): log y ~ StudentT(nu, log L, ~100) overflows exp() in a
    # share of the draws; those are redrawn, the others kept.
    wild = bs.Model("power_law:C", priors={"sigma": bs.Prior("Normal", mu=np.log(100.0),
                                                             sigma=1.0)})
    monkeypatch.setattr(sbc_module, "run_simulation", _fake_worker)
    result = sbc(wild, design, simulations=20, seed=seed_for(1))
    assert result.rejected > 0
    assert np.isfinite(result.diagnostics[["y_min", "y_max"]].to_numpy()).all()
    assert (result.diagnostics["y_min"] > 0).all()
    with pytest.raises(RuntimeError, match="prior draws gave data"):
        sbc(bs.Model("power_law:C", priors={"sigma": bs.Prior("Normal", mu=np.log(1e4),
                                                              sigma=0.1)}),
            design, simulations=5, seed=seed_for(1), max_rejected=10)


def test_tasks_pickle(design, monkeypatch):
    seen = []
    with monkeypatch.context() as patch:
        patch.setattr(sbc_module, "run_simulation", lambda *a: seen.append(a) or _fake_worker())
        sbc(bs.Model("power_law:C"), design, simulations=2, seed=seed_for(1))
    restored = pickle.loads(pickle.dumps((run_simulation, seen[0])))
    assert restored[0] is run_simulation and restored[1][0] == seen[0][0]


# ---------------------------------------------------------------------------- SBC by NUTS
@pytest.fixture(scope="module")
def power_law_sbc(design):
    return sbc(bs.Model("power_law:C"), design, simulations=60, draws=DRAWS, thin=THIN,
               seed=seed_for(20), fit_kwargs=FIT)


@pytest.mark.statistical
@pytest.mark.slow
def test_power_law_is_calibrated(power_law_sbc):
    result = power_law_sbc
    table = result.summary()
    assert list(table.index) == ["log_E", "log_A_ref", "log_alpha", "log_sigma", "log_nu"]
    assert result.n_draws == 100 and result.failed == 0
    assert table["p_value"].min() > P_MIN, table


@pytest.mark.slow
def test_rank_histogram_figure(power_law_sbc):
    fig = power_law_sbc.histogram()
    assert isinstance(fig, Figure)
    assert sum(ax.get_visible() for ax in fig.axes) == 5


@pytest.mark.slow
def test_executor_gives_the_same_ranks(design, power_law_sbc):
    with ThreadPoolExecutor(2) as pool:
        parallel = sbc(bs.Model("power_law:C"), design, simulations=4, draws=DRAWS, thin=THIN,
                       seed=seed_for(20), fit_kwargs=FIT, executor=pool)
    pd.testing.assert_frame_equal(parallel.ranks, power_law_sbc.ranks.iloc[:4])


@pytest.mark.statistical
@pytest.mark.slow
def test_hierarchical_model_is_calibrated(family_design):
    model = bs.Model("power_law:C", hierarchy={"E": "family"})
    result = sbc(model, family_design, simulations=30, draws=DRAWS, thin=THIN, seed=seed_for(21),
                 fit_kwargs=FIT)
    table = result.summary()
    assert "log_E_sd_family" in table.index and len(table) == 6
    assert result.failed == 0
    assert table["p_value"].min() > P_MIN, table


@pytest.mark.statistical
@pytest.mark.slow
def test_negative_control_wrong_prior_in_the_fit(design):
    """Data simulated with log alpha ~ N(log 0.3, 1), fitted with N(log 0.3 + 1, 0.3): the
    posterior of alpha is pulled up, true values rank low, the test must reject."""
    table = negative_control(design, NEGATIVE_SIMS, seed_for(22))
    assert table.loc["log_alpha", "p_value"] < P_MIN, table
    # True values rank low (the fit's alpha is pulled up): measured mean rank 0.15-0.341 over
    # offsets 0-20; a calibrated fit gives 0.5 (sd 0.037 with 60 simulations).
    assert table.loc["log_alpha", "mean_rank"] < 0.42, table


@pytest.mark.slow
def test_fit_path_without_nutpie(design):
    """Any other sampler goes through bayescale.fit for each simulation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sbc(bs.Model("power_law:C"), design, simulations=2, draws=40, thin=2,
                     seed=seed_for(5),
                     fit_kwargs={"sampler": "pymc", "chains": 1, "tune": 40, "refits": 0})
    assert result.n_draws == 20 and result.failed == 0
    assert result.ranks.shape == (2, 5) and result.ranks.max().max() <= 20
