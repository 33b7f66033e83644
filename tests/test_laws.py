"""Laws evaluate the formula they document; user laws and the registry behave."""

import numpy as np
import pytensor.tensor as pt
import pytest

import bayescale as bs
from bayescale.build import to_natural

# Evaluations are float64 closed forms: agreement to 1e-10 relative is rounding, not luck.
RTOL = 1e-10


@pytest.fixture
def inputs(rng):
    return {"N": np.exp(rng.uniform(15, 25, 50)), "D": np.exp(rng.uniform(18, 27, 50))}


def test_chinchilla_matches_formula(inputs):
    p = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    expected = p["E"] + p["A"] * inputs["N"] ** -p["alpha"] + p["B"] * inputs["D"] ** -p["beta"]
    np.testing.assert_allclose(bs.get_law("chinchilla").evaluate(inputs, p), expected, rtol=RTOL)


def test_power_law_uses_chosen_input(inputs):
    law = bs.get_law("power_law:C")
    assert law.inputs == ("C",)
    c = inputs["N"] * inputs["D"] * 6
    p = {"E": 1.7, "A": 20.0, "alpha": 0.05}
    np.testing.assert_allclose(law.evaluate({"C": c}, p), 1.7 + 20.0 * c**-0.05, rtol=RTOL)


def test_kaplan_matches_formula(inputs):
    p = {"N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095}
    n, d = inputs["N"], inputs["D"]
    expected = ((p["N_c"] / n) ** (p["alpha_N"] / p["alpha_D"]) + p["D_c"] / d) ** p["alpha_D"]
    np.testing.assert_allclose(bs.get_law("kaplan").evaluate(inputs, p), expected, rtol=RTOL)


def test_user_law_from_plain_function(inputs):
    def my_law(N, D, E, A, alpha):
        return E + A * (N * D) ** -alpha

    law = bs.law_from_function(my_law, params={"E": "positive", "A": "positive",
                                               "alpha": "positive"})
    assert law.inputs == ("N", "D") and law.name == "my_law"
    p = {"E": 2.0, "A": 50.0, "alpha": 0.1}
    expected = 2.0 + 50.0 * (inputs["N"] * inputs["D"]) ** -0.1
    np.testing.assert_allclose(law.evaluate(inputs, p), expected, rtol=RTOL)


def test_user_law_rejects_unknown_parameter():
    with pytest.raises(ValueError, match="gamma"):
        bs.law_from_function(lambda N, E: E + 0 * N, params={"E": "positive", "gamma": "real"})


def test_reference_parameterisation_recovers_natural_coefficient():
    # log A = log A_ref + alpha * log N0: A N^-alpha must equal A_ref (N/N0)^-alpha.
    law = bs.get_law("chinchilla")
    log_n0 = 21.0
    u = {"E": pt.as_tensor(np.log(1.8)), "A": pt.as_tensor(-1.0), "B": pt.as_tensor(-1.2),
         "alpha": pt.as_tensor(np.log(0.34)), "beta": pt.as_tensor(np.log(0.28))}
    p = to_natural(law.params, u, {"N": log_n0, "D": 23.0})
    n = np.exp(19.5)
    lhs = float((p["A"] * n ** -p["alpha"]).eval())
    rhs = np.exp(-1.0) * (n / np.exp(log_n0)) ** -0.34
    assert lhs == pytest.approx(rhs, rel=1e-10)


def test_unknown_law_suggests_close_name():
    with pytest.raises(ValueError, match="Did you mean 'chinchilla'"):
        bs.get_law("chinchila")


def test_registered_user_law_resolves_by_name():
    law = bs.law_from_function(lambda x, E, A: E + A / x, params={"E": "positive",
                                                                 "A": "positive"},
                               name="inverse_test")
    bs.register_law(law)
    try:
        assert bs.get_law("inverse_test") is law
        with pytest.raises(ValueError, match="already registered"):
            bs.register_law(law)
    finally:
        bs.unregister_law("inverse_test")
    assert "inverse_test" not in bs.available_laws()


def test_evaluate_takes_new_parameters_and_shapes_on_each_call():
    """``Law.evaluate`` compiles once per law and input shape, so a simulation of many groups
    does not compile per group; each call still uses its own parameters and inputs: equal to
    the law's ``log_mean`` built from constants, to 1e-12, over parameters and shapes."""
    law = bs.get_law("chinchilla")

    def direct(inputs, params):
        x = {k: pt.as_tensor_variable(np.log(np.asarray(v, dtype=float)))
             for k, v in inputs.items()}
        p = {k: pt.as_tensor_variable(float(v)) for k, v in params.items()}
        p |= {f"log_{k}": pt.as_tensor_variable(np.log(float(v))) for k, v in params.items()}
        return np.exp(law.log_mean(x, p).eval())

    rng = np.random.default_rng(0)
    for inputs in ({"N": 1e9, "D": 2e10}, {"N": np.geomspace(1e8, 1e10, 5), "D": 3e10},
                   {"N": np.full((2, 3), 5e8), "D": np.geomspace(1e9, 1e12, 3)}):
        for _ in range(3):
            params = {"E": rng.uniform(1, 2), "A": rng.uniform(100, 900),
                      "B": rng.uniform(500, 3000), "alpha": rng.uniform(0.2, 0.5),
                      "beta": rng.uniform(0.2, 0.5)}
            got = law.evaluate(inputs, params)
            np.testing.assert_allclose(got, direct(inputs, params), rtol=1e-12)
            assert got.shape == np.broadcast_shapes(*(np.shape(v) for v in inputs.values()))
