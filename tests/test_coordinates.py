"""Curve coordinates: the level, shares and slopes are what the law says they are, the mapping
back to the law's parameters is exact, and the model chooses them only where they apply."""

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest

import bayescale as bs
from bayescale.build import to_natural
from bayescale.coordinates import CURVE_LEVEL, coordinates, to_law_scale
from bayescale.predict import draws_matrix


def _law_values(model, values):
    keys = list(values)
    u = {k: pt.dvector(k) for k in keys}
    out = to_law_scale(model, u)
    fn = pytensor.function(list(u.values()), [out[p] for p in model.law.params])
    return dict(zip(model.law.params, fn(*(values[k] for k in keys)), strict=True))


@pytest.mark.parametrize("law", ["power_law:C", "chinchilla", "compute"])
def test_curve_coordinates_are_level_shares_and_slopes_of_the_law(law):
    """At the reference inputs (log x = log x0 = 0 here) the law's value is exp(l), term j's
    share of it is w_j = A_j,ref / L_ref with log(A_j,ref / E) = t_j, and -dlog L/dlog x_j =
    exp(s_j); checked with the law's own log_mean and its gradient (to 1e-9, float64)."""
    everything = {p: "g" for p in bs.Model(law).law.params if p not in ("sigma", "nu")}
    model = bs.Model(law, hierarchy=everything)
    assert model.coordinates == "curve"
    rng = np.random.default_rng(1)
    names = [k for k in coordinates(model) if k not in model.params]
    values = {k: rng.normal(0, 1, 7) for k in names}
    law_u = _law_values(model, values)
    x = {k: pt.dscalar(f"x_{k}") for k in model.law.inputs}
    p = {k: pt.dscalar(k) for k in model.law.params}
    natural = to_natural(model.law.params, p, {k: 0.0 for k in model.law.inputs})
    log_l = model.law.log_mean(x, natural)
    grads = pytensor.grad(log_l, list(x.values()))
    fn = pytensor.function([*x.values(), *p.values()], [log_l, *grads])
    for i in range(7):
        log_value, *slopes = fn(*(0.0 for _ in x), *(law_u[k][i] for k in p))
        assert log_value == pytest.approx(values[CURVE_LEVEL][i], abs=1e-9)
        floor = model.law.floor
        for (coef, exponent), slope in zip(model.law.curve_terms, slopes, strict=True):
            assert law_u[coef][i] - law_u[floor][i] == pytest.approx(
                values[f"log_{coef}_ref_over_{floor}"][i], abs=1e-9)
            assert -slope == pytest.approx(np.exp(values[f"log_slope_{exponent}"][i]), rel=1e-9)


def test_coordinates_follow_the_specification():
    every = {"E": "g", "A": "g", "alpha": "g"}
    assert bs.Model("power_law:C", hierarchy=every).coordinates == "curve"
    # not every parameter of the curve varies, or not by the same columns
    assert bs.Model("power_law:C", hierarchy={"E": "g", "A": "g"}).coordinates == "law"
    assert bs.Model("power_law:C", hierarchy={**every, "alpha": "h"}).coordinates == "law"
    # priors or fixed spreads on the law's parameters keep law coordinates
    prior = bs.Prior("Normal", mu=0.0, sigma=1.0)
    assert bs.Model("power_law:C", hierarchy=every, priors={"E": prior}).coordinates == "law"
    assert bs.Model("power_law:C", hierarchy=every,
                    fixed={"log_E_sd_g": 0.1}).coordinates == "law"
    assert bs.Model("power_law:C", hierarchy=every, coordinates="law").coordinates == "law"
    # a prior on a curve coordinate is accepted, a fixed curve coordinate is not
    assert bs.Model("power_law:C", hierarchy=every,
                    priors={CURVE_LEVEL: prior}).priors[CURVE_LEVEL] == prior
    with pytest.raises(ValueError, match="curve coordinate cannot be fixed"):
        bs.Model("power_law:C", hierarchy=every, fixed={CURVE_LEVEL: 1.0})
    with pytest.raises(ValueError, match="coordinates='curve' is not possible: .*same grouping"):
        bs.Model("power_law:C", hierarchy={"E": "g"}, coordinates="curve")
    with pytest.raises(ValueError, match="not a floor plus power terms"):
        bs.Model("kaplan", hierarchy={"N_c": "g"}, coordinates="curve")
    with pytest.raises(ValueError, match="coordinates must be one of"):
        bs.Model("power_law:C", coordinates="natural")
    # a saved specification keeps its coordinates; older files (no key) are in law coordinates
    spec = bs.Model("power_law:C", hierarchy=every).to_dict()
    assert bs.Model.from_dict(spec).coordinates == "curve"
    assert bs.Model.from_dict({k: v for k, v in spec.items() if k != "coordinates"}
                              ).coordinates == "law"


@pytest.mark.slow
@pytest.mark.statistical
def test_curve_coordinate_fit_recovers_each_curve_predicts_saves_and_loads(tmp_path):
    """A power law with E, A, alpha by family (curve coordinates) on 4 families of 12 runs,
    2% noise: each family's loss at 10x the largest fitted compute lies within 4 posterior sds
    (log scale) of the truth (a bias of a few sds still fails); predictions for a new family
    are wider than for a known one; a saved and reloaded fit predicts the same; the pointwise
    log-likelihood is finite. Measured: 0 failures over 20 seed offsets
    (benchmarks/test_seeds.py -k test_curve_coordinate; results/test_seeds_coordinates.md).
    Each family's own E is not asserted: its runs leave it open, and curve coordinates pool
    the share above the floor, not the floor (offset 7: one family's E 4.7 sds from a truth
    simulated with nearly shared E)."""
    import warnings

    from bayescale.simulate import simulate_runs

    from .conftest import seed_for

    population = {"E": 1.7, "A": 2e3, "alpha": 0.15}
    sim = simulate_runs("power_law:C", population=population,
                        group_sizes={f"f{i}": 12 for i in range(4)},
                        spreads={"E": 0.08, "A": 0.3, "alpha": 0.1},
                        ranges={"C": (1e17, 1e21)}, sigma=0.02, seed=seed_for(11))
    model = bs.Model("power_law:C", hierarchy={p: "family" for p in population})
    assert model.coordinates == "curve"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(sim.runs, draws=500, tune=500, chains=2, seed=seed_for(12),
                        progressbar=False)
    far = pd.DataFrame({"C": 1e22, "family": list(sim.by_group)})
    draws = draws_matrix(fit.predict(far, kind="draws", seed=1)["predictions"]["curve"])
    for j, (family, truth) in enumerate(sim.by_group.items()):
        loss = truth["E"] + truth["A"] * 1e22 ** -truth["alpha"]
        log_draws = np.log(draws[:, j])
        assert abs(np.log(loss) - log_draws.mean()) < 4 * log_draws.std(), family
    new = fit.predict(pd.DataFrame({"C": [1e22], "family": ["unseen"]}), new_groups=True, seed=2,
                      ci_prob=0.95)
    assert (new["curve_eti95_ub"] - new["curve_eti95_lb"]).iloc[0] > (
        np.quantile(draws[:, 0], 0.975) - np.quantile(draws[:, 0], 0.025))
    fit.save(tmp_path / "curve.nc")
    loaded = bs.load(tmp_path / "curve.nc")
    assert loaded.model.coordinates == "curve"
    pd.testing.assert_frame_equal(fit.predict(far, seed=3), loaded.predict(far, seed=3))
    assert np.isfinite(fit.log_likelihood().to_array()).all()
