"""Known measurement error per run (``Model(measurement_error=...)``) in the likelihood.

A run's known evaluation noise (a standard error of the target, or interval bounds) adds to
the learned noise in quadrature: ``sqrt(sigma^2 + m_i^2)`` with ``m_i = se_i / y_i`` on log y.
The statistical test fits simulated runs whose errors are large and unequal, with and without
the column; the others are exact (densities against scipy, conversions, messages, files).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayescale as bs
from bayescale.build import encode
from bayescale.likelihoods import MEASUREMENT_ERROR, MeasurementError
from bayescale.predict import log_predictive_density, predictive_draws

from .conftest import TRUTH_Z, seed_for, truth_z

TRUE = {"E": 0.2, "A": 8e4, "alpha": 0.3}
SIGMA = 0.01                      # the learned noise: small
SE_LOG = (0.01, 0.2)              # the known errors on log y: large and unequal (log-uniform)
QUICK = {"draws": 300, "tune": 300, "chains": 2, "progressbar": False, "warn": False}


def runs_with_error(seed: int, n: int = 40) -> pd.DataFrame:
    """``log y = log L + SIGMA e + m_i u`` with known ``m_i`` (column ``loss_se = m_i y``)."""
    runs = bs.simulate.simulate_runs("power_law:C", population=TRUE, group_sizes={"a": n},
                                     ranges={"C": (1e17, 1e21)}, sigma=SIGMA, seed=seed).runs
    rng = np.random.default_rng(seed + 1)
    se_log = np.exp(rng.uniform(*np.log(SE_LOG), n))
    runs["loss"] = runs["loss"] * np.exp(se_log * rng.standard_normal(n))
    runs["loss_se"] = se_log * runs["loss"]
    return runs.drop(columns="family")


@pytest.fixture(scope="module")
def fits():
    runs = runs_with_error(seed_for(70))
    known = bs.Model("power_law:C", likelihood="normal", measurement_error="loss_se")
    plain = bs.Model("power_law:C", likelihood="normal")
    return (runs, known.fit(runs, seed=seed_for(72), **QUICK),
            plain.fit(runs, seed=seed_for(72), **QUICK))


def _draws(fit, name):
    return fit.posterior[name].values   # (chain, draw)


@pytest.mark.slow
@pytest.mark.statistical
def test_known_errors_leave_sigma_small_and_weight_precise_runs(fits, record_property):
    """With the column, sigma's posterior covers the true 0.01 and the runs with small errors
    dominate the exponent; without it, sigma absorbs the errors (about 0.05-0.1).

    Each recorded number must stay below its bound (the largest over seeds is what
    benchmarks/test_seeds.py tabulates): ``z_sigma``, ``z_alpha``, |z| of the true sigma and
    exponent under the fit with the column, below TRUTH_Z = 4.5; ``overlap``, that fit's 95%
    quantile of sigma over the 5% quantile of the fit without the column, below 1 (the 90%
    intervals are disjoint); ``deflation``, 0.01 over the median sigma without the column,
    below 1/2 (the errors inflate it at least 2x); ``sd_ratio``, the exponent's posterior sd
    with the column over that without, below 1 (weighting by the known errors sharpens it).
    Measured over seed offsets 0-19 (benchmarks/results/test_seeds_measurement_error.md):
    0 failures; largest values z_sigma 2.07, z_alpha 1.27, overlap 0.68, deflation 0.23,
    sd_ratio 0.76 (typically 0.3-0.5).
    """
    _, known, plain = fits
    sigma_k, sigma_p = _draws(known, "sigma"), _draws(plain, "sigma")
    alpha_k, alpha_p = _draws(known, "alpha"), _draws(plain, "alpha")
    recorded = {"z_sigma": truth_z(sigma_k, SIGMA), "z_alpha": truth_z(alpha_k, TRUE["alpha"]),
                "overlap": np.quantile(sigma_k, 0.95) / np.quantile(sigma_p, 0.05),
                "deflation": SIGMA / np.median(sigma_p),
                "sd_ratio": alpha_k.std() / alpha_p.std()}
    for name, value in recorded.items():
        record_property(name, float(value))
    assert abs(recorded["z_sigma"]) < TRUTH_Z and abs(recorded["z_alpha"]) < TRUTH_Z
    assert recorded["overlap"] < 1, "sigma's 90% intervals with and without the errors overlap"
    assert recorded["deflation"] < 1 / 2
    assert recorded["sd_ratio"] < 1


@pytest.mark.slow
def test_the_fit_observes_normal_with_the_combined_scale(fits):
    """The fit's pointwise log-likelihood (PyMC's) is scipy's Normal density of log y at
    log L with scale sqrt(sigma^2 + (se / y)^2), for every draw and run."""
    runs, known, _ = fits
    post = known.posterior
    c, y = runs["C"].to_numpy(), runs["loss"].to_numpy()
    curve = (post["E"].values[..., None]
             + post["A"].values[..., None] * c ** -post["alpha"].values[..., None])
    scale = np.sqrt(post["sigma"].values[..., None] ** 2 + (runs["loss_se"].to_numpy() / y) ** 2)
    expected = stats.norm.logpdf(np.log(y), np.log(curve), scale)
    got = known.log_likelihood()["log_y"].transpose("chain", "draw", ...).values
    np.testing.assert_allclose(got, expected, rtol=1e-9)


@pytest.mark.parametrize("likelihood", ["studentt", "normal", "normal_known"])
def test_one_density_equals_scipy_with_the_combined_scale(likelihood):
    """The likelihood's own density, with ``extra`` as the fit encodes it, is scipy's
    Student-t / Normal with the known error added in quadrature."""
    frame = pd.DataFrame({"C": [1e17, 1e18, 1e19, 1e20, 1e21, 1e22],
                          "loss": [0.8, 0.6, 0.45, 0.3, 0.25, 0.2],
                          "loss_se": [0.0, 0.003, 0.02, 0.06, 0.01, 0.04],
                          "se": [0.01, 0.01, 0.02, 0.005, 0.01, 0.02]})
    model = bs.Model("power_law:C", likelihood=likelihood, measurement_error="loss_se")
    extra = encode(model, frame).extra
    y, se = frame["loss"].to_numpy(), frame["loss_se"].to_numpy()
    curve = np.array([0.75, 0.58, 0.47, 0.33, 0.24, 0.22])
    aux = {"sigma": 0.04, "nu": 5.0}
    lik = model.likelihood
    value = lik.observed(y, extra)
    got = lik.logp(value, np.log(curve), {k: aux[k] for k in lik.aux}, extra).eval()
    if likelihood == "normal_known":
        expected = stats.norm.logpdf(y, curve, np.sqrt(frame["se"].to_numpy() ** 2 + se ** 2))
    else:
        scale = np.sqrt(aux["sigma"] ** 2 + (se / y) ** 2)
        expected = (stats.t.logpdf(np.log(y), aux["nu"], np.log(curve), scale)
                    if likelihood == "studentt" else stats.norm.logpdf(np.log(y), np.log(curve),
                                                                       scale))
    # 1e-8: PyMC's and scipy's Student-t normalising constants differ by 2.5e-9
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-8)


def test_interval_bounds_give_the_same_standard_error():
    """Bounds ``y exp(+-z m)`` give ``m`` on log y exactly, as ``se = m y`` does; symmetric
    bounds ``y +- z se`` give ``se / y`` to second order; on y, ``(hi - lo) / (2 z) = se``."""
    y = np.array([0.9, 0.6, 0.4, 0.3, 0.25, 0.2])
    m = np.array([0.01, 0.05, 0.02, 0.04, 0.0, 0.03])
    for level in (0.95, 0.9):
        z = stats.norm.ppf((1 + level) / 2)
        frame = pd.DataFrame({"C": [1e17, 1e18, 1e19, 1e20, 1e21, 1e22], "loss": y,
                              "loss_se": m * y,
                              "lo": y * np.exp(-z * m), "hi": y * np.exp(z * m),
                              "lo_sym": y - z * m * y, "hi_sym": y + z * m * y, "se": 0.01})
        spec = ("lo", "hi") if level == 0.95 else ("lo", "hi", level)
        sym = ("lo_sym", "hi_sym") if level == 0.95 else ("lo_sym", "hi_sym", level)

        def error(likelihood, me, frame=frame):
            model = bs.Model("power_law:C", likelihood=likelihood, measurement_error=me)
            return encode(model, frame).extra[MEASUREMENT_ERROR]

        assert MeasurementError.parse(spec).z == pytest.approx(z, rel=1e-12)
        np.testing.assert_allclose(error("normal", "loss_se"), m, rtol=1e-12)
        np.testing.assert_allclose(error("normal", spec), m, rtol=1e-12)
        np.testing.assert_allclose(error("studentt", sym), m, rtol=(z * 0.05) ** 2 / 3 * 1.01)
        np.testing.assert_allclose(error("normal_known", sym), m * y, rtol=1e-12)
        np.testing.assert_allclose(error("normal_known", "loss_se"), m * y, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.statistical
def test_predictions_include_the_error_only_where_the_rows_have_it(fits):
    """A new observation has scale sqrt(sigma^2 + (se / L)^2) with the column and sigma
    without it (never NaN); the held-out density at the fitted runs equals the fit's own
    pointwise log-likelihood averaged over draws (se / y, as the fit has it).

    600 draws: the standardised log residual's mean within 0.2 (5 standard errors) and sd
    within 0.2 of 1 (7 standard errors): failure rate below 1e-5 per assertion."""
    runs, known, _ = fits
    sigma = known.posterior["sigma"].values.reshape(-1, 1)
    rows = pd.DataFrame({"C": [1e18, 1e22]})
    for se in (None, 0.05):
        frame = rows if se is None else rows.assign(loss_se=se)
        tree = known.predict(frame, seed=seed_for(73), kind="draws")["predictions"]
        curve = tree["curve"].values.reshape(-1, 2)
        obs = tree["obs"].values.reshape(-1, 2)
        assert np.isfinite(obs).all()
        scale = sigma if se is None else np.sqrt(sigma**2 + (se / curve) ** 2)
        std = np.log(obs / curve) / scale
        assert np.all(np.abs(std.mean(axis=0)) < 0.2) and np.all(np.abs(std.std(axis=0) - 1) < 0.2)
    log_x = {"C": np.log(runs["C"].to_numpy())[None, :]}
    draws = predictive_draws(known, runs, log_x, new_groups=False,
                             rng=np.random.default_rng(seed_for(74)))
    lpd = log_predictive_density(known, draws, runs, runs["loss"].to_numpy())
    ll = known.log_likelihood()["log_y"].transpose("chain", "draw", ...).values
    ll = ll.reshape(-1, ll.shape[-1])
    top = ll.max(axis=0)
    np.testing.assert_allclose(lpd, top + np.log(np.mean(np.exp(ll - top), axis=0)), rtol=1e-9)


@pytest.mark.parametrize("spec, edit, message", [
    ("loss_se", lambda d: d.drop(columns="loss_se"),
     r"missing column 'loss_se' \(known measurement error of the target\)"),
    ("loss_se", lambda d: d.assign(loss_se=[0.01, 0.01, "n/a", 0.01, 0.01, 0.01]),
     r"column 'loss_se' .*must be numeric; found row 2: 'n/a'"),
    ("loss_se", lambda d: d.assign(loss_se=[0.01, 0.01, 0.01, -0.1, 0.01, 0.01]),
     r"column 'loss_se' .*must be >= 0 \(a standard error\); found row 3: -0.1"),
    ("loss_se", lambda d: d.assign(loss_se=[0.01, np.nan, 0.01, 0.01, 0.01, 0.01]),
     r"column 'loss_se' .*missing or infinite values: row 1: nan"),
    (("lo", "hi"), lambda d: d.assign(lo=[0.5, 0.4, 0.3, 0.3, 0.25, 0.17]),
     r"'lo' and 'hi' .*must have lo <= hi; found row 4: lo=0.25 > hi=0.22"),
    (("lo", "hi"), lambda d: d.assign(lo=[0.0, 0.4, 0.3, 0.2, 0.18, 0.17]),
     r"column 'lo' .*of a log-scale target\) must be > 0 .*found row 0: 0.0"),
])
def test_bad_measurement_errors_name_the_column_row_and_value(spec, edit, message):
    data = pd.DataFrame({"C": [1e17, 1e18, 1e19, 1e20, 1e21, 1e22],
                         "loss": [0.6, 0.45, 0.35, 0.27, 0.2, 0.19],
                         "loss_se": 0.01, "lo": [0.55, 0.4, 0.3, 0.2, 0.18, 0.17],
                         "hi": [0.65, 0.5, 0.4, 0.33, 0.22, 0.21]})
    model = bs.Model("power_law:C", likelihood="normal", measurement_error=spec)
    encode(model, data)   # the unedited data are fine
    with pytest.raises(bs.DataError, match=message):
        encode(model, edit(data))


def test_a_model_refuses_what_it_cannot_use():
    with pytest.raises(ValueError, match="likelihood 'binomial' does not take a known "
                       "measurement error; the likelihoods that do: normal, normal_known, "
                       "studentt"):
        bs.Model("power_law:C", likelihood="binomial", measurement_error="loss_se")
    with pytest.raises(ValueError, match="already uses as known noise"):
        bs.Model("power_law:C", likelihood="normal_known", measurement_error="se")
    for bad in (("lo",), ("lo", "hi", 1.5), ("lo", "lo"), 3.0):
        with pytest.raises(ValueError, match="measurement_error"):
            bs.Model("power_law:C", measurement_error=bad)


def test_the_setting_survives_to_dict_and_from_dict():
    for spec in ("loss_se", ("lo", "hi"), ("lo", "hi", 0.9)):
        model = bs.Model("power_law:C", likelihood="normal", measurement_error=spec)
        again = bs.Model.from_dict(json.loads(model.to_json()))
        assert again.measurement_error == model.measurement_error == MeasurementError.parse(spec)
    old = bs.Model("power_law:C").to_dict()
    del old["measurement_error"]       # a file written before the setting existed
    assert bs.Model.from_dict(old).measurement_error is None


@pytest.mark.slow
def test_a_loaded_fit_keeps_the_measurement_error(fits, tmp_path):
    runs, known, _ = fits
    again = bs.load(known.save(tmp_path / "me.nc"))
    assert again.model.measurement_error == known.model.measurement_error
    np.testing.assert_allclose(again.design.extra[MEASUREMENT_ERROR],
                               known.design.extra[MEASUREMENT_ERROR], rtol=1e-15)
    np.testing.assert_allclose(again.log_likelihood()["log_y"].values,
                               known.log_likelihood()["log_y"].values, rtol=1e-12)
    rows = runs.head(3)
    pd.testing.assert_frame_equal(known.predict(rows, seed=seed_for(75)),
                                  again.predict(rows, seed=seed_for(75)))
