"""The adversarial probes of issue "Trustworthy by default", as a before/after table.

    python benchmarks/robustness_probes.py [--out FILE]

Each probe tries one bad input or risky file operation through the public API or the CLI and
classifies what happened: ``clear error`` (an exception or CLI line naming the problem, or a
warning where the input is usable), ``ok`` (the right behaviour, e.g. a file kept), ``DATA LOST``,
``SILENTLY WRONG`` or ``TRACEBACK``. Run it with ``PYTHONPATH`` pointing at an older tree to
get the "before" column. It only uses names that exist in both trees (or reports their absence).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayescale as bs


def small_runs(families=("a", "b"), n=8):
    return bs.simulate.simulate_runs(
        "power_law:C", population={"E": 1.7, "A": 2e3, "alpha": 0.15},
        group_sizes={f: n for f in families}, spreads={"A": 0.2},
        ranges={"C": (1e17, 1e21)}, sigma=0.02, seed=0).runs


_FIT = {}


def small_fit():
    if "fit" not in _FIT:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FIT["fit"] = bs.Model("power_law:C", hierarchy={"A": "family"}).fit(
                small_runs(), draws=100, tune=100, chains=2, seed=1, progressbar=False)
    return _FIT["fit"]


def cli(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "bayescale.cli", *args], capture_output=True,
                          text=True, cwd=cwd, check=False, timeout=900)
    return proc.returncode, proc.stderr


def cli_outcome(code, err, expect=""):
    if "Traceback" in err:
        return f"TRACEBACK ({err.strip().splitlines()[-1][:80]})"
    if code == 0:
        return "SILENTLY WRONG (exit 0)"
    return "clear error" if (not expect or expect in err) else f"error: {err.strip()[:80]}"


def raises(fn, *, clear=(ValueError, KeyError, FileExistsError, FileNotFoundError)):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fn()
    except clear as err:
        return f"clear error ({type(err).__name__})"
    except Warning as w:
        return f"clear error (warning {type(w).__name__})"
    except Exception as err:  # noqa: BLE001
        return f"TRACEBACK ({type(err).__name__}: {str(err)[:60]})"
    return "SILENTLY WRONG (accepted)"


def error_naming(fn, word, *, clear, ok, accepted):
    """``ok`` when ``fn`` raises one of ``clear`` whose message contains ``word``; what went
    wrong otherwise (``accepted`` when it raised nothing)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except MemoryError:
        return "CRASH (MemoryError)"
    except clear as err:
        return ok if word in str(err) else f"error: {type(err).__name__}: {str(err)[:60]}"
    return accepted


# ---------------------------------------------------------------------------- probes
def probe_save_overwrite_user_folder(tmp):
    folder = tmp / "mine.zarr"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    with contextlib.suppress(Exception):
        small_fit().save(folder, overwrite=True)
    return "ok (folder kept)" if (folder / "notes.txt").exists() else "DATA LOST"


def probe_save_overwrite_parent(tmp):
    inner = tmp / "inner"
    inner.mkdir()
    (tmp / "keep.txt").write_text("x")
    with contextlib.suppress(Exception):
        small_fit().save(inner / "..", overwrite=True)
    return "ok (folder kept)" if (tmp / "keep.txt").exists() else "DATA LOST"


def probe_cli_force_folder(tmp):
    runs = tmp / "runs.csv"
    small_runs().to_csv(runs, index=False)
    folder = tmp / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("x")
    code, err = cli("fit", str(runs), "--law", "power_law:C", "--out", str(folder), "--force",
                    "--draws", "50", "--tune", "50", "--no-progress")
    if not (folder / "keep.txt").exists():
        return "DATA LOST"
    return cli_outcome(code, err)


def probe_save_crash_keeps_old(tmp):
    import xarray as xr

    path = tmp / "fit.nc"
    small_fit().save(path)
    original = xr.DataTree.to_netcdf

    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt

    xr.DataTree.to_netcdf = crash
    try:
        small_fit().save(path, overwrite=True)
    except BaseException:  # noqa: BLE001
        pass
    finally:
        xr.DataTree.to_netcdf = original
    try:
        bs.load(path)
    except Exception:  # noqa: BLE001
        return "DATA LOST (old fit unreadable)"
    return "ok (old fit kept)"


def probe_zarr_kill_between(tmp):
    """The old store must survive a failure after it was moved or removed."""
    path = tmp / "fit.zarr"
    small_fit().save(path)
    real_rename, real_rmtree, path_rename = os.rename, shutil.rmtree, Path.rename
    state = {"n": 0}

    def failing_rename(src, dst):
        state["n"] += 1
        if state["n"] >= 2 or Path(src).suffix == ".partial":
            raise OSError("killed")
        return real_rename(src, dst)

    os.rename = failing_rename
    Path.rename = lambda self, target: failing_rename(self, target)
    try:
        small_fit().save(path, overwrite=True)
    except BaseException:  # noqa: BLE001
        pass
    finally:
        os.rename = real_rename
        Path.rename = path_rename
        shutil.rmtree = real_rmtree
    try:
        bs.load(path)
    except Exception as err:  # noqa: BLE001
        aside = [p for p in tmp.iterdir() if p.name.endswith(".bayescale-old")]
        if aside and str(aside[0]) in str(err):
            bs.load(aside[0])
            return "ok (old store kept aside; load names it)"
        return "DATA LOST (store unloadable)"
    return "ok (old store kept)"


def probe_staggered_saves(tmp):
    """Two saves without overwrite, the second starting while the first writes."""
    import xarray as xr

    path = tmp / "fit.nc"
    original = xr.DataTree.to_netcdf
    results = []

    def slow(self, target, *args, **kwargs):
        original(self, target, *args, **kwargs)
        if not results:
            results.append("inner")
            try:
                small_fit().save(path)
                results.append("second ok")
            except Exception as err:  # noqa: BLE001
                results.append(type(err).__name__)

    xr.DataTree.to_netcdf = slow
    try:
        small_fit().save(path)
        results.append("first ok")
    except Exception as err:  # noqa: BLE001
        results.append(type(err).__name__)
    finally:
        xr.DataTree.to_netcdf = original
    if "second ok" in results and "first ok" in results:
        return "SILENTLY WRONG (both reported success)" + (
            "" if path.exists() else "; DATA LOST (nothing on disk)")
    return "ok (one refused)"


def probe_prior_misspelt(tmp):
    try:
        prior = bs.Prior("Normal", mean=5, sd=0.01)
    except (ValueError, TypeError) as err:
        return f"clear error ({type(err).__name__})"
    model = bs.Model("power_law:C", priors={"log_alpha": prior} if False else {"alpha": prior})
    import pymc as pm

    from bayescale.build import build_model, encode

    pm_model = build_model(model, encode(model, small_runs()))
    draws = pm.draw(pm_model["log_alpha"], draws=2000, random_seed=1)
    return "SILENTLY WRONG (sampled Normal(0, 1))" if abs(np.mean(draws) - 5) > 1 else "ok"


def probe_nested_hierarchy(tmp):
    runs = small_runs(n=12)
    runs["size"] = np.where(runs["C"] > 1e19, "big", "small")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bs.Model("power_law:C", hierarchy={"A": "family/size"}).fit(
                runs, draws=50, tune=50, chains=2, seed=1, progressbar=False)
            fit.save(tmp / "nested.nc")
            bs.load(tmp / "nested.nc")
    except Exception as err:  # noqa: BLE001
        return f"TRACEBACK ({type(err).__name__}: {str(err)[:60]})"
    return "ok (fits, saves, loads)"


def probe_ctrl_c(tmp):
    import signal
    import time

    runs = tmp / "runs.csv"
    small_runs().to_csv(runs, index=False)
    proc = subprocess.Popen([sys.executable, "-m", "bayescale.cli", "fit", str(runs), "--law",
                             "power_law:C", "--out", str(tmp / "f.nc"), "--draws", "200000",
                             "--chains", "2", "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(12)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        return "NOT STOPPED within 120 s"
    waited = time.monotonic() - sent
    if "Traceback" in err or proc.returncode != 130:
        return f"TRACEBACK/exit {proc.returncode} after {waited:.0f} s"
    return f"ok (exit 130 after {waited:.1f} s)"


def probe_cli_error_kinds(tmp):
    """A folder as CSV, a CSV without the target, a binary file."""
    out = []
    code, err = cli("fit", str(tmp), "--out", str(tmp / "f.nc"))
    out.append(cli_outcome(code, err))
    binary = tmp / "bin.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    code, err = cli("fit", str(binary), "--out", str(tmp / "g.nc"))
    out.append(cli_outcome(code, err))
    code, err = cli("summary", str(binary))
    out.append(cli_outcome(code, err))
    bad = [o for o in out if not o.startswith("clear")]
    return bad[0] if bad else "clear error (3 of 3)"


def probe_out_unwritable(tmp):
    import time

    runs = tmp / "runs.csv"
    small_runs().to_csv(runs, index=False)
    start = time.monotonic()
    code, err = cli("fit", str(runs), "--law", "power_law:C", "--out",
                    str(tmp / "missing" / "f.nc"), "--no-progress")
    took = time.monotonic() - start
    outcome = cli_outcome(code, err)
    return f"{outcome} after {took:.0f} s" + (" (after the fit)" if "No such file" in err
                                               or took > 20 else "")


def probe_predict_memory(tmp):
    """Peak traced memory of predict's summary, 20,000 rows x 4,000 draws."""
    import tracemalloc

    import xarray as xr

    fit = small_fit()
    post = fit.posterior
    tiled = xr.concat([post] * 20, dim="draw").assign_coords(draw=np.arange(2000))
    tiled = xr.concat([tiled] * 2, dim="chain").assign_coords(chain=np.arange(4))
    big = bs.Fit(model=fit.model, idata=xr.DataTree.from_dict({"posterior": tiled}),
                 levels=fit.levels, log_ref=fit.log_ref, scale=fit.scale,
                 diagnostics=fit.diagnostics)
    rows = pd.DataFrame({"C": np.geomspace(1e17, 1e22, 20_000), "family": "a"})
    tracemalloc.start()
    try:
        big.predict(rows, ci_prob=0.9, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return f"peak {peak / 2**30:.2f} GiB for 20,000 rows x 4,000 draws"


def probe_load_huge(tmp):
    import h5py

    path = tmp / "bomb.nc"
    with h5py.File(path, "w") as handle:
        handle.attrs["bayescale"] = json.dumps({"model": {}})
        handle.create_group("posterior").create_dataset(
            "x", shape=(2**31,), dtype="f8", chunks=(2**20,), compression="gzip")
    return error_naming(lambda: bs.load(path), "declares", clear=(ValueError, KeyError, OSError),
                        ok="clear error (size bound)", accepted="SILENTLY WRONG (loaded)")


def probe_load_other_law(tmp):
    path = tmp / "fit.nc"
    small_fit().save(path)
    other = bs.law_from_function(lambda C, E, A, alpha: E + A * C ** (-2 * alpha),
                                 params={"E": "positive", "A": "positive", "alpha": "positive"},
                                 name="power_law")
    return raises(lambda: bs.load(path, law=other))


def probe_load_reordered_levels(tmp):
    import h5py

    path = tmp / "fit.nc"
    small_fit().save(path)
    with h5py.File(path, "r+") as handle:
        meta = json.loads(handle.attrs["bayescale"])
        meta["levels"]["family"].reverse()
        handle.attrs["bayescale"] = json.dumps(meta)
    return raises(lambda: bs.load(path))


def probe_labels_int_and_str(tmp):
    from bayescale.build import encode

    runs = small_runs(families=("1", "2"))
    runs["family"] = runs["family"].astype(object)
    runs.loc[0, "family"] = 1
    model = bs.Model("power_law:C", hierarchy={"A": "family"})

    def go():
        design = encode(model, runs)
        if len(design.levels["family"]) == 2:
            raise AssertionError("merged")

    try:
        go()
    except AssertionError:
        return "SILENTLY WRONG (1 and '1' merged)"
    except ValueError as err:
        return f"clear error ({type(err).__name__})"
    return "ok"


def probe_labels_csv_decimal(tmp):
    runs = small_runs(families=("1.1", "1.10", "2"))
    path = tmp / "runs.csv"
    runs.to_csv(path, index=False)
    code, err = cli("fit", str(path), "--law", "power_law:C", "--vary", "A", "--by", "family",
                    "--out", str(tmp / "f.nc"), "--draws", "50", "--tune", "50", "--chains",
                    "2", "--no-progress")
    if code != 0:
        return cli_outcome(code, err)
    fit = bs.load(tmp / "f.nc")
    return "ok (three groups)" if len(fit.levels["family"]) == 3 else \
        "SILENTLY WRONG (1.1 and 1.10 merged)"


def probe_duplicates(tmp):
    from bayescale.build import encode

    runs = small_runs()
    runs = pd.concat([runs, runs.iloc[[1]]], ignore_index=True)
    return raises(lambda: encode(bs.Model("power_law:C"), runs))


def _accuracy_runs(trials_last, acc_last=0.6):
    return pd.DataFrame({"C": [1e20, 1e21, 1e22, 1e23, 1e24],
                         "accuracy": [0.3, 0.4, 0.5, 0.55, acc_last],
                         "trials": [100, 100, 100, 100, trials_last]})


def _binomial_encode(runs):
    from bayescale.build import encode

    model = bs.Model("sigmoid_accuracy:C", likelihood="binomial", target="accuracy",
                     fixed={"floor": 0.25})
    return encode(model, runs)


def probe_trials_fractional(tmp):
    return raises(lambda: _binomial_encode(_accuracy_runs(100.5)))


def probe_trials_huge(tmp):
    return raises(lambda: _binomial_encode(_accuracy_runs(1e20)))


def probe_successes_above_trials(tmp):
    return raises(lambda: _binomial_encode(_accuracy_runs(100, acc_last=1.2)))


def probe_chains_zero(tmp):
    return raises(lambda: bs.Model("power_law:C").fit(small_runs(), chains=0,
                                                      progressbar=False))


def probe_target_accept(tmp):
    return error_naming(
        lambda: bs.Model("power_law:C").fit(small_runs(), target_accept=1.5, draws=20, tune=20,
                                            progressbar=False),
        "target_accept", clear=ValueError, ok="clear error (ValueError)",
        accepted="SILENTLY WRONG (sampled with target_accept 1.5)")


def probe_summary_json_nan(tmp):
    """One chain: R-hat is undefined (NaN)."""
    path = tmp / "fit.nc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bs.Model("power_law:C").fit(small_runs(), draws=100, tune=100, chains=1, seed=1,
                                    progressbar=False).save(path)
    proc = subprocess.run([sys.executable, "-m", "bayescale.cli", "summary", str(path),
                           "--json"], capture_output=True, text=True, check=False)
    try:
        json.loads(proc.stdout, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except ValueError:
        return "SILENTLY WRONG (NaN in JSON)"
    return "ok (strict JSON)"


def probe_env_after_import(tmp):
    code = ("import os; before = dict(os.environ); import bayescale; "
            "print(sorted(set(os.environ) - set(before)))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=False).stdout.strip()
    return "ok (environment unchanged)" if out == "[]" else f"SILENTLY WRONG (sets {out})"


def probe_register_builtin(tmp):
    law = bs.law_from_function(lambda N, E: E + 0 * N, params={"E": "positive"},
                               name="chinchilla")
    try:
        bs.register_law(law)
    except ValueError as err:
        return f"clear error ({type(err).__name__})"
    result = "SILENTLY WRONG (built-in replaced)" if "A" not in bs.get_law(
        "chinchilla").params else "ok"
    from bayescale import laws

    laws._REGISTRY["chinchilla"] = laws.chinchilla   # undo, for the probes after this one
    return result


def probe_units_mixup(tmp):
    fit = small_fit()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit.predict({"C": [6.0], "family": ["a"]})
    return "clear error (warning)" if caught else "SILENTLY WRONG (no warning)"


def probe_grouping_column_run(tmp):
    runs = small_runs().rename(columns={"family": "run"})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bs.Model("power_law:C", hierarchy={"A": "run"}).fit(
                runs, draws=50, tune=50, chains=2, seed=1, progressbar=False)
    except Exception as err:  # noqa: BLE001
        return f"TRACEBACK ({type(err).__name__}: {str(err)[:50]})"
    return "ok"


PROBES = {name.removeprefix("probe_"): fn for name, fn in globals().items()
          if name.startswith("probe_")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--only", default=None)
    args = parser.parse_args()
    results = {}
    for name, probe in PROBES.items():
        if args.only and name not in args.only.split(","):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    results[name] = probe(Path(tmp))
            except Exception as err:  # noqa: BLE001
                results[name] = f"TRACEBACK ({type(err).__name__}: {str(err)[:60]})"
        print(f"{name:<32} {results[name]}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
