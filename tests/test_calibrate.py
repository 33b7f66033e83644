"""Backtests and the point-fit baseline: scores, holdouts, executors (process pool, Dask)."""

import multiprocessing
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import bayescale as bs
from bayescale.baseline import HuberBootstrap
from bayescale.calibrate import backtest, interval_score, parse_holdout
from bayescale.datasets import highest_loss_excluded
from bayescale.replications.chinchilla import EPOCH_ESTIMATES
from bayescale.simulate import simulate_runs

from .conftest import seed_for

FAST = {"draws": 300, "tune": 400, "chains": 2}


def test_interval_score_by_hand():
    # 90% interval [1, 2]: width 1, plus 2/0.1 = 20 per unit outside.
    y = np.array([1.5, 0.5, 2.5])
    got = interval_score(y, np.ones(3), 2 * np.ones(3), 0.9)
    np.testing.assert_allclose(got, [1.0, 1.0 + 20 * 0.5, 1.0 + 20 * 0.5])


@pytest.mark.parametrize("spec, message", [("largest:0", "K >= 1"), ("largest:x", "K >= 1"),
                                           ("group:", "expected"), ("top:3", "expected")])
def test_bad_holdout_spec(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_holdout(spec)


@pytest.mark.statistical
@pytest.mark.slow
def test_baseline_reproduces_epoch():
    # Same data, loss, delta and optimiser as Epoch AI: the point estimates must agree to
    # well within Epoch's standard errors (alpha 0.0154, beta 0.0206, E 0.0257); we allow a
    # third of a standard error. The bootstrap sd with 100 resamples has ~7% Monte Carlo
    # error; we accept +-35% of Epoch's sd (4000 resamples).
    runs = highest_loss_excluded(bs.datasets.load("chinchilla_epoch"), 5)
    base = HuberBootstrap(bs.Model("chinchilla"), starts=16, bootstrap=100,
                          seed=seed_for(0)).fit(runs)
    est = {k: float(np.exp(v)) for k, v in base.params().items()}
    for name, se in (("alpha", 0.0154), ("beta", 0.0206), ("E", 0.0257)):
        assert abs(est[name] - EPOCH_ESTIMATES[name][0]) < se / 3, (name, est[name])
    e_sd = np.exp(base.draws[:, base.free.index("E")]).std()
    assert 0.65 * 0.0257 < e_sd < 1.35 * 0.0257, e_sd


@pytest.fixture(scope="module")
def families():
    sim = simulate_runs("chinchilla", population={"E": 1.8, "A": 400.0, "B": 1500.0,
                                                  "alpha": 0.34, "beta": 0.3},
                        group_sizes={"a": 30, "b": 30, "c": 30, "d": 30},
                        spreads={"E": 0.08, "A": 0.25}, ranges={"N": (5e7, 1e10),
                                                                "D": (1e9, 3e11)},
                        sigma=0.01, seed=seed_for(21))
    return sim.runs


@pytest.mark.statistical
@pytest.mark.slow
def test_backtest_largest_runs_well_specified(families):
    model = bs.Model("chinchilla", hierarchy={"E": "family", "A": "family"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        bt = backtest(model, families, holdout="largest:5", bootstrap=50, starts=8,
                      fit_kwargs=FAST, seed=seed_for(1))
    table = bt.table()
    assert bt.n_heldout == 20 and set(table.index) == {
        "bayescale", "bayescale (no extrapolation term)", "baseline"}
    # Data simulated from the fitted model: 90% intervals should cover ~90% of 20 runs;
    # binomial sd is 0.067, so [0.7, 1.0] is a 3-sd band.
    assert 0.7 <= table.loc["bayescale", "coverage_90"] <= 1.0, table
    assert table.loc["bayescale", "coverage_50"] <= table.loc["bayescale", "coverage_95"]
    assert np.isfinite(table.loc["bayescale", "lpd"])
    assert np.isnan(table.loc["baseline", "lpd"])  # no noise model: no predictive density
    pit = bt.pit()
    assert pit.shape == (20,) and ((pit >= 0) & (pit <= 1)).all()


EXECUTOR_CASE = {"holdout": "group:a,b", "baseline": False, "fit_kwargs": FAST}


@pytest.fixture(scope="module")
def serial_backtest(families):
    """Leave-one-family-out over 2 of 3 families, in this process: what every executor must
    reproduce (the default extrapolation term included)."""
    model = bs.Model("chinchilla", hierarchy={"E": "family"})
    data = families[families["family"].isin(["a", "b", "c"])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        out = backtest(model, data, seed=seed_for(4), **EXECUTOR_CASE)
    assert out.labels == ["family=a", "family=b"] and out.n_heldout == 60
    return model, data, out


@pytest.mark.slow
def test_backtest_folds_identical_under_process_pool(serial_backtest):
    # spawn avoids forking a process that holds JAX
    model, data, serial = serial_backtest
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
            parallel = backtest(model, data, executor=pool, seed=seed_for(4), **EXECUTOR_CASE)
    assert parallel.labels == serial.labels
    np.testing.assert_allclose(serial.table().to_numpy(dtype=float),
                               parallel.table().to_numpy(dtype=float))


@pytest.mark.slow
def test_backtest_on_a_local_dask_cluster(serial_backtest):
    import distributed  # the 'dask' extra, installed by ./run
    model, data, serial = serial_backtest
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.SamplingWarning)
            out = backtest(model, data, seed=seed_for(4), executor=client.get_executor(),
                           **EXECUTOR_CASE)
    assert out.labels == serial.labels
    np.testing.assert_allclose(serial.table().to_numpy(dtype=float),
                               out.table().to_numpy(dtype=float))
