"""Ruan et al.'s PCA baseline (bayescale.observational) and the family backtests
(bayescale.capability_backtest): imputation, variance shares, family lines, splits, the error
table, input errors. Deterministic (no sampling)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale import capability_backtest as cb
from bayescale.observational import PCAScaling, principal_components

BENCHMARKS = ("A", "B", "C", "D")


def scores_frame(seed: int = 0, families: int = 6, per_family: int = 4) -> pd.DataFrame:
    """Scores rising with log compute, families shifted (family k by 0.3 k on the logit
    scale), a little noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(families):
        compute = np.exp(rng.uniform(np.log(1e21), np.log(1e24), per_family))
        for j, c in enumerate(compute):
            s = 0.4 * (np.log(c) - np.log(1e22)) + 0.3 * f
            for k, b in enumerate(BENCHMARKS):
                g = 0.25 if k < 2 else 0.0
                eta = -0.5 + (0.6 + 0.2 * k) * s + rng.normal(0, 0.05)
                rows.append({"model": f"f{f}m{j}", "family": f"f{f}", "benchmark": b,
                             "C": c, "accuracy": g + (1 - g) / (1 + np.exp(-eta)),
                             "chance": g, "trials": 1000})
    return pd.DataFrame(rows)


def test_imputation_recovers_missing_scores_of_a_low_rank_matrix():
    """Holes in an exactly rank-2 matrix are filled by the rank-2 reconstruction (to 1e-6),
    and the shares of variance are those of numpy's SVD of the completed matrix."""
    rng = np.random.default_rng(1)
    full = rng.normal(size=(30, 2)) @ rng.normal(size=(2, 6)) + rng.normal(size=6)
    holes = full.copy()
    holes[[1, 5, 9, 20], [0, 3, 2, 5]] = np.nan
    centre, axes, s, share = principal_components(holes, 2, iterations=5000, tol=1e-12)
    np.testing.assert_allclose(centre + s @ axes, full, atol=1e-6)
    d = np.linalg.svd(full - full.mean(axis=0), compute_uv=False)
    np.testing.assert_allclose(share, d**2 / (d**2).sum(), atol=1e-8)


def test_new_models_follow_their_familys_line():
    """A new model of a family is predicted from that family's line: at the same compute,
    the family shifted up scores higher on every benchmark, an unseen family sits between,
    and a model of the fit is predicted near its own score."""
    data = scores_frame()
    fit = PCAScaling(components=2, bootstrap=20).fit(data, seed=0)
    rows = pd.DataFrame({"family": ["f0", "f5", "unseen"] * 4, "C": 1e23,
                         "benchmark": np.repeat(BENCHMARKS, 3),
                         "chance": np.repeat([0.25, 0.25, 0.0, 0.0], 3)})
    out = fit.predict(rows, ci_prob=0.9)
    med = out["curve_median"].to_numpy().reshape(4, 3)
    assert np.all(med[:, 0] < med[:, 2]) and np.all(med[:, 2] < med[:, 1])
    assert np.all(out["obs_eti90_lb"] <= out["obs_eti90_ub"])
    own = fit.predict(data.iloc[:8])
    assert np.abs(own["curve_median"] - data["accuracy"].iloc[:8]).max() < 0.05
    shares = fit.explained_variance()
    assert shares.sum() == pytest.approx(1.0) and shares[0] > 0.9
    assert list(fit.loadings().columns) == ["PC1", "PC2"]


def test_bad_input_is_refused_by_name():
    data = scores_frame()
    with pytest.raises(bs.DataError, match="missing column 'chance'"):
        PCAScaling().fit(data.drop(columns="chance"))
    with pytest.raises(bs.DataError, match=r"predictors \['Z'\]"):
        PCAScaling(predictors=["A", "Z"]).fit(data)
    with pytest.raises(ValueError, match="components must be between 1 and 4"):
        PCAScaling(components=5).fit(data)
    fit = PCAScaling(components=2, bootstrap=2).fit(data)
    with pytest.raises(bs.DataError, match="rows of models not in the fit"):
        fit.predict(pd.DataFrame({"model": ["new"], "benchmark": ["A"], "chance": [0.25]}))
    with pytest.raises(bs.DataError, match=r"benchmarks \['Z'\] are not in the fit"):
        fit.predict(pd.DataFrame({"model": ["f0m0"], "benchmark": ["Z"], "chance": [0.0]}))


def test_family_splits_keep_the_smallest_model_in_training():
    data = scores_frame(families=3).query("not (family == 'f2' and model != 'f2m0')")
    splits = list(cb.family_splits(data, min_models=3))
    assert [f for f, _, _ in splits] == ["f0", "f1"]            # f2 has one model left
    for family, train, test in splits:
        members = data[data.family == family]
        smallest = members.loc[members.C.idxmin(), "model"]
        assert set(train[train.family == family].model) == {smallest}
        assert set(test.model) == set(members.model) - {smallest}
        assert len(train) + len(test) == len(data)


def test_benchmark_splits_hold_out_each_models_new_scores_once():
    data = scores_frame()
    seen = []
    for _, train, test in cb.benchmark_splits(data, ["C", "D"], folds=3, seed=0):
        assert set(test.benchmark) <= {"C", "D"}
        assert set(test.model).isdisjoint(train[train.benchmark.isin(["C", "D"])].model)
        assert set(test.model) <= set(train.model)               # their A, B scores stay
        seen += list(zip(test.model, test.benchmark, strict=True))
    assert sorted(seen) == sorted(zip(*data[data.benchmark.isin(["C", "D"])][
        ["model", "benchmark"]].T.values, strict=True))


def test_error_table_by_hand():
    f = pd.DataFrame({"benchmark": ["A", "A", "B"], "forecaster": "x",
                      "accuracy": [0.5, 0.6, 0.2], "point": [0.4, 0.6, 0.5],
                      "lower": [0.45, 0.5, 0.0], "upper": [0.55, 0.7, 0.1]})
    t = cb.error_table(f).set_index("benchmark")
    assert t.loc["A", "mae"] == pytest.approx(0.05) and t.loc["A", "coverage"] == 1.0
    assert t.loc["B", "mae"] == pytest.approx(0.3) and t.loc["B", "coverage"] == 0.0
    assert t.loc["all", "n"] == 3 and t.loc["all", "coverage"] == pytest.approx(2 / 3)


def test_leave_one_family_out_runs_every_forecaster_on_every_split():
    """A forecaster that predicts its training mean: every held-out row comes back once per
    forecaster, labelled with its family, and ``families`` limits the splits."""
    data = scores_frame(families=3)

    def train_mean(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
        m = train["accuracy"].mean()
        return test.assign(point=m, lower=m - 0.1, upper=m + 0.1)

    out = cb.leave_one_family_out(data, {"a": train_mean, "b": train_mean})
    for family, train, test in cb.family_splits(data):
        for name in ("a", "b"):
            rows = out[(out.held_out == family) & (out.forecaster == name)]
            assert sorted(rows.model) == sorted(test.model)
            assert rows.point.eq(train.accuracy.mean()).all()
    assert (out.seconds >= 0).all()
    only = cb.leave_one_family_out(data, {"a": train_mean}, families=["f1"])
    assert set(only.held_out) == {"f1"} and set(only.forecaster) == {"a"}
