"""Many fits at once (bayescale.batch): one table from a batch of fits, the same on a Dask
LocalCluster as serially, a progress bar that can be turned off, and errors that name the
job."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.batch import run_tasks
from bayescale.simulate import simulate_runs

from .conftest import seed_for

FIT = {"draws": 300, "tune": 300, "chains": 2, "seed": 11}
CI = 0.9


def _jobs() -> dict:
    runs = simulate_runs("power_law:C", population={"E": 2.0, "A": 50.0, "alpha": 0.3},
                         group_sizes={"a": 12, "b": 12}, spreads={"E": 0.1},
                         ranges={"C": (1e17, 1e21)}, sigma=0.02, seed=seed_for(3)).runs
    return {"pooled": (bs.Model("power_law:C"), runs),
            "by group": (bs.Model("power_law:C", hierarchy={"E": "family"}), runs),
            "group a": (bs.Model("power_law:C"), runs[runs["family"] == "a"])}


def _square(x: float) -> float:
    return x * x


def _fails(x: float) -> float:
    if x == 2:
        raise ValueError("task 2 failed")
    return x


def test_run_tasks_keeps_the_order_and_shows_one_bar(capsys):
    tasks = [(x,) for x in range(6)]
    with ThreadPoolExecutor(3) as pool:
        assert run_tasks(_square, tasks, executor=pool, progressbar=True,
                         description="squares") == [x * x for x in range(6)]
    err = capsys.readouterr().err
    assert "squares" in err and "6/6" in err
    assert run_tasks(_square, tasks, progressbar=False) == [x * x for x in range(6)]
    assert capsys.readouterr().err == ""
    with ThreadPoolExecutor(2) as pool, pytest.raises(ValueError, match="task 2 failed"):
        run_tasks(_fails, [(x,) for x in range(5)], executor=pool, progressbar=False)


def test_fit_many_refuses_what_is_not_a_model_and_runs():
    runs = _jobs()["pooled"][1]
    with pytest.raises(ValueError, match="job 'x'.*Model, pandas.DataFrame"):
        bs.fit_many({"x": ("power_law:C", runs)})
    with pytest.raises(ValueError, match="non-empty mapping"):
        bs.fit_many({})
    with pytest.raises(ValueError, match="draws must be"):
        bs.fit_many({"x": (bs.Model("power_law:C"), runs)}, draws=0)


@pytest.fixture(scope="module")
def serial_table() -> pd.DataFrame:
    return bs.fit_many(_jobs(), progressbar=False, ci_prob=CI, **FIT)


def test_fit_many_gathers_every_fit_into_one_table(serial_table):
    table = serial_table
    assert list(table.index.get_level_values("fit").unique()) == ["pooled", "by group",
                                                                  "group a"]
    rows = set(table.loc["by group"].index)
    assert rows >= {"E", "A", "alpha", "sigma", "E_by_family[a]", "E_by_family[b]"}
    assert (table.loc["group a", "n_runs"] == 12).all()
    assert (table.loc["pooled", "n_runs"] == 24).all()
    for column in ("median", "eti90_lb", "eti90_ub", "ess_bulk", "r_hat", "divergences",
                   "max_rhat", "min_ess_bulk", "seconds"):
        assert np.isfinite(table[column].to_numpy(dtype=float)).all(), column
    assert (table["eti90_lb"] <= table["median"]).all()
    assert (table["median"] <= table["eti90_ub"]).all()
    # each row is the fit's own summary: the same as fitting that job directly
    model, runs = _jobs()["group a"]
    direct = model.fit(runs, progressbar=False, warn=False, **FIT).summary(ci_prob=CI)
    np.testing.assert_allclose(table.loc["group a"].loc[direct.index, "median"],
                               direct["median"])


@pytest.mark.slow
def test_fit_many_on_a_local_dask_cluster_equals_serial(serial_table):
    import distributed  # the 'dask' extra, installed by ./run

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        table = bs.fit_many(_jobs(), executor=client.get_executor(), progressbar=False,
                            ci_prob=CI, **FIT)
    numbers = [c for c in serial_table.columns if c not in ("seconds", "problems", "sampler")]
    pd.testing.assert_frame_equal(table[numbers], serial_table[numbers])
