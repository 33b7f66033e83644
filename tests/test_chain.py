"""Loss -> accuracy chain: the second stage takes the first stage's posterior, not a point."""

import warnings

import numpy as np
import pytest

import bayescale as bs
from bayescale.chain import chain_predict
from bayescale.predict import draws_matrix
from bayescale.simulate import simulate_runs

from .conftest import TRUTH_Z, seed_for, truth_z

pytestmark = pytest.mark.statistical

LOSS = {"E": 2.0, "A": 400.0, "alpha": 0.15}
ACC = {"floor": 0.25, "headroom": 0.8, "slope": -4.0, "x50": 2.6}
TARGET_C = 1e23  # two decades beyond the largest loss run


def true_accuracy(c):
    loss = LOSS["E"] + LOSS["A"] * c ** -LOSS["alpha"]
    return ACC["floor"] + (1 - ACC["floor"]) * ACC["headroom"] / (
        1 + np.exp(-ACC["slope"] * (loss - ACC["x50"])))


@pytest.fixture(scope="module")
def stages():
    loss_runs = simulate_runs("compute", population=LOSS, group_sizes={"g": 40},
                              ranges={"C": (1e17, 1e21)}, sigma=0.01, seed=seed_for(1)).runs
    acc_law = bs.get_law("sigmoid_accuracy", x="L", scale="identity")
    acc_runs = simulate_runs(acc_law, population=ACC, group_sizes={"g": 60},
                             ranges={"L": (2.1, 3.6)}, noise="binomial", trials=500,
                             target="accuracy", seed=seed_for(2)).runs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        first = bs.Model("compute").fit(loss_runs, seed=seed_for(3), progressbar=False)
        second = bs.Model(acc_law, likelihood="binomial", target="accuracy",
                          fixed={"floor": 0.25}).fit(acc_runs, seed=seed_for(4), progressbar=False)
    return first, second


def test_chain_covers_truth(stages, record_property):
    """The true accuracy two decades beyond the loss runs lies within TRUTH_Z sds of the
    chained prediction. Measured over seed offsets 0-20: largest |z| 2.30, 0 failures (the
    95% interval it checked before missed at offset 5;
    benchmarks/results/test_seeds_truth_z.md)."""
    draws = chain_predict(*stages, {"C": [TARGET_C]}, seed=seed_for(0), kind="draws")
    z = truth_z(draws_matrix(draws["predictions"]["curve"])[:, 0], true_accuracy(TARGET_C))
    record_property("z", z)
    assert abs(z) <= TRUTH_Z, z


def test_chain_carries_first_stage_uncertainty(stages):
    first, second = stages
    chained = chain_predict(first, second, {"C": [TARGET_C]}, ci_prob=0.9, seed=seed_for(0))
    point_loss = first.predict({"C": [TARGET_C]})["curve_median"][0]
    plugged = second.predict({"L": [point_loss]}, ci_prob=0.9, seed=seed_for(0))
    width = {k: t["curve_eti90_ub"][0] - t["curve_eti90_lb"][0]
             for k, t in (("chain", chained), ("plug-in", plugged))}
    # Plugging in the median loss drops stage 1's extrapolation uncertainty; a chain that did
    # the same would give a ratio of 1.0 (up to Monte Carlo error, ~2% for 4000 draws).
    # Measured: 1.22. Threshold 1.1 sits well clear of both.
    assert width["chain"] > 1.1 * width["plug-in"], width


def test_second_stage_must_have_one_input(stages):
    class TwoInputs:  # only .model is consulted before any prediction
        model = bs.Model("chinchilla")

    with pytest.raises(ValueError, match="one input"):
        chain_predict(stages[0], TwoInputs(), {"C": [1e21]})
