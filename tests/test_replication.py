"""The Chinchilla replication: checks, table and the CLI's --json shape and exit status."""

import json
import subprocess
import sys

import numpy as np
import pytest

from bayescale.replications.chinchilla import EPOCH_ESTIMATES

from .conftest import seed_for

pytestmark = pytest.mark.statistical


def test_all_checks_pass(chinchilla_replication):
    failed = [c for c in chinchilla_replication.checks if not c.passed]
    assert not failed, failed
    assert chinchilla_replication.passed


def test_uses_epoch_protocol(chinchilla_replication):
    d = chinchilla_replication.to_dict()
    assert d["n_runs"] == 240  # 245 extracted runs, 5 highest-loss excluded


def test_medians_close_to_epoch(chinchilla_replication):
    # Same data, same law, a likelihood of the same robustness: the medians of the exponents
    # should match Epoch's point estimates to within one of Epoch's standard errors
    # (alpha 0.0154, beta 0.0206, E 0.0257).
    params = chinchilla_replication.to_dict()["parameters"]
    for name, se in (("alpha", 0.0154), ("beta", 0.0206), ("E", 0.0257)):
        assert abs(params[name]["median"] - EPOCH_ESTIMATES[name][0]) < se, name


def test_tokens_per_parameter_near_epoch(chinchilla_replication):
    tpp = chinchilla_replication.to_dict()["tokens_per_parameter"]
    assert tpp["lower"] < 18.25 < tpp["upper"]   # Epoch's point estimates give 18.25
    assert not tpp["lower"] < 59.0 < tpp["upper"]  # Hoffmann's Approach 3 gives 59


def test_text_table_lists_every_quantity(chinchilla_replication):
    text = chinchilla_replication.to_text()
    for q in ("A", "B", "E", "alpha", "beta", "D/N at 5.88e23 FLOP", "Hoffmann 2022",
              "Epoch 2024", "PASS"):
        assert q in text


@pytest.mark.slow
def test_cli_json(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bayescale.cli", "replicate", "chinchilla",
                           "--json", "--no-progress", "--seed", str(seed_for(3))],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    for name in ("A", "B", "E", "alpha", "beta"):
        assert set(out["parameters"][name]) >= {"median", "lower", "upper", "prob"}
    assert set(out["tokens_per_parameter"]) >= {"median", "lower", "upper", "prob"}
    assert set(out["diagnostics"]) >= {"max_rhat", "divergences", "min_ess_bulk"}
    assert [set(c) >= {"name", "passed"} for c in out["checks"]] == [True] * 3
    assert all(c["passed"] for c in out["checks"])


@pytest.fixture(scope="module",
                params=["datablations", "obsscaling", "obsscaling-capabilities"])
def other_replication(request):
    from bayescale.replications import replicate

    return replicate(request.param, seed=seed_for(2024))


@pytest.mark.slow
def test_other_replications_pass_their_checks_and_state_disagreement(other_replication):
    rep = other_replication
    assert rep.passed, [c for c in rep.checks if not c.passed]
    d = rep.to_dict()
    assert set(d["diagnostics"]) >= {"max_rhat", "divergences", "min_ess_bulk"}
    assert all({"name", "passed"} <= set(c) for c in d["checks"])
    text = rep.to_text()
    assert "findings:" in text and "result: PASS" in text
    if rep.name == "datablations":
        # The published values are compared one by one, and the text says where they differ.
        assert "outside for" in rep.findings[0]
        assert d["n_runs"] == 296
        for name in ("R_D", "R_N", "alpha", "beta", "E"):
            assert set(d["parameters"][name]) >= {"median", "lower", "upper", "prob"}
    elif rep.name == "obsscaling":
        assert d["n_scores"] > 300 and len(d["families"]) > 30
    else:
        # PCA's shares of variance are cumulative and the latent model's is a share
        assert d["n_scores"] == 933
        assert 0 < d["explained_pca"][0] < d["explained_pca"][1] < d["explained_pca"][2] <= 1
        assert 0 < d["explained_latent"] < 1


def test_json_lists_only_quantities_bayescale_estimated():
    """A row with a published value only (a reference method's number) is a reference in
    ``to_dict``, not a parameter (it crashed the JSON of obsscaling-capabilities)."""
    from bayescale.fit import Diagnostics
    from bayescale.replications.result import Check, Estimate, Replication

    class Fitted:
        diagnostics = Diagnostics(0, 1.0, 500.0, 500.0, 4, 1000, "numpyro", 1.0)

    rep = Replication("x", "t", 0.95, {"paper": "cite"},
                      {"published only": {"paper": Estimate(1.0)},
                       "both": {"paper": Estimate(2.5), "bayescale": Estimate(2.0, 1.0, 3.0)}},
                      {}, [Check("c", np.float64(1.0) > 0, "d")], [], Fitted(), "protocol")
    d = rep.to_dict()
    assert json.dumps(d) and d["checks"][0]["passed"] is True   # np.bool_ made a bool
    assert list(d["parameters"]) == ["both"]
    assert set(d["references"]["paper"]) == {"published only", "both"}
