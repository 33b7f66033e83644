"""Compiled models reused across refits of the same structure (bayescale.build.model_data,
structure_key; bayescale.fit.compiled_nutpie).

Every number that comes from the data or a prior is a ``pm.Data`` variable, so one compiled
model serves every data set with the same law, likelihood, hierarchy, prior families and
number of groups. The tests check the two things that could go wrong: the swapped-in data give
the log density of a model built on those data (to 1e-10 relative: both are the same float64
computation, only summation order may differ), and a refit on the reused compiled model draws
exactly what a freshly compiled one draws with the same seed.
"""

import dataclasses
import importlib
import sys

import numpy as np
import pymc as pm
import pytest

import bayescale as bs
from bayescale.build import OBS_DIM, build_model, encode, model_data, structure_key
from bayescale.simulate import simulate_runs

from .conftest import seed_for

fit_module = importlib.import_module("bayescale.fit")
POP = {"E": 2.0, "A": 50.0, "alpha": 0.3}


def _runs(sizes, seed, scale=1.0):
    sim = simulate_runs("power_law:C", population=POP, group_sizes=sizes, spreads={"E": 0.2},
                        ranges={"C": (1e17, 1e21)}, sigma=0.02, seed=seed)
    runs = sim.runs.copy()
    runs["loss"] *= scale
    return runs


def test_swapped_data_give_the_log_density_of_a_model_built_on_them():
    model = bs.Model("power_law:C", hierarchy={"E": "family"})
    a = _runs({"f0": 5, "f1": 6, "f2": 4}, seed=seed_for(1))
    # other runs, another count, other group names, a target 3x larger (other data-scaled priors)
    b = _runs({"g0": 7, "g1": 3, "g2": 8}, seed=seed_for(2), scale=3.0)
    da, db = encode(model, a), encode(model, b)
    assert structure_key(model, da) == structure_key(model, db)
    assert da.scale != db.scale and da.log_ref != db.log_ref
    reused = build_model(model, da)
    with reused:
        pm.set_data(model_data(model, db), coords={OBS_DIM: np.arange(db.n)})
    fresh = build_model(model, db)
    point = {k: v + 0.1 for k, v in fresh.initial_point().items()}
    assert reused.compile_logp()(point) == pytest.approx(fresh.compile_logp()(point),
                                                         rel=1e-10)
    # a different structure (one more group, another likelihood) gets another key
    c = _runs({"f0": 5, "f1": 6, "f2": 4, "f3": 5}, seed=seed_for(3))
    assert structure_key(model, encode(model, c)) != structure_key(model, da)
    normal = bs.Model("power_law:C", hierarchy={"E": "family"}, likelihood="normal")
    assert structure_key(normal, da) != structure_key(model, da)


def test_numpyro_program_takes_another_data_set_and_gives_its_log_density():
    """numpyro's programs have the data as inputs: the program jaxified from one model,
    given another data set of the same structure, evaluates that data set's model."""
    from bayescale.numpyro_nuts import build_program

    model = bs.Model("power_law:C", hierarchy={"E": "family"})
    a = _runs({"f0": 5, "f1": 6, "f2": 4}, seed=seed_for(1))
    b = _runs({"g0": 7, "g1": 3, "g2": 8}, seed=seed_for(2), scale=3.0)
    first, fresh = build_model(model, encode(model, a)), build_model(model, encode(model, b))
    program = build_program(first)
    # every number from the data or a prior is an input; only coordinate lengths are constants
    assert program.reusable
    assert {"observed", "log_C", "prior_log_E_mu"} <= set(program.data_names)
    point = {k: v + 0.1 for k, v in fresh.initial_point().items()}
    values = [point[n] for n in program.value_names]
    swapped = float(program.log_density(*values, *program.data_of(fresh))[0])
    assert swapped == pytest.approx(fresh.compile_logp()(point), rel=1e-10)
    # and not the first data set's value: the data really are inputs
    own = float(program.log_density(*values, *program.data_of(first))[0])
    assert own == pytest.approx(first.compile_logp()(point), rel=1e-10)
    assert abs(own - swapped) > 1.0


def _compile_cache(sampler: str) -> tuple[dict, dict, str]:
    """The cache of compiled models of ``sampler``, its counters and the 'new' counter."""
    from bayescale import numpyro_nuts

    if sampler == "nutpie":
        return fit_module._COMPILED, fit_module.compile_stats, "compiled"
    return numpyro_nuts._PROGRAMS, numpyro_nuts.program_stats, "built"


@pytest.mark.slow
@pytest.mark.parametrize(("sampler", "last_group"), [("nutpie", 8), ("numpyro", 5)])
def test_refit_on_the_reused_compiled_model_draws_what_a_fresh_compile_draws(sampler,
                                                                              last_group):
    """A second fit of the same structure reuses the first fit's compiled model (nutpie: any
    number of runs, here 18 after 15) or programs (numpyro: the same number of runs, 15, whose
    shapes XLA compiled for) and draws exactly what a freshly compiled one draws with the same
    seed on the same machine."""
    model = bs.Model("power_law:C", hierarchy={"E": "family"})
    first = _runs({"f0": 5, "f1": 6, "f2": 4}, seed=seed_for(1))
    second = _runs({"g0": 7, "g1": 3, "g2": last_group}, seed=seed_for(2), scale=3.0)
    kw = {"draws": 150, "tune": 300, "chains": 4, "seed": 5, "sampler": sampler, "refits": 0,
          "progressbar": False, "warn": False}
    cache, stats, new = _compile_cache(sampler)
    cache.clear()
    before = dict(stats)
    model.fit(first, **kw)
    reused = model.fit(second, **kw)
    assert stats[new] == before[new] + 1
    assert stats["reused"] == before["reused"] + 1
    cache.clear()
    fresh = model.fit(second, **kw)
    for name in ("E", "alpha", "E_by_family", "sigma"):
        np.testing.assert_array_equal(reused.posterior[name].values,
                                      fresh.posterior[name].values)
    # the group labels are those of the refitted data, not of the compiled model's
    assert list(reused.posterior["family"].values) == ["g0", "g1", "g2"]
    np.testing.assert_array_equal(reused.idata["observed_data"]["log_y"].values,
                                  np.log(second["loss"].to_numpy()))


@pytest.mark.slow
def test_a_collapsed_step_size_reruns_the_chains_vectorised(monkeypatch):
    """When the device-mapped program's adapted step size falls below the floor on a chain,
    the same chains (keys, starting points, kernel) run again vectorised on one device and
    that run is kept and labelled. The floor is raised here so that every run counts as
    collapsed; the kept draws equal those of a fit run vectorised from the start."""
    from bayescale import numpyro_nuts

    model = bs.Model("power_law:C", hierarchy={"E": "family"})
    runs = _runs({"f0": 5, "f1": 6, "f2": 4}, seed=seed_for(3))
    kw = {"draws": 100, "tune": 200, "chains": 4, "seed": 7, "refits": 0,
          "progressbar": False, "warn": False, "sampler": "numpyro"}
    assert fit_module.chain_method_for(4) == "parallel"
    assert not numpyro_nuts.step_size_collapsed(np.full((4, 3), 0.2))
    assert numpyro_nuts.step_size_collapsed(np.array([[0.2], [1e-15]]))
    monkeypatch.setattr(numpyro_nuts, "COLLAPSED_STEP_SIZE", np.inf)
    rerun = model.fit(runs, **kw)
    assert rerun.posterior.attrs["chain_method"] == "vectorized"
    monkeypatch.setattr(fit_module, "chain_method_for", lambda chains, runs=0: "vectorized")
    vectorised = model.fit(runs, **kw)
    assert vectorised.posterior.attrs["chain_method"] == "vectorized"
    for name in ("E", "alpha", "E_by_family"):
        np.testing.assert_array_equal(rerun.posterior[name].values,
                                      vectorised.posterior[name].values)


def test_auto_sampler_falls_back_to_what_is_installed(monkeypatch):
    """numpyro (dense mass matrix, parallel chains) first, then nutpie, then PyMC's own NUTS,
    which needs nothing beyond pymc and always works."""
    installed = {"numpyro", "nutpie"}
    monkeypatch.setattr(fit_module, "find_spec",
                        lambda name: object() if name in installed else None)
    assert fit_module.choose_sampler("auto") == "numpyro"
    installed.discard("numpyro")
    assert fit_module.choose_sampler("auto") == "nutpie"
    installed.discard("nutpie")
    assert fit_module.choose_sampler("auto") == "pymc"
    with pytest.raises(ImportError, match="nutpie"):
        fit_module.choose_sampler("nutpie")


def test_chain_method_follows_the_devices(monkeypatch):
    """Chains run in parallel over JAX devices (4 CPU devices are configured at the first JAX
    fit); with fewer devices than chains, e.g. one GPU, they are vectorised on that device."""
    import jax

    assert fit_module.chain_method_for(4) == "parallel"
    assert jax.local_device_count() >= 4
    monkeypatch.setattr(jax, "local_device_count", lambda: 1)
    assert fit_module.chain_method_for(4) == "vectorized"


def test_persistent_compilation_cache_is_on_and_can_be_turned_off(tmp_path):
    """Configured by bs.configure() (which the first JAX fit calls), never at import."""
    import os
    import subprocess

    code = ("import bayescale as bs, jax; print(jax.config.jax_compilation_cache_dir or '-'); "
            "bs.configure(); print(jax.config.jax_compilation_cache_dir or '-', "
            "jax.config.jax_persistent_cache_min_compile_time_secs)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                        env={**env, "BAYESCALE_CACHE_DIR": str(tmp_path)})
    assert on.stdout.split() == ["-", str(tmp_path / "jax"), "0.0"]
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**env, "BAYESCALE_JAX_CACHE": "0",
                                          "BAYESCALE_CACHE_DIR": str(tmp_path)})
    assert off.stdout.split()[:2] == ["-", "-"]


def test_compiled_programs_are_released_near_the_memory_map_limit(monkeypatch):
    """Each numpyro fit of a new structure keeps ~2,600 memory mappings of XLA executables;
    near the kernel's limit (vm.max_map_count) they are dropped, so a process fitting many
    structures does not crash inside XLA. Here the threshold is lowered to force it."""
    import jax

    from bayescale import numpyro_nuts

    use = numpyro_nuts.memory_map_use()
    if use is None:
        pytest.skip("no /proc: memory mappings are not counted on this system")
    jax.jit(lambda x: x * 2.0)(1.0)              # something compiled to release
    monkeypatch.setattr(numpyro_nuts, "MAP_SHARE_LIMIT", 1.0)
    assert not numpyro_nuts.release_compiled_programs()
    monkeypatch.setattr(numpyro_nuts, "MAP_SHARE_LIMIT", 0.0)
    assert numpyro_nuts.release_compiled_programs()
    assert numpyro_nuts.memory_map_use() <= use + 0.01


@pytest.mark.slow
def test_continued_chains_keep_their_draws_step_and_metric():
    """``continue_chains`` runs the chains on from their last states: the earlier draws come
    back unchanged, the new ones move, and the step size is the one warm-up adapted, constant
    over the new draws (no new adaptation; numpyro's dual averaging would change it every
    iteration). These hold for any trajectory. Both ways of running the chains."""
    from bayescale.numpyro_nuts import continue_chains, sample_numpyro

    model = bs.Model("power_law:C", hierarchy={"E": "family"})
    runs = _runs({"f0": 5, "f1": 6, "f2": 4}, seed=seed_for(11))
    pm_model = build_model(model, encode(model, runs))
    for chain_method in ("parallel", "vectorized"):
        first, end = sample_numpyro(pm_model, draws=30, tune=60, chains=2, seed=4,
                                    target_accept=0.9, dense=False, chain_method=chain_method,
                                    progressbar=False)
        both, joined = continue_chains(end, 20)
        assert both["posterior"].sizes["draw"] == 50 and joined.draws == 50
        np.testing.assert_array_equal(both["posterior"]["alpha"].values[:, :30],
                                      first["posterior"]["alpha"].values)
        step = both["sample_stats"]["step_size"].values
        assert np.all(step[:, 30:] == step[:, 29:30]), step
        new = both["posterior"]["alpha"].values[:, 30:]
        assert np.unique(new).size > 10    # the chains move on (not a copy of the last draw)


def test_draws_take_at_most_the_tree_depth_allows():
    """``max_tree_depth=d`` caps every draw at ``2**d - 1`` leapfrog steps, and draws that hit
    the cap are flagged in ``reached_max_treedepth`` (which the fit's diagnostics count).
    Depth 2 on a hierarchical posterior: NUTS' trees there grow deeper than 3 steps (the
    uncapped run shows it), so the cap binds on any trajectory."""
    from bayescale.numpyro_nuts import sample_numpyro

    model = bs.Model("power_law:C", hierarchy={"E": "family"})
    runs = _runs({"f0": 5, "f1": 6, "f2": 4}, seed=seed_for(12))
    pm_model = build_model(model, encode(model, runs))
    steps = {}
    for depth in (2, 10):
        idata, end = sample_numpyro(pm_model, draws=30, tune=60, chains=2, seed=5,
                                    target_accept=0.9, dense=False,
                                    chain_method="vectorized", progressbar=False,
                                    max_tree_depth=depth)
        stats = idata["sample_stats"]
        steps[depth] = stats["n_steps"].values
        assert steps[depth].max() <= 2**depth - 1
        np.testing.assert_array_equal(stats["reached_max_treedepth"].values,
                                      steps[depth] >= 2**depth - 1)
        assert end.settings.max_tree_depth == depth
    assert steps[10].max() > 3 and steps[2].max() == 3


def test_large_fits_run_their_chains_vectorised_on_the_cpu(monkeypatch):
    """Above ``PARALLEL_MAX_RUNS`` runs the chains run vectorised on one CPU device (chains in
    parallel over CPU devices grew the process by ~130 MB/s at 24,000 runs); below it, in
    parallel where there are enough devices."""
    import jax

    if jax.default_backend() != "cpu":
        pytest.skip("the rule is for CPU devices")
    limit = fit_module.PARALLEL_MAX_RUNS
    assert fit_module.chain_method_for(2, limit + 1) == "vectorized"
    expected = "parallel" if jax.local_device_count() >= 2 else "vectorized"
    assert fit_module.chain_method_for(2, limit) == expected
    assert fit_module.chain_method_for(2) == expected
    monkeypatch.setattr(fit_module, "PARALLEL_MAX_RUNS", 10)
    assert fit_module.chain_method_for(2, 11) == "vectorized"


@pytest.mark.slow
def test_a_warm_started_refit_starts_from_the_earlier_chains_and_keeps_their_metric():
    """``fit(warm_start=earlier)``: chains start where the earlier fit's ended and keep its
    adapted mass matrix through warm-up (the refit's own adapted matrix is exactly the one it
    was given: numpyro only changes it at the end of an adaptation window); a fit of another
    structure (another number of groups) ignores it and starts cold, and so does a refit
    attempt after a run with problems. Holds for any trajectory."""
    model = bs.Model("power_law:C", hierarchy={"E": "family"})
    kw = {"draws": 100, "tune": 200, "chains": 2, "refits": 0, "progressbar": False,
          "warn": False}
    first = model.fit(_runs({"f0": 5, "f1": 6, "f2": 4}, seed=seed_for(21)), seed=1, **kw)
    assert first.idata["posterior"].attrs["warm_start"] == 0
    assert isinstance(first.warm_start.inverse_mass_matrix, dict)   # the structured layout
    second = model.fit(_runs({"g0": 4, "g1": 7, "g2": 4}, seed=seed_for(22)), seed=2,
                       warm_start=first, **kw)
    assert second.idata["posterior"].attrs["warm_start"] == 1
    for block, matrix in first.warm_start.inverse_mass_matrix.items():
        np.testing.assert_array_equal(second.warm_start.inverse_mass_matrix[block], matrix)
    other = model.fit(_runs({"g0": 4, "g1": 7, "g2": 4, "g3": 5}, seed=seed_for(23)), seed=3,
                      warm_start=first, **kw)
    assert other.idata["posterior"].attrs["warm_start"] == 0
    # a refit attempt after problems (here: divergences reported for the first attempt)
    # starts cold, so a kept metric that suits these data less is not kept again
    report = fit_module.diagnostics_of
    calls = []

    def first_diverges(*args, **kwargs):
        d = report(*args, **kwargs)
        calls.append(d)
        return dataclasses.replace(d, divergences=10**6) if len(calls) == 1 else d

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fit_module, "diagnostics_of", first_diverges)
        retried = model.fit(_runs({"g0": 4, "g1": 7, "g2": 4}, seed=seed_for(22)), seed=2,
                            warm_start=first, **{**kw, "refits": 1})
    assert len(calls) == 2 and retried.diagnostics.refits == 1
    assert retried.idata["posterior"].attrs["warm_start"] == 0
    with pytest.raises(TypeError, match="warm_start must be a bayescale Fit"):
        model.fit(_runs({"f0": 5, "f1": 6, "f2": 4}, seed=seed_for(21)),
                  warm_start=first.idata, **kw)


@pytest.mark.slow
def test_a_warm_started_refit_draws_from_the_same_posterior_as_a_cold_one():
    """The same data fitted cold and warm-started (from a fit to other data of the same
    structure) agree: for the population parameters, the difference of posterior means over
    its Monte Carlo standard error, z = (m_warm - m_cold) / sqrt(mcse_warm^2 + mcse_cold^2),
    is within 4 (two-sided 6e-5 per parameter for a normal z; 3 parameters). Measured over
    ``BAYESCALE_TEST_SEED_OFFSET`` 1-10 (data and NUTS seeds): 10 of 10 passed, max |z|
    2.21."""
    from arviz_stats import mcse

    model = bs.Model("power_law:C", hierarchy={"E": "family"})
    kw = {"draws": 500, "tune": 500, "chains": 4, "refits": 0, "progressbar": False,
          "warn": False}
    earlier = model.fit(_runs({"f0": 5, "f1": 6, "f2": 4}, seed=seed_for(31)),
                        seed=seed_for(33), **kw)
    runs = _runs({"g0": 6, "g1": 5, "g2": 4}, seed=seed_for(32))
    cold = model.fit(runs, seed=seed_for(34), **kw)
    warm = model.fit(runs, seed=seed_for(35), warm_start=earlier, **kw)
    assert warm.idata["posterior"].attrs["warm_start"] == 1
    for name in ("E", "A", "alpha"):
        means = [float(f.posterior[name].mean()) for f in (cold, warm)]
        errors = [float(mcse(f.idata, var_names=[name], method="mean")[name])
                  for f in (cold, warm)]
        z = (means[1] - means[0]) / np.hypot(*errors)
        assert abs(z) < 4, (name, means, errors, z)
