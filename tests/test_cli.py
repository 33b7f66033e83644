"""The CLI end to end on a user's CSV: fit -> summary -> predict, as a new user would."""

import json
import subprocess
import sys

import pandas as pd
import pytest


def run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "bayescale.cli", *args], capture_output=True,
                          text=True, timeout=600, check=False)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def saved_fit(tmp_path_factory, simulation):
    tmp = tmp_path_factory.mktemp("cli")
    runs = simulation.runs.rename(columns={"N": "params", "D": "tokens"})
    runs.to_csv(tmp / "runs.csv", index=False)
    out = tmp / "fit.nc"
    proc = run("fit", str(tmp / "runs.csv"), "--law", "chinchilla", "--vary", "E,A",
               "--by", "family", "--column", "N=params", "--column", "D=tokens",
               "--out", str(out), "--draws", "500", "--tune", "500", "--seed", "1",
               "--no-progress")
    assert "saved to" in proc.stdout and out.exists()
    assert "extrapolation risk" in proc.stdout and "spread tau" in proc.stdout
    pd.DataFrame({"params": [7e10, 1e9], "tokens": [1.4e12, 2e10]}).to_csv(tmp / "new.csv",
                                                                            index=False)
    return tmp, out


def test_fit_prints_natural_scale_summary(saved_fit):
    proc = run("summary", str(saved_fit[1]))
    assert "E_by_family" in proc.stdout and "alpha" in proc.stdout and "eti95_lb" in proc.stdout


def test_predict_known_group_json(saved_fit):
    tmp, fit = saved_fit
    proc = run("predict", str(fit), str(tmp / "new.csv"), "--group", "fam0", "--json",
               "--ci-prob", "0.9", "--seed", "1")
    rows = json.loads(proc.stdout)
    assert len(rows) == 2
    assert rows[0]["curve_eti90_lb"] < rows[0]["curve_median"] < rows[0]["curve_eti90_ub"]


@pytest.mark.statistical
def test_predict_new_group_is_wider(saved_fit):
    tmp, fit = saved_fit
    known = json.loads(run("predict", str(fit), str(tmp / "new.csv"), "--group", "fam0",
                           "--json", "--seed", "1").stdout)
    new = json.loads(run("predict", str(fit), str(tmp / "new.csv"), "--new-group",
                         "--json", "--seed", "1").stdout)
    w = [r["curve_eti95_ub"] - r["curve_eti95_lb"] for r in (known[0], new[0])]
    assert w[1] > w[0]


def test_a_saved_fit_predicts_the_same_numbers_every_time(saved_fit):
    """`fit` saves the learned extrapolation risk, so predictions beyond the data from the
    file repeat exactly (no leave-future-out refits in the predict process); without the
    term the far row's interval is narrower."""
    import bayescale as bs

    tmp, fit = saved_fit
    assert "extrapolation" in bs.load(fit)._cache
    args = ("predict", str(fit), str(tmp / "new.csv"), "--group", "fam0", "--json",
            "--ci-prob", "0.9", "--seed", "4")
    first, second = run(*args).stdout, run(*args).stdout
    assert first == second
    far = json.loads(first)[0]                      # N = 7e10: beyond the largest run
    plain = json.loads(run(*args, "--no-extrapolation").stdout)[0]
    assert far["extrapolation_distance"] > 0
    assert (plain["obs_eti90_ub"] - plain["obs_eti90_lb"]
            < far["obs_eti90_ub"] - far["obs_eti90_lb"])


def test_predict_unknown_group_is_an_error(saved_fit):
    tmp, fit = saved_fit
    proc = run("predict", str(fit), str(tmp / "new.csv"), "--group", "nope", check=False)
    assert proc.returncode == 2
    assert "unknown family 'nope'" in proc.stderr and "--new-group" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_laws_and_datasets_listed():
    assert "chinchilla" in run("laws").stdout
    assert "chinchilla_epoch" in run("datasets").stdout
