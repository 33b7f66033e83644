"""Regression suite for the adversarial probes of "Trustworthy by default": every case asserts
a clear error, a warning, or that a file the user had is still there, unchanged."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayescale as bs
from bayescale import io as bsio
from bayescale.build import encode
from bayescale.cli import main

ROOT = Path(__file__).resolve().parents[1]


def small_runs(n_per=8, families=("a", "b"), seed=0):
    sim = bs.simulate.simulate_runs(
        "power_law:C", population={"E": 1.7, "A": 2e3, "alpha": 0.15},
        group_sizes={f: n_per for f in families}, spreads={"A": 0.2},
        ranges={"C": (1e17, 1e21)}, sigma=0.02, seed=seed)
    return sim.runs


@pytest.fixture(scope="module")
def small_fit():
    """A quick fit to reuse for file tests (its draws are not under test)."""
    model = bs.Model("power_law:C", hierarchy={"A": "family"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(small_runs(), draws=200, tune=200, chains=2, seed=1,
                         progressbar=False, refits=0)


# ---------------------------------------------------------------------------- nothing lost
def test_overwrite_never_deletes_a_folder_of_user_files(small_fit, tmp_path):
    folder = tmp_path / "results.zarr"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a bayescale fit"):
        small_fit.save(folder, overwrite=True)
    assert (folder / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match=r"\.nc .* or \.zarr"):
        small_fit.save(tmp_path / "..", overwrite=True)
    assert (folder / "notes.txt").exists()


def test_overwrite_never_replaces_a_user_file(small_fit, tmp_path):
    path = tmp_path / "data.nc"
    path.write_text("precious")
    with pytest.raises(FileExistsError, match="not a bayescale fit"):
        small_fit.save(path, overwrite=True)
    assert path.read_text() == "precious"


def test_cli_force_never_deletes_a_folder(tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    small_runs().to_csv(runs, index=False)
    folder = tmp_path / "out.zarr"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    code = main(["fit", str(runs), "--law", "power_law:C", "--out", str(folder), "--force",
                 "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "not a bayescale fit" in err and "Traceback" not in err
    assert (folder / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_replacing_a_fit_is_atomic_when_the_write_fails(small_fit, tmp_path, monkeypatch, suffix):
    path = tmp_path / f"fit{suffix}"
    small_fit.save(path)
    before = bs.load(path).posterior["log_E"].values.copy()
    method = "to_zarr" if suffix == ".zarr" else "to_netcdf"
    original = getattr(xr.DataTree, method)

    def crash(self, target, *args, **kwargs):
        original(self, target, *args, **kwargs)
        raise KeyboardInterrupt   # killed after writing, before replacing

    monkeypatch.setattr(xr.DataTree, method, crash)
    with pytest.raises(KeyboardInterrupt):
        small_fit.save(path, overwrite=True)
    monkeypatch.undo()
    np.testing.assert_array_equal(bs.load(path).posterior["log_E"].values, before)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]   # no temporary left


def test_zarr_store_restored_when_the_swap_fails(small_fit, tmp_path, monkeypatch):
    path = tmp_path / "fit.zarr"
    small_fit.save(path)
    real_rename = os.rename
    calls = []

    def rename(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:   # the old store is aside; moving the new one in fails
            raise OSError("disk full")
        return real_rename(src, dst)

    monkeypatch.setattr(bsio.os, "rename", rename)
    with pytest.raises(OSError, match="disk full"):
        small_fit.save(path, overwrite=True)
    monkeypatch.undo()
    assert bs.load(path).posterior.sizes["draw"] == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_two_saves_without_overwrite_cannot_both_succeed(small_fit, tmp_path, monkeypatch):
    """Another writer creates the file while this save is writing, or between this save's
    last check and its final step: this save fails and the other writer's file stays."""
    path = tmp_path / "fit.nc"
    original = xr.DataTree.to_netcdf

    def racing_writer(self, target, *args, **kwargs):
        original(self, target, *args, **kwargs)
        path.write_text("the other writer's fit")

    monkeypatch.setattr(xr.DataTree, "to_netcdf", racing_writer)
    with pytest.raises(FileExistsError, match="exists"):
        small_fit.save(path)
    assert path.read_text() == "the other writer's fit"
    monkeypatch.undo()
    path.unlink()

    checks = []
    check = bsio._check_replaceable

    def late_writer(target, *, overwrite):
        check(target, overwrite=overwrite)
        checks.append(target)
        if len(checks) == 2:   # the last check passed; the other writer is faster
            path.write_text("the other writer's fit")

    monkeypatch.setattr(bsio, "_check_replaceable", late_writer)
    with pytest.raises(FileExistsError, match="appeared while saving"):
        small_fit.save(path)
    assert path.read_text() == "the other writer's fit"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_overwrite_replaces_a_previous_fit(small_fit, tmp_path):
    for suffix in (".nc", ".zarr"):
        path = tmp_path / f"fit{suffix}"
        small_fit.save(path)
        with pytest.raises(FileExistsError, match="overwrite=True"):
            small_fit.save(path)
        small_fit.save(path, overwrite=True)
        assert bs.load(path).diagnostics == small_fit.diagnostics


def test_cli_checks_out_before_fitting(tmp_path, capsys, monkeypatch):
    runs = tmp_path / "runs.csv"
    small_runs().to_csv(runs, index=False)

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran although --out cannot be written")

    monkeypatch.setattr(bs.Model, "fit", no_fit)
    for out, message in ((tmp_path / "missing" / "f.nc", "does not exist"),
                         (tmp_path / "f.csv", ".nc")):
        assert main(["fit", str(runs), "--law", "power_law:C", "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
    if os.geteuid() != 0:   # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(["fit", str(runs), "--law", "power_law:C", "--out",
                     str(locked / "f.nc")]) == 2
        assert "not writable" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.5, 3.0, 10.0])
def test_ctrl_c_stops_a_cli_fit_promptly(tmp_path, delay):
    """SIGINT at any moment of a CLI fit (0.5 s: importing; 3 s: building and compiling;
    10 s: compiling or sampling, depending on the machine's load): exit status 130, one line,
    no traceback, no temporary files, long before the fit (2 x 200,000 draws, minutes) would
    end. The verdict does not depend on which phase the signal lands in. Measured: exit
    0.02-1.0 s after the signal, with three of these running at once beside a fit."""
    runs = tmp_path / "runs.csv"
    small_runs().to_csv(runs, index=False)
    out = tmp_path / "f.nc"
    # The child starts with Ctrl-C's default meaning, as from a terminal: a suite run as a
    # background job of a non-interactive shell inherits SIGINT ignored, which Python keeps.
    argv = ["bayescale", "fit", str(runs), "--law", "power_law:C", "--out", str(out),
            "--draws", "200000", "--chains", "2", "--no-progress"]
    start = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
             f" sys.argv = {argv!r}; runpy.run_module('bayescale.cli', run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", start], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        time.sleep(delay)
        assert proc.poll() is None, proc.communicate()
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        # a fit that ignored the signal must not run on for minutes after the test
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert time.monotonic() - sent < 30
    assert err == "bayescale: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


def test_import_is_light_and_public_names_resolve():
    """``import bayescale`` imports no numerical library (the CLI installs its Ctrl-C handling
    first); every public name resolves, and ``fit``/``predict``/``compare``/``sensitivity`` stay
    the functions after their modules are imported."""
    code = ("import sys, bayescale as bs; heavy = [m for m in ('numpy', 'pandas', 'pymc', 'jax', "
            "'matplotlib') if m in sys.modules]; assert not heavy, heavy; import bayescale.fit, "
            "bayescale.predict, bayescale.compare, bayescale.sensitivity; "
            "assert sorted(bs.__all__) == sorted(bs._EXPORTS); [getattr(bs, n) for n in "
            "bs.__all__]; assert all(callable(getattr(bs, n)) and type(getattr(bs, n)).__name__"
            " == 'function' for n in ('fit', 'predict', 'compare', 'sensitivity'));"
            "assert type(bs.fit).__name__ == 'function', bs.fit; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.stdout.strip() == "ok", proc.stderr


# ---------------------------------------------------------------------------- errors
def test_prior_rejects_unknown_arguments():
    with pytest.raises(ValueError, match=r"unknown argument 'mean' \(did you mean 'mu'\?\)"):
        bs.Prior("Normal", mean=5, sd=0.01)
    with pytest.raises(ValueError, match="missing required argument"):
        bs.Prior("StudentT", mu=0.0, sigma=1.0)
    assert str(bs.Prior("Normal", mu=5, sigma=0.01)) == "Normal(mu=5, sigma=0.01)"


def test_builtin_law_cannot_be_replaced():
    law = bs.law_from_function(lambda N, E: E + 0 * N, params={"E": "positive"},
                               name="chinchilla")
    with pytest.raises(ValueError, match="built-in law"):
        bs.register_law(law)
    assert bs.get_law("chinchilla").params.keys() >= {"A", "B"}


@pytest.mark.parametrize("kwargs, message", [
    ({"chains": 0}, "chains must be a whole number >= 1"),
    ({"draws": -5}, "draws must be a whole number >= 1"),
    ({"tune": 1.5}, "tune must be a whole number >= 0"),
    ({"target_accept": 1.5}, r"target_accept must be a number in \(0, 1\)"),
    ({"seed": -1}, "seed must be"),
    ({"refits": -1}, "refits must be"),
])
def test_sampler_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bs.Model("power_law:C").fit(small_runs(), **kwargs)


def test_group_labels_that_differ_only_in_type_are_refused():
    runs = small_runs(families=("1", "2"))
    runs["family"] = runs["family"].astype(object)
    runs.loc[0, "family"] = 1   # the integer 1 next to the string "1"
    with pytest.raises(bs.DataError, match=r"differ only in type.*'1'"):
        encode(bs.Model("power_law:C", hierarchy={"A": "family"}), runs)


def test_csv_group_labels_keep_their_identity(tmp_path):
    from bayescale.cli import _read_csv

    runs = small_runs(families=("1.1", "1.10"))
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    assert pd.read_csv(path)["family"].nunique() == 1   # what a plain read_csv does
    frame = _read_csv(str(path), ["family"])
    design = encode(bs.Model("power_law:C", hierarchy={"A": "family"}), frame)
    assert design.levels["family"] == ("1.1", "1.10")


@pytest.mark.parametrize("trials, message", [
    (100.5, "whole numbers of items"),
    (0, "must be > 0"),
    (1e12, "at most"),
])
def test_trials_must_be_item_counts(trials, message):
    runs = pd.DataFrame({"C": [1e20, 1e21, 1e22, 1e23], "accuracy": [0.3, 0.4, 0.5, 0.6],
                         "trials": [100, 100, 100, trials]})
    model = bs.Model("sigmoid_accuracy:C", likelihood="binomial", target="accuracy",
                     fixed={"floor": 0.25})
    with pytest.raises(bs.DataError, match=f"column 'trials'.*{message}"):
        encode(model, runs)


def test_more_successes_than_trials_is_refused():
    runs = pd.DataFrame({"C": [1e20, 1e21, 1e22, 1e23, 1e24], "accuracy": [0.3, 0.4, 0.5, 1.2, 0.7],
                         "trials": [100] * 5})
    model = bs.Model("sigmoid_accuracy:C", likelihood="binomial", target="accuracy",
                     fixed={"floor": 0.25})
    with pytest.raises(bs.DataError, match=r"column 'accuracy'.*\[0, 1\].*row 3: 1.2"):
        encode(model, runs)


def test_duplicate_rows_are_reported():
    runs = small_runs()
    runs = pd.concat([runs, runs.iloc[[2, 5]]], ignore_index=True)
    with pytest.warns(bs.DataWarning, match=r"2 run\(s\) repeat an earlier run.*rows 16, 17"):
        encode(bs.Model("power_law:C", hierarchy={"A": "family"}), runs)


def test_inputs_that_move_together_are_reported():
    """A sweep at a fixed number of tokens per parameter (D = 20 N, as in datablations'
    repetition runs) cannot tell N's term from D's: a warning names both inputs."""
    n = np.geomspace(1e8, 1e10, 12)
    runs = pd.DataFrame({"N": n, "D": 20 * n, "loss": 1.8 + 400 * n ** -0.34})
    with pytest.warns(bs.DataWarning, match=r"inputs 'N' and 'D' move together.*1\.000"):
        encode(bs.Model("chinchilla"), runs)
    runs["D"] = 20 * n * np.resize([0.25, 4.0, 1.0], len(n))   # 3 budgets per size: apart
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.DataWarning)
        encode(bs.Model("chinchilla"), runs)


def test_units_mix_up_is_reported(small_fit):
    with pytest.warns(bs.DataWarning, match="decades below the smallest C"):
        small_fit.predict({"C": [6.0], "family": ["a"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.DataWarning)
        small_fit.predict({"C": [1e23], "family": ["a"]})   # 2 decades out: a forecast


def test_grouping_column_named_run(tmp_path):
    """A grouping column may be called 'run' (Gemstones has one): no clash with the runs'
    own dimension."""
    runs = small_runs().rename(columns={"family": "run"})
    model = bs.Model("power_law:C", hierarchy={"A": "run"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(runs, draws=100, tune=100, chains=2, seed=3, progressbar=False)
    assert list(fit.posterior["run"].values) == ["a", "b"]


@pytest.mark.slow
def test_nested_hierarchy_fits_saves_and_loads(tmp_path):
    runs = small_runs(n_per=12)
    runs["size"] = np.where(runs["C"] > 1e19, "big", "small")
    model = bs.Model("power_law:C", hierarchy={"A": "family/size"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(runs, draws=200, tune=200, chains=2, seed=4, progressbar=False)
    assert "A_by_family:size" in fit.posterior
    fit.save(tmp_path / "nested.nc")
    loaded = bs.load(tmp_path / "nested.nc")
    new = {"C": [1e20], "family": ["a"], "size": ["big"]}
    pd.testing.assert_frame_equal(fit.predict(new, seed=1), loaded.predict(new, seed=1))


# ---------------------------------------------------------------------------- files checked
def test_load_refuses_another_law_with_the_same_parameter_names(small_fit, tmp_path):
    path = small_fit.save(tmp_path / "fit.nc")
    other = bs.law_from_function(lambda C, E, A, alpha: E + A * C ** (-2 * alpha),
                                 params={"E": "positive", "A": "positive",
                                         "alpha": "positive"}, name="power_law")
    with pytest.raises(bsio.FitFileError, match="computes other values"):
        bs.load(path, law=other)


def _rewrite_meta(path: Path, change) -> None:
    import h5py

    with h5py.File(path, "r+") as handle:
        meta = json.loads(handle.attrs["bayescale"])
        change(meta)
        handle.attrs["bayescale"] = json.dumps(meta)


def test_load_refuses_reordered_group_levels(small_fit, tmp_path):
    path = small_fit.save(tmp_path / "fit.nc")
    _rewrite_meta(path, lambda meta: meta["levels"]["family"].reverse())
    with pytest.raises(bsio.FitFileError, match="disagree with the posterior's coordinates"):
        bs.load(path)


def test_load_refuses_a_file_without_metadata_or_groups(small_fit, tmp_path):
    path = small_fit.save(tmp_path / "fit.nc")
    _rewrite_meta(path, lambda meta: meta.pop("levels"))
    with pytest.raises(bsio.FitFileError, match="lacks"):
        bs.load(path)
    other = tmp_path / "other.nc"
    xr.DataTree.from_dict({"posterior": xr.Dataset({"x": ("d", [1.0])})}).to_netcdf(
        other, engine="h5netcdf")
    with pytest.raises(bsio.FitFileError, match="not a bayescale fit"):
        bs.load(other)


def test_load_refuses_a_file_declaring_huge_arrays(tmp_path):
    """112 KB on disk, 16 GiB declared: refused from the metadata, nothing read."""
    import h5py

    path = tmp_path / "bomb.nc"
    with h5py.File(path, "w") as handle:
        handle.attrs["bayescale"] = json.dumps({"model": {}})
        group = handle.create_group("posterior")
        group.create_dataset("x", shape=(2**31,), dtype="f8", chunks=(2**20,),
                             compression="gzip")
    assert path.stat().st_size < 1_000_000
    with pytest.raises(bsio.FitFileError, match="declares 16.0 GiB"):
        bs.load(path)


# ---------------------------------------------------------------------------- the CLI
@pytest.mark.parametrize("error", [OSError("device not ready"), TypeError("bad type"),
                                   MemoryError(), RuntimeError("sampler crashed")])
def test_cli_reports_every_error_in_one_line(tmp_path, capsys, monkeypatch, error):
    runs = tmp_path / "runs.csv"
    small_runs().to_csv(runs, index=False)

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(bs.Model, "fit", fail)
    code = main(["fit", str(runs), "--law", "power_law:C", "--out", str(tmp_path / "f.nc")])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("bayescale: error:"), err
    assert "Traceback" not in err


def test_cli_reports_a_folder_given_as_csv(tmp_path, capsys):
    assert main(["fit", str(tmp_path), "--out", str(tmp_path / "f.nc")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_summary_json_is_strict(small_fit, tmp_path, capsys):
    path = small_fit.save(tmp_path / "fit.nc")
    assert main(["summary", str(path), "--json"]) == 0
    out = capsys.readouterr().out

    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    parsed = json.loads(out, parse_constant=refuse)
    assert parsed["diagnostics"]["target_accept"] == pytest.approx(0.9)


# ---------------------------------------------------------------------------- import
def test_import_changes_no_process_setting():
    code = ("import os, sys; before = dict(os.environ); import bayescale; "
            "print(dict(os.environ) == before, 'jax' in sys.modules, "
            "'matplotlib' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env, cwd=ROOT).stdout.split()
    assert out == ["True", "False", "False"]


def test_jax_cache_setting_reaches_child_processes(tmp_path):
    """BAYESCALE_JAX_CACHE=0 holds in a child process started after a parent configured JAX
    (the setting is read, never written into the environment)."""
    code = ("import os, subprocess, sys; import bayescale as bs; bs.configure(); "
            "child = 'import bayescale as bs, jax; bs.configure(); "
            "print(jax.config.jax_compilation_cache_dir)'; "
            "env = dict(os.environ, BAYESCALE_JAX_CACHE='0'); "
            "print(subprocess.run([sys.executable, '-c', child], env=env, text=True, "
            "capture_output=True).stdout.strip())")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    env["BAYESCALE_CACHE_DIR"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env, cwd=ROOT).stdout.strip()
    assert out == "None"


# ---------------------------------------------------------------------------- memory
@pytest.mark.slow
def test_predictions_run_in_bounded_memory(small_fit):
    """60,000 rows x 4,000 draws: the curve's and the observations' draws alone would take
    1.9 GB each, 3.8 GB together, above the 2 GB bound; the summary is computed in chunks of
    rows, with a measured peak far below it. (200,000 rows proved the same at 3.3x the time.)"""
    import tracemalloc

    post = small_fit.posterior
    tiled = xr.concat([post] * 5, dim="draw").assign_coords(draw=np.arange(1000))
    tiled = xr.concat([tiled] * 2, dim="chain").assign_coords(chain=np.arange(4))
    big = bs.Fit(model=small_fit.model, idata=xr.DataTree.from_dict({"posterior": tiled}),
                 levels=small_fit.levels, log_ref=small_fit.log_ref, scale=small_fit.scale,
                 diagnostics=small_fit.diagnostics, log_range=small_fit.log_range)
    n = 60_000
    rows = pd.DataFrame({"C": np.geomspace(1e17, 1e22, n),
                         "family": np.where(np.arange(n) % 2, "a", "b")})
    tracemalloc.start()
    try:
        table = big.predict(rows, ci_prob=0.9, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(table) == n and table["curve_median"].notna().all()
    assert 2 * n * 4000 * 8 > 2 * 2**30 > peak, f"peak {peak / 2**30:.2f} GiB"


# ---------------------------------------------------------------------------- automatic refits
def _scripted_fit(monkeypatch, verdicts, refits=2, centred=None, continuable=True):
    """Fit with the sampler's verdicts ``[(divergences, max R-hat), ...]`` scripted (this
    tests the refit logic, not NUTS), and the centring chosen from each run's draws
    (``centred``: one flag per refit for the model's one set of group effects; default:
    non-centred, the starting choice, every time); ``continuable=False``: runs return no
    chain ends, as nutpie's and PyMC's do. Returns the fit and each run's sampler settings
    (``max_tree_depth`` where one was given; ``{"continued": n}`` for chains continued by n
    draws)."""
    import dataclasses

    fit_module = importlib.import_module("bayescale.fit")
    scripted = iter(verdicts)
    chosen = iter(centred if centred is not None else [False] * (refits + 1))
    runs: list[dict] = []
    real_run, real_diagnostics = fit_module._run_nuts, fit_module.diagnostics_of
    real_continue = fit_module.continue_chains

    def run_nuts(*args, **kwargs):
        runs.append({k: kwargs[k] for k in ("draws", "tune", "target_accept", "max_tree_depth")
                     if k in kwargs})
        idata, end = real_run(*args, **kwargs)
        return idata, end if continuable else None

    def continue_chains(end, draws):
        runs.append({"continued": draws})
        return real_continue(end, draws)

    def diagnostics(idata, backend, seconds, named=()):
        divergences, rhat = next(scripted)
        return dataclasses.replace(real_diagnostics(idata, backend, seconds, named),
                                   divergences=divergences, max_rhat=rhat)

    def centring_from_draws(model, design, posterior):
        return {key: dict.fromkeys(cols, next(chosen))
                for key, cols in fit_module.default_centring(model, design).items()}

    monkeypatch.setattr(fit_module, "_run_nuts", run_nuts)
    monkeypatch.setattr(fit_module, "continue_chains", continue_chains)
    monkeypatch.setattr(fit_module, "diagnostics_of", diagnostics)
    monkeypatch.setattr(fit_module, "centring_from_draws", centring_from_draws)
    model = bs.Model("power_law:C", hierarchy={"A": "family"})
    result = model.fit(small_runs(), draws=40, tune=40, chains=2, seed=1, progressbar=False,
                       warn=False, refits=refits)
    return result, runs


def test_refits_escalate_and_keep_the_attempt_with_fewest_problems(monkeypatch):
    """Attempt 1 diverges, attempt 2 mixes slowly, attempt 3 diverges again. Expected:
    target_accept 0.9, then 0.975 (the divergences shrink the step), then 0.975 again (slow
    mixing without divergences keeps the step: a smaller one covers less ground per draw);
    the slow-mixing attempt's chains are continued to twice their draws (no new warm-up),
    thinned back to the requested draws; attempt 2 is kept and every attempt is in the
    history."""
    result, runs = _scripted_fit(monkeypatch, [(7, 1.02), (0, 1.05), (3, 1.004)])
    assert runs[:2] == [{"draws": 40, "tune": 40, "target_accept": 0.9},
                        {"draws": 40, "tune": 40, "target_accept": pytest.approx(0.975)}]
    assert runs[2:] == [{"continued": 40}]
    d = result.diagnostics
    assert (d.divergences, d.max_rhat, d.refits, d.target_accept) == (0, 1.05, 2, 0.975)
    assert len(d.history) == 3 and d.history[-1].endswith("kept attempt 2")
    assert "attempt 2's chains continued to 80 draws per chain" in d.history[-1]
    assert result.posterior.sizes["draw"] == 40
    assert "1.050" in d.history[1] and "7 divergences" in d.history[0]


def test_without_chain_ends_slow_mixing_reruns_twice_as_long(monkeypatch):
    """With a sampler whose chains cannot be continued (nutpie, PyMC), slow mixing in the same
    centring runs the fit again with twice the warm-up and twice the draws."""
    result, runs = _scripted_fit(monkeypatch, [(0, 1.03), (0, 1.0)], continuable=False)
    assert [(r["tune"], r["draws"]) for r in runs] == [(40, 40), (80, 80)]
    assert result.diagnostics.refits == 1 and result.posterior.sizes["draw"] == 40


def test_refits_stop_when_a_longer_run_mixes_no_better(monkeypatch):
    """Attempt 1 mixes slowly (R-hat 1.03), its chains continued to twice the draws mix worse
    (1.04): a third, four times longer run is not started (on weakly identified real data,
    e.g. RNSL's BIG-bench curves, it cost 4x the time and did not help), attempt 1 is kept."""
    result, runs = _scripted_fit(monkeypatch, [(0, 1.03), (0, 1.04), (0, 1.0)])
    assert runs == [{"draws": 40, "tune": 40, "target_accept": pytest.approx(0.9)},
                    {"continued": 40}]
    d = result.diagnostics
    assert (d.max_rhat, d.refits) == (1.03, 1)
    assert d.history[-1].endswith("kept attempt 1")


def test_a_refit_in_a_new_centring_runs_the_same_length(monkeypatch):
    """Attempt 1 mixes slowly non-centred and its draws call for centred effects: attempt 2
    is a new geometry, so a new run of the requested length; when attempt 2, in the same
    centring as chosen next, mixes slowly too, attempt 3 continues its chains."""
    result, runs = _scripted_fit(monkeypatch, [(0, 1.03), (0, 1.02), (0, 1.0)],
                                 centred=[True, True])
    assert [(r.get("tune"), r.get("draws"), r.get("continued")) for r in runs] == [
        (40, 40, None), (40, 40, None), (None, None, 40)]
    assert result.centring == {"A": {"family": True}}
    assert "0 of 1 sets of group effects centred" in result.diagnostics.history[0]
    assert "1 of 1 sets of group effects centred" in result.diagnostics.history[1]


def test_a_large_fit_chooses_its_centring_from_a_pilot(monkeypatch):
    """A hierarchical fit of at least ``PILOT_MIN_RUNS`` runs (lowered here to the test's 16)
    with its centring open runs a short pilot first and starts from the centring chosen
    from the pilot's draws (trees at most ``PILOT_MAX_TREE_DEPTH`` deep); ``Model(centered=...)``
    given, or fewer runs, runs no pilot."""
    fit_module = importlib.import_module("bayescale.fit")
    monkeypatch.setattr(fit_module, "PILOT_MIN_RUNS", len(small_runs()))
    monkeypatch.setattr(fit_module, "PILOT_TUNE", 20)
    monkeypatch.setattr(fit_module, "PILOT_DRAWS", 10)
    result, runs = _scripted_fit(monkeypatch, [(0, 1.0)], centred=[True])
    assert [(r["tune"], r["draws"]) for r in runs] == [(20, 10), (40, 40)]
    # the pilot's trees are capped; the fit's are not
    assert [r.get("max_tree_depth") for r in runs] == [fit_module.PILOT_MAX_TREE_DEPTH, None]
    assert result.centring == {"A": {"family": True}}
    steps = 2**fit_module.PILOT_MAX_TREE_DEPTH - 1
    assert result.diagnostics.history[0].startswith(
        f"pilot: 20 warm-up + 10 draws per chain, at most {steps} leapfrog steps per draw")
    assert result.diagnostics.history[0].endswith("chose 1 of 1 sets of group effects centred")
    assert result.diagnostics.refits == 0
    design = fit_module.encode(result.model, small_runs())
    opened = fit_module.default_centring(result.model, design)
    assert fit_module._pilot_wanted(result.model, design, opened, tune=40, draws=40)
    given = bs.Model("power_law:C", hierarchy={"A": "family"}, centered=False)
    assert not fit_module._pilot_wanted(given, design, opened, tune=40, draws=40)
    monkeypatch.setattr(fit_module, "PILOT_MIN_RUNS", len(small_runs()) + 1)
    assert not fit_module._pilot_wanted(result.model, design, opened, tune=40, draws=40)


def test_slow_mixing_names_the_slowest_variables():
    """The R-hat problem names the model variables that mix worst (not the sampler's own
    coordinates), so a user knows which parameter the data leave unidentified."""
    fit_module = importlib.import_module("bayescale.fit")
    d = fit_module.Diagnostics(divergences=0, max_rhat=1.2, min_ess_bulk=900, min_ess_tail=900,
                           chains=4, draws=1000, sampler="numpyro", sampling_seconds=1.0,
                           slowest=("alpha_by_curve", "E_by_curve"))
    assert any("slowest: alpha_by_curve, E_by_curve" in p for p in d.problems())
    tree = bs.Model("power_law:C").fit(small_runs().drop(columns="family"), draws=30,
                                       tune=30, chains=2, seed=3, progressbar=False,
                                       warn=False, refits=0)
    named = bs.Model("power_law:C").variable_names()
    scrambled = tree.idata.copy()
    post = scrambled["posterior"].to_dataset()
    post["alpha"] = post["alpha"] + 10 * post["chain"]      # chains disagree on alpha
    post["sampler_coordinate"] = 100.0 * post["chain"] + post["log_A_ref"]  # and on this
    scrambled["posterior"] = xr.DataTree(post)
    worst = fit_module.diagnostics_of(scrambled, "numpyro", 0.0, named=named)
    assert worst.slowest[0] == "alpha" and "sampler_coordinate" not in worst.slowest
    # Shifted by 10 per chain, the two chains' alpha draws do not overlap (alpha's draws span
    # well under 10), and the rank-normalised split R-hat of two non-overlapping chains of 30
    # draws is at least 1.80 whatever the order of draws within each chain (2,000 random and
    # sorted orders; it saturates: 1.83 at 1,000 draws). The bound does not depend on the
    # fit's trajectory, unlike the other variables' R-hat in a 30-draw fit.
    assert worst.max_rhat > 1.5


def test_trajectory_length_limit_is_reported_with_slow_mixing():
    """Diagnostics count the draws whose NUTS trajectory hit the tree-depth limit (numpyro
    records it per draw); with slow mixing, the problems say so (the reason for the ridge);
    alone, it is not a problem (Stan's view: an efficiency, not a validity, concern)."""
    fit_module = importlib.import_module("bayescale.fit")
    tree = bs.Model("power_law:C").fit(small_runs().drop(columns="family"), draws=30, tune=30,
                                       chains=2, seed=3, progressbar=False, warn=False,
                                       refits=0)
    stats = tree.idata["sample_stats"]
    hit = np.asarray(stats["n_steps"]) >= 2**10 - 1
    np.testing.assert_array_equal(np.asarray(stats["reached_max_treedepth"]), hit)
    assert tree.diagnostics.max_depth_share == pytest.approx(hit.mean())
    common = dict(divergences=0, min_ess_bulk=900, min_ess_tail=900, chains=4, draws=1000,
                  sampler="numpyro", sampling_seconds=1.0, max_depth_share=0.99)
    slow = fit_module.Diagnostics(max_rhat=1.03, **common)
    assert any("trajectory-length limit on 99% of draws" in p for p in slow.problems())
    assert fit_module.Diagnostics(max_rhat=1.001, **common).ok
