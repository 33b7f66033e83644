"""Predictions for known and new groups, compute-optimal allocation, save and load."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.allocation import chinchilla_closed_form

from .conftest import TRUTH_Z, seed_for, truth_z

POINT = {"N": 7e10, "D": 1.4e12}


def width(table, prefix="curve", p="90"):
    return table[f"{prefix}_eti{p}_ub"] - table[f"{prefix}_eti{p}_lb"]


@pytest.mark.statistical
def test_new_group_is_wider_than_known(pooled_fit):
    known = pooled_fit.predict({**POINT, "family": "fam0"}, ci_prob=0.9, seed=seed_for(1))
    new = pooled_fit.predict({**POINT, "family": "unseen"}, ci_prob=0.9, seed=seed_for(1),
                             new_groups=True)
    # A new family adds the population spread of E and A (log sd ~0.1-0.3) to the
    # extrapolation uncertainty: its interval must be clearly wider, not marginally.
    assert width(new)[0] > 1.5 * width(known)[0]
    assert (known["curve_eti90_lb"] <= known["curve_median"]).all()
    assert (known["obs_eti90_ub"] >= known["curve_eti90_ub"]).all()  # noise widens


def test_unknown_group_raises_with_known_levels(pooled_fit):
    with pytest.raises(bs.UnknownGroupError, match=r"unknown family 'unseen'.*fam0.*new_groups"):
        pooled_fit.predict({**POINT, "family": "unseen"})


def test_rows_of_one_new_group_share_its_draw(pooled_fit):
    rows = pd.DataFrame({"N": [1e9, 1e9], "D": [2e10, 2e10], "family": ["x", "x"]})
    out = pooled_fit.predict(rows, new_groups=True, seed=seed_for(3), kind="draws")
    curve = out["predictions"]["curve"]
    assert curve.dims == ("chain", "draw", "row")
    assert set(out["predictions_constant_data"].data_vars) == {"N", "D", "family"}
    np.testing.assert_array_equal(curve.values[..., 0], curve.values[..., 1])


def test_predicted_curve_matches_law_at_posterior_draw(pooled_fit):
    # The compiled prediction graph must equal the law evaluated by hand at the same draw
    # (POINT is beyond the data: the law alone, without the extrapolation term).
    out = pooled_fit.predict({**POINT, "family": "fam1"}, kind="draws", extrapolation=False)
    post = pooled_fit.posterior.isel(chain=0, draw=0)
    p = {k: float(post[k]) for k in ("B", "alpha", "beta")}
    p["E"] = float(post["E_by_family"].sel(family="fam1"))
    p["A"] = float(post["A_by_family"].sel(family="fam1"))
    by_hand = p["E"] + p["A"] * POINT["N"] ** -p["alpha"] + p["B"] * POINT["D"] ** -p["beta"]
    assert out["predictions"]["curve"].values[0, 0, 0] == pytest.approx(by_hand, rel=1e-9)


def test_compute_optimal_matches_closed_form(chinchilla_replication):
    fit = chinchilla_replication.fit
    c = bs.CHINCHILLA_COMPUTE
    numeric = fit.compute_optimal([c / 100, c], groups="population", kind="draws",
                                  extrapolation=False)   # N* does not depend on the term
    post = fit.posterior.stack(sample=("chain", "draw"))
    for i, budget in enumerate([c / 100, c]):
        n_opt, _ = chinchilla_closed_form(post["A"].values, post["B"].values,
                                          post["alpha"].values, post["beta"].values, budget)
        # Golden section to ~1e-12 in log N; 1e-6 relative leaves room for float rounding.
        np.testing.assert_allclose(numeric["N_opt"].values[i], n_opt, rtol=1e-6)


def test_compute_optimal_per_group(pooled_fit):
    table = pooled_fit.compute_optimal(1e21, ci_prob=0.9)
    assert list(table["group"]) == ["population"] + [f"family={f}" for f in
                                                     ["fam0", "fam1", "fam2", "fam3", "sparse"]]
    assert (table["tokens_per_parameter_eti90_lb"] < table["tokens_per_parameter_median"]).all()
    assert (table["boundary_fraction"] == 0).all()


def test_compute_optimal_carries_the_extrapolation_term(pooled_fit, simulation):
    """Beyond the fitted runs ``L*`` carries the discrepancy of predictions: per draw and
    setting, ``log L*`` moves by exactly ``d b`` with ``d = log(C/6) - log s_max`` (the
    setting's largest ``N D``; all runs' for the population) and one slope ``b`` per draw and
    setting shared by the budgets, while ``N*``, ``D*`` and ``D*/N*`` stay as they are (the
    term is constant along an iso-compute line). Its spread matches ``predict``'s
    ``sd_extrapolation`` at the optimum: both are sds of 4,000 independent draws of the same
    heavy-tailed slope distribution; measured over seeds 0-19 of these calls the relative
    difference had median 1.4% and maximum 6.3%, so the tolerance is 15%."""
    budgets = [1e18, 3e23, 1e25]
    kw = {"kind": "draws", "seed": seed_for(3)}
    term = pooled_fit.compute_optimal(budgets, **kw)
    law = pooled_fit.compute_optimal(budgets, extrapolation=False, **kw)
    for q in ("N_opt", "D_opt", "tokens_per_parameter"):
        # equal to the search's precision: it stops where the loss is flat to rounding, which
        # a constant factor moves by up to 3e-7 (measured)
        np.testing.assert_allclose(term[q].values, law[q].values, rtol=1e-5)
    runs = simulation.runs
    scale = np.log(runs["N"] * runs["D"])
    largest = {"population": scale.max(),
               **{f"family={f}": v for f, v in scale.groupby(runs["family"]).max().items()}}
    shift = np.log(term["loss_opt"].values) - np.log(law["loss_opt"].values)
    groups, computes = term["group"].values, term["compute"].values
    d = np.maximum(0, np.log(computes / 6) - np.array([largest[g] for g in groups]))
    assert (d[computes == 1e18] == 0).all() and (d[computes > 1e18] > 0).all()
    np.testing.assert_array_equal(shift[d == 0], 0.0)
    slope = shift[d > 0] / d[d > 0, None]
    by_setting = dict(zip(groups[d > 0], slope, strict=False))
    for g, row in zip(groups[d > 0], slope, strict=True):
        np.testing.assert_allclose(row, by_setting[g], rtol=1e-6)   # one b across budgets
    summary = pooled_fit.compute_optimal(budgets[-1], ci_prob=0.9, seed=seed_for(3))
    np.testing.assert_allclose(summary["extrapolation_distance"], d[computes == 1e25])
    fam0 = summary[summary["group"] == "family=fam0"].iloc[0]
    pred = pooled_fit.predict({"N": fam0["N_opt_median"], "D": fam0["D_opt_median"],
                               "family": "fam0"}, seed=seed_for(3))
    sd_term = float(np.std(shift[(groups == "family=fam0") & (computes == 1e25)]))
    assert sd_term == pytest.approx(float(pred["sd_extrapolation"].iloc[0]), rel=0.15)


def test_summary_on_natural_scale(chinchilla_replication):
    table = chinchilla_replication.fit.summary(ci_prob=0.9)
    assert {"median", "mean", "sd", "eti90_lb", "eti90_ub", "r_hat", "ess_bulk"} <= set(table)
    assert list(table.index[:5]) == ["E", "A", "B", "alpha", "beta"]
    assert 100 < table.loc["A", "median"] < 5000  # natural A, not log A (~6)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_save_load_identical_draws(pooled_fit, tmp_path, suffix):
    pooled_fit.extrapolation_risk()   # learned before saving: the file carries it
    path = pooled_fit.save(tmp_path / f"fit{suffix}")
    again = bs.load(path)
    for name in pooled_fit.posterior.data_vars:
        np.testing.assert_array_equal(again.posterior[name].values,
                                      pooled_fit.posterior[name].values)
    assert again.model.to_dict() == pooled_fit.model.to_dict()
    a = pooled_fit.predict({**POINT, "family": "fam2"}, seed=seed_for(5))
    b = again.predict({**POINT, "family": "fam2"}, seed=seed_for(5))
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(FileExistsError):
        pooled_fit.save(path)


@pytest.mark.statistical
def test_sampling_problems_are_reported():
    sim = bs.simulate.simulate_runs(
        "power_law:C", population={"E": 2.0, "A": 5.0, "alpha": 0.2}, group_sizes={"g": 30},
        ranges={"C": (1e17, 1e21)}, sigma=0.02, seed=seed_for(1))
    with pytest.warns(bs.SamplingWarning):
        fit = bs.Model("power_law:C").fit(sim.runs, draws=15, tune=5, chains=2, seed=seed_for(1),
                                          progressbar=False)
    assert not fit.diagnostics.ok and fit.diagnostics.problems()


@pytest.mark.statistical
def test_user_law_fits_and_reloads(tmp_path, record_property):
    def inverse_power(C, E, A, a):
        return E + A * C ** -a

    law = bs.law_from_function(inverse_power, params={"E": "positive", "A": "positive",
                                                      "a": "positive"})
    sim = bs.simulate.simulate_runs(law, population={"E": 2.0, "A": 3000.0, "a": 0.2},
                                    group_sizes={"g": 40}, ranges={"C": (1e17, 1e21)},
                                    sigma=0.01, seed=seed_for(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        fit = bs.Model(law).fit(sim.runs, draws=500, tune=500, seed=seed_for(3), progressbar=False)
    # The truth within TRUTH_Z sds: largest |z| 2.10 over seed offsets 0-20, 0 failures.
    z = truth_z(fit.posterior["a"].values, 0.2)
    record_property("z", z)
    assert abs(z) <= TRUTH_Z, z
    fit.save(tmp_path / "u.nc")
    with pytest.raises(ValueError, match="register_law"):
        bs.load(tmp_path / "u.nc")
    assert bs.load(tmp_path / "u.nc", law=law).predict({"C": 1e22})["curve_median"][0] > 2.0


def test_prediction_draws_are_arviz_data(pooled_fit):
    """kind="draws" is ArviZ's data model: arviz-stats summarises it and arviz-plots draws it
    without conversion, and its intervals equal predict's summary columns."""
    import arviz_plots as azp
    import arviz_stats as azs
    import matplotlib

    matplotlib.use("Agg")
    rows = pd.DataFrame({"N": [1e9, 1e11], "D": [2e10, 2e12], "family": ["fam1", "fam2"]})
    tree = pooled_fit.predict(rows, kind="draws", seed=seed_for(6), ci_prob=0.9)
    table = azs.summary(tree, group="predictions", ci_prob=0.9, round_to="none")
    summary = pooled_fit.predict(rows, seed=seed_for(6), ci_prob=0.9)
    np.testing.assert_allclose(table.loc[["curve[0]", "curve[1]"], "eti90_lb"],
                               summary["curve_eti90_lb"], rtol=1e-12)
    azp.plot_dist(tree, group="predictions", var_names=["curve"])
