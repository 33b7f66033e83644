"""The published data sets: provenance, row counts from SOURCE.md, units, fixes, validation."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale import datasets as ds

SHIPPED = ["chinchilla_epoch", "datablations", "datablations_repetition", "gemstones",
           "obsscaling", "obsscaling_v2", "porian_rsld", "revisiting_nsl", "routing_moe"]
EXTERNAL = ["bnsl_4digit_addition", "chinchilla_model_configs", "misfitting", "steplaw_lr_bs",
            "protein_lm_scaling", "xlstm_isoflop_partial"]

# The 17 points of the BNSL script (x, y as printed there); split_point = 14.
BNSL_X = [160, 192, 256, 320, 384, 448, 480, 512, 544, 576, 608, 640, 672, 736, 800, 864, 928]
BNSL_Y = [2.13809046, 2.11813418, 2.08955508, 2.06988398, 2.05404987, 2.03837089, 2.02814281,
          2.00496872, 1.95576149, 1.86313841, 1.70891537, 1.50637664, 1.29754721, 0.96559684,
          0.75856477, 0.64768338, 0.55695445]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("BAYESCALE_DATA", raising=False)
    monkeypatch.delenv(ds.EXTERNAL_ENV, raising=False)


@cache
def loaded(name: str) -> pd.DataFrame:
    return ds.load(name)


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------ registry
def test_registry_lists_shipped_and_external_sets():
    assert sorted(SHIPPED + EXTERNAL) == ds.available()
    assert [n for n in ds.available() if ds.info(n)["shipped"]] == SHIPPED
    for name in EXTERNAL:
        entry = ds.info(name)
        assert entry["redistributable"] is False
        assert entry["license"].startswith("not stated")
        assert re.search(r"[0-9a-f]{40}", entry["obtain"]), name  # says which commit
        assert not (ds.data_dir() / name).exists(), f"{name} must not be shipped"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_files_match_registry(name):
    entry = ds.info(name)
    specs = entry["files"] if "files" in entry else [entry]
    for spec in specs:
        assert sha(ds.data_dir() / spec["file"]) == spec["sha256"]
    assert (ds.data_dir() / entry["source"]).name == "SOURCE.md"
    assert (ds.data_dir() / entry["source"]).exists()
    if name != "chinchilla_epoch":  # shipped before this registry grew; license not stated
        assert re.search(r"Apache-2\.0|MIT", entry["license"])
    assert re.search(r"@ [0-9a-f]{40}", entry["origin"]), "origin names its commit"
    assert entry["citation"] and entry["title"]


@pytest.mark.parametrize("name", SHIPPED)
def test_tidy_frame_matches_its_documentation(name):
    frame = loaded(name)
    entry = ds.info(name)
    assert list(frame.columns) == list(entry["columns"]), "every column documented, in order"
    assert len(frame) == entry["rows"]
    for key in ("name", "citation", "origin", "license", "fixes", "dropped"):
        assert key in frame.attrs
    assert frame.attrs["name"] == name


def test_info_is_a_copy_and_describe_lists_everything():
    ds.info("obsscaling")["columns"]["N"] = "changed"
    assert ds.info("obsscaling")["columns"]["N"] != "changed"
    table = ds.describe()
    assert list(table.name) == ds.available()
    assert table.set_index("name").loc["bnsl_4digit_addition", "shipped"] == False  # noqa: E712
    text = ds.describe("bnsl_4digit_addition")
    assert "obtain:" in text and ds.EXTERNAL_ENV in text and "train_set_size" in text
    assert "BTLM" in ds.describe("obsscaling")


# ----------------------------------------------------------------------- each data set
def test_chinchilla_epoch():
    frame = loaded("chinchilla_epoch")
    assert len(frame) == 245
    np.testing.assert_allclose(frame.D, frame.C / (6 * frame.N))


def test_datablations_rows_drops_and_notebook_bug():
    frame = loaded("datablations")
    dropped = frame.attrs["dropped"]
    assert sorted(dropped.values()) == [4, 9]
    assert len(frame) + sum(dropped.values()) == 347  # rows in the file
    assert frame.used_in_paper_fit.sum() == 296
    assert frame.loss.notna().all() and frame.U.notna().all()
    assert frame.N.nunique() == 20
    assert 7e6 <= frame.N.min() and frame.N.max() <= 8.7e9
    assert 1e8 <= frame.D.min() and frame.D.max() <= 9e11
    assert 1e8 <= frame.U.min() and frame.U.max() <= 1.78e11
    assert 2.3 < frame.loss.min() and frame.loss.max() < 11.1  # nats/token
    np.testing.assert_allclose(frame.epochs, frame.D / frame.U)
    assert frame.epochs.min() == 1 and frame.epochs.max() == 9000
    assert frame.seed.dropna().value_counts().to_dict() == {1: 16, 2: 16, 3: 16, 4: 16}
    # the notebook bug: only 4b284b12bc4opt2 is corrected, to 84B / 12B
    fixed = frame[frame.corrected]
    assert fixed.run_name.tolist() == ["4b284b12bc4opt2"]
    row = fixed.iloc[0]
    assert (row.D, row.U) == (84e9, 12e9)
    assert (row.notebook_D, row.notebook_U) == (84.1e9, 2.2e9)
    assert row.used_in_paper_fit
    fitted = frame[frame.used_in_paper_fit & ~frame.corrected]
    assert (fitted.notebook_D == fitted.D).all() and (fitted.notebook_U == fitted.U).all()
    assert len(frame.attrs["fixes"]) == 1 and "4b284b12bc4opt2" in frame.attrs["fixes"][0]


def test_datablations_repetition_flops_recomputed():
    frame = loaded("datablations_repetition")
    assert len(frame) == 9261
    assert frame.run.nunique() == 48
    runs = frame.groupby(["size_label", "corpus", "epochs"]).run.nunique()
    assert len(runs) == 3 * 2 * 8 and (runs == 1).all()
    assert sorted(frame.epochs.unique()) == [1, 2, 3, 4, 5, 7, 14, 44]
    np.testing.assert_allclose(frame.C, 6 * frame.N * frame.D)
    assert frame.N.unique().tolist() == [2.81e9, 4.2465e9, 8.67e9]
    budgets = frame.groupby("size_label").D.max()
    np.testing.assert_allclose(budgets, [55e9, 84e9, 178e9], rtol=1e-3)
    np.testing.assert_allclose(frame.U * frame.epochs,
                               frame.size_label.map({"2.8B": 55e9, "4.2B": 84e9, "8.7B": 178e9}))
    assert frame.final.sum() == 48
    assert 2.3 < frame.loss.min() and frame.loss.max() < 7.2
    assert "6 N D" in frame.attrs["fixes"][0]


def test_obsscaling_units_fix_and_flags():
    frame = loaded("obsscaling")
    assert len(frame) == 148 and frame.family.nunique() == 47 and frame.model.is_unique
    # Pythia-70m (7e7) is the smallest, Llama-3.1-405B the largest
    assert frame.N.min() == pytest.approx(7e7) and frame.N.max() == pytest.approx(4.05e11)
    assert frame.tokens.isna().sum() == 25 and frame.C.isna().sum() == 25
    assert 2e9 <= frame.tokens.min() and frame.tokens.max() <= 1.5e13
    known = frame.tokens.notna()
    np.testing.assert_allclose(frame.C[known], 6 * frame.N[known] * frame.tokens[known])
    tasks = ["MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K", "XWinograd",
             "HumanEval"]
    scores = frame[tasks]
    assert ((scores >= 0) & (scores <= 1) | scores.isna()).all().all()
    assert scores.notna().sum().to_dict() == {"MMLU": 148, "ARC-C": 145, "HellaSwag": 148,
                                              "Winograd": 148, "TruthfulQA": 148,
                                              "GSM8K": 148, "XWinograd": 132, "HumanEval": 127}
    # BTLM: 627B tokens, not 627T
    btlm = frame.set_index("model").loc["cerebras/btlm-3b-8k-base"]
    assert btlm.tokens == pytest.approx(6.27e11) and btlm.C == pytest.approx(1.1286e22)
    assert btlm.fixed and frame.fixed.sum() == 1
    assert "btlm" in frame.attrs["fixes"][0]
    assert (frame.tokens / frame.N).max() < 1e4  # tokens per parameter, after the fix
    # flags
    flagged = frame[frame.flag != ""].set_index("model").flag
    assert (flagged == "moe_params").sum() == 7
    assert flagged["mistralai/Mixtral-8x22B-v0.1"] == "moe_params"
    assert flagged["openlm-research/open_llama_7b_v2"] == "size_mismatch"
    assert set(frame.attrs["flags"]) == {"moe_params", "size_mismatch"}


def test_obsscaling_long_format():
    long = ds.obsscaling_long()
    assert list(long.columns) == ["model", "family", "N", "tokens", "C", "flag", "fixed", "task",
                                  "accuracy", "trials", "chance"]
    mmlu = long[long.task == "MMLU"]
    assert (mmlu.trials == 14042).all() and (mmlu.chance == 0.25).all()
    assert long.trials.notna().all() and long.chance.notna().all()
    assert len(long) == 148 * 8 - 40
    assert long.attrs["dropped"] == {"no score for that (model, task) in the file": 40}
    assert long.task.nunique() == 8 and long.accuracy.between(0, 1).all()
    assert not long.duplicated(["model", "task"]).any()
    btlm = long[long.model == "cerebras/btlm-3b-8k-base"]
    assert (btlm.tokens == 6.27e11).all() and btlm.fixed.all()


def test_obsscaling_v2_items_and_floors():
    """Every leaderboard-v2 score is a whole number of its task's items; floors lie below
    every model's score but GPQA's (0.25, with models at chance scoring 0.229 by noise)."""
    v2 = loaded("obsscaling_v2")
    assert v2.task.nunique() == 6 and v2.model.nunique() == 72
    correct = v2.accuracy * v2.trials
    np.testing.assert_allclose(correct, correct.round(), atol=1e-6)
    lowest = v2.groupby("task").accuracy.min()
    floor = v2.groupby("task").chance.first()
    assert (lowest.drop("GPQA") >= floor.drop("GPQA")).all()
    main = set(ds.obsscaling_long().model)
    assert set(v2.model) <= main                     # joins with the main table on model


def test_revisiting_nsl_curves_and_split():
    frame = loaded("revisiting_nsl")
    assert frame.curve.nunique() == 92
    assert frame.groupby("domain").curve.nunique().to_dict() == {"BB": 10, "IC": 72, "LM": 5,
                                                                 "NMT": 5}
    # vision file: 18,883 rows, kept; language file: 1,399 rows of which 687 exact duplicates
    assert frame.groupby("file").size().to_dict() == {"lang": 1399 - 687, "vision": 18883}
    assert sum(frame.attrs["dropped"].values()) == 687
    assert not frame.duplicated(["curve", "x"]).any()
    assert 5e5 <= frame.x.min() and frame.x.max() <= 3.2e11
    ic = frame[frame.domain == "IC"]
    assert ic.y.between(0, 1).all() and (frame.y > 0).all() and (frame.y < 1).all()
    assert set(frame.x_kind[frame.domain.isin(["LM", "BB"])]) == {"tokens"}
    assert frame.heldout.dtype == bool
    for curve, points in frame.groupby("curve"):
        fit, held = points.x[~points.heldout], points.x[points.heldout]
        assert len(fit) and len(held), curve
        assert held.min() > fit.max(), f"{curve}: held-out points must lie beyond the fit"


def test_porian_rsld_isoflop_points():
    frame = loaded("porian_rsld")
    assert len(frame) == 1745 and frame.config.nunique() == 15
    budgets = np.sort(frame.C.unique())
    np.testing.assert_allclose(budgets, 1.25e16 * 2.0 ** np.arange(12))
    np.testing.assert_allclose(frame.C, 6 * frame.N * frame.D)
    assert 3.3e5 <= frame.N.min() and frame.N.max() <= 9.95e8
    per_budget = frame.groupby(["config", "C"]).N.nunique()  # SOURCE.md says 5-13; it is 5-16
    assert per_budget.min() == 5 and per_budget.max() == 16
    assert not frame.duplicated(["config", "C", "N"]).any()
    assert 2.6 < frame.loss.min() and frame.loss.max() < 10.1


def test_routing_moe_runs_and_finals():
    frame = loaded("routing_moe")
    assert frame.run.nunique() == 223
    assert frame.attrs["dropped"] == {"no loss_validation at that evaluation": 8}
    assert len(frame) == 5799 - 8
    finals = frame[frame.final]
    assert finals.router.value_counts().to_dict() == {"S-Base": 87, "Hash": 69, "RL-R": 54,
                                                      "Dense": 13}
    assert finals.step.isin([248_000, 249_000, 250_000]).all()
    assert set(frame.size_label) == {"15M", "25M", "55M", "130M", "370M", "1.3B"}
    assert (frame.P >= frame.N).all() and (frame.E[frame.router == "Dense"] == 1).all()
    assert finals.loss.between(1.9, 3.2).all()


def test_gemstones_checkpoints():
    frame = loaded("gemstones")
    assert len(frame) == 22 * 175 and (frame.groupby("run").size() == 175).all()
    assert 4.8e7 <= frame.N.min() and frame.N.max() <= 2.01e9
    assert 2.0e9 <= frame.D.min() and frame.D.max() <= 3.51e11
    assert frame.loss.between(2.4, 4.6).all()
    np.testing.assert_allclose(frame.C, 6 * frame.N * frame.D)


# ------------------------------------------------------------------- validation failures
def test_unknown_name_suggests_the_closest():
    with pytest.raises(KeyError, match=r"unknown data set 'datablation'\. Did you mean "
                                       r"'datablations'\?"):
        ds.load("datablation")


def copy_data(tmp_path, monkeypatch, name, edit=None, rehash=True):
    """A data folder with one data set, its CSV edited by ``edit(text) -> text``."""
    reg = json.loads((ds.data_dir() / "registry.json").read_text())
    entry = reg[name]
    spec = entry["files"][0] if "files" in entry else entry
    src, dst = ds.data_dir() / spec["file"], tmp_path / spec["file"]
    dst.parent.mkdir(parents=True)
    for other in (entry.get("files") or [spec]):
        shutil.copyfile(ds.data_dir() / other["file"], tmp_path / other["file"])
    if edit is not None:
        dst.write_text(edit(src.read_text()))
    if rehash:
        spec["sha256"] = sha(dst)
    (tmp_path / "registry.json").write_text(json.dumps({name: entry}))
    monkeypatch.setenv("BAYESCALE_DATA", str(tmp_path))
    return dst


def test_wrong_hash_names_the_file(tmp_path, monkeypatch):
    path = copy_data(tmp_path, monkeypatch, "datablations",
                     lambda t: t.replace("3.265024", "3.265025"), rehash=False)
    with pytest.raises(bs.DataError, match=rf"datablations: {re.escape(str(path))} has SHA-256"):
        ds.load("datablations")


def test_missing_column_names_file_and_column(tmp_path, monkeypatch):
    path = copy_data(tmp_path, monkeypatch, "obsscaling",
                     lambda t: t.replace("Pretraining Data Size (T)", "Tokens (T)", 1))
    with pytest.raises(bs.DataError, match=rf"file {re.escape(str(path))} lacks column "
                                           r"'Pretraining Data Size \(T\)'"):
        ds.load("obsscaling")


def test_non_numeric_value_names_file_column_and_line(tmp_path, monkeypatch):
    path = copy_data(tmp_path, monkeypatch, "obsscaling",
                     lambda t: t.replace("Llama-2,7.0,", "Llama-2,7B,", 1))
    with pytest.raises(bs.DataError, match=rf"{re.escape(str(path))}: column 'Model Size \(B\)' "
                                           r"must be numeric; found line 2: '7B'"):
        ds.load("obsscaling")


def test_accuracy_out_of_range_is_refused(tmp_path, monkeypatch):
    copy_data(tmp_path, monkeypatch, "obsscaling",
              lambda t: t.replace(",0.4379609636092418,", ",43.79609636092418,", 1))
    with pytest.raises(bs.DataError, match=r"column 'MMLU' must be <= 1.0; found line 2: 43.79"):
        ds.load("obsscaling")


def test_second_file_of_a_two_file_set_is_checked(tmp_path, monkeypatch):
    copy_data(tmp_path, monkeypatch, "revisiting_nsl")
    vision = tmp_path / "revisiting_nsl" / "benchmark.vision.csv"
    vision.write_text(vision.read_text().replace(",Training", ",Train", 1))
    with pytest.raises(bs.DataError, match=r"benchmark\.vision\.csv has SHA-256"):
        ds.load("revisiting_nsl")


def test_bad_category_is_refused(tmp_path, monkeypatch):
    copy_data(tmp_path, monkeypatch, "routing_moe",
              lambda t: t.replace(",Dense,", ",Dens,", 1))
    with pytest.raises(bs.DataError, match=r"column 'router_type' must be one of .*'Dens'"):
        ds.load("routing_moe")


# ------------------------------------------------------------------ external data sets
@pytest.mark.parametrize("name", EXTERNAL)
def test_external_set_absent_says_how_to_obtain(name, tmp_path, monkeypatch):
    entry = ds.info(name)
    with pytest.raises(FileNotFoundError, match=rf"not shipped.*{ds.EXTERNAL_ENV} is not set"
                                                r".*To obtain it: .*[0-9a-f]{40}") as err:
        ds.load(name)
    assert entry["file"] in str(err.value)
    monkeypatch.setenv(ds.EXTERNAL_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / entry["file"]))
                       + " does not exist"):
        ds.load(name)


def write_bnsl(root, y=BNSL_Y):
    path = root / "bnsl_4digit_addition" / "bnsl_4digit_addition.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"train_set_size": BNSL_X, "test_loss": y, "point_index": range(17),
                  "bnsl_fit_split": ["fit"] * 14 + ["extrapolate"] * 3}
                 ).to_csv(path, index=False)
    return path


def test_external_bnsl_loads_from_env_folder(tmp_path, monkeypatch):
    path = write_bnsl(tmp_path)  # the recipe given in info()["obtain"]
    assert sha(path) == ds.info("bnsl_4digit_addition")["sha256"]
    monkeypatch.setenv(ds.EXTERNAL_ENV, str(tmp_path))
    frame = ds.load("bnsl_4digit_addition")
    assert list(frame.columns) == list(ds.info("bnsl_4digit_addition")["columns"])
    assert len(frame) == 17 and frame.train_set_size.tolist() == BNSL_X
    assert frame.heldout.sum() == 3 and (frame.bnsl_fit_split == "fit").sum() == 14
    assert frame.train_set_size[frame.heldout].min() > frame.train_set_size[~frame.heldout].max()
    assert frame.test_loss.between(0.5, 2.2).all()
    assert frame.attrs["license"].startswith("not stated")


def test_external_file_of_another_version(tmp_path, monkeypatch):
    y = list(BNSL_Y)
    y[0] = 2.2
    write_bnsl(tmp_path, y)
    monkeypatch.setenv(ds.EXTERNAL_ENV, str(tmp_path))
    with pytest.raises(bs.DataError, match=r"has SHA-256 .*verify=False"):
        ds.load("bnsl_4digit_addition")
    with pytest.warns(UserWarning, match="loading anyway"):
        frame = ds.load("bnsl_4digit_addition", verify=False)
    assert frame.test_loss[0] == 2.2
    y[1] = -1.0  # values are still checked without the hash
    write_bnsl(tmp_path, y)
    with pytest.warns(UserWarning), pytest.raises(bs.DataError,
                                                  match=r"'test_loss' must be > 0; found line 3"):
        ds.load("bnsl_4digit_addition", verify=False)


# ------------------------------------------------------------------------ installed wheel
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("pip") is None
                    or importlib.util.find_spec("setuptools") is None,
                    reason="building a wheel offline needs pip and setuptools in this environment")
def test_wheel_carries_the_data_and_loads_from_where_it_is_installed(tmp_path):
    """pip wheel (offline, no build isolation) of a copy of the sources; every file under data/
    and every module is in the wheel; installed with --target and run from another folder,
    bayescale is imported from there and loads its data from there, not from the checkout."""
    src = tmp_path / "src"
    src.mkdir()
    for part in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / part, src / part)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("bayescale", "data"):
        shutil.copytree(REPO / part, src / part, ignore=skip)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "BAYESCALE_DATA", ds.EXTERNAL_ENV)}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    pip = [sys.executable, "-m", "pip"]

    def call(args, cwd=tmp_path, **extra_env):
        proc = subprocess.run(args, capture_output=True, text=True, check=False, cwd=cwd,
                              env={**env, **extra_env})
        assert proc.returncode == 0, f"{args}: {proc.stderr[-3000:]}"
        return proc.stdout

    call([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(tmp_path / "wheel"), str(src)])
    (wheel,) = (tmp_path / "wheel").glob("bayescale-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data_files = {f"bayescale/data/{p.relative_to(REPO / 'data').as_posix()}"
                  for p in (REPO / "data").rglob("*") if p.is_file()}
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "bayescale").rglob("*.py")}
    assert "bayescale/data/registry.json" in data_files
    assert not data_files - names, f"data files missing from the wheel: {data_files - names}"
    assert not modules - names, f"modules missing from the wheel: {modules - names}"

    target = tmp_path / "target"
    call([*pip, "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import json, bayescale as bs; frame = bs.datasets.load('chinchilla_epoch'); "
            "print(json.dumps({'file': bs.__file__, 'data': str(bs.datasets.data_dir()), "
            "'shape': list(frame.shape)}))")
    out = json.loads(call([sys.executable, "-c", code], cwd=elsewhere, PYTHONPATH=str(target)))
    assert Path(out["file"]).is_relative_to(target), out
    assert Path(out["data"]) == target / "bayescale" / "data", out
    assert out["shape"] == list(loaded("chinchilla_epoch").shape)
