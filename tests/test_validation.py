"""Bad input fails early with a message naming the column, value or parameter."""

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.build import encode
from bayescale.cli import main


def runs(n=12, families=("a", "b", "c")):
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "N": np.exp(rng.uniform(17, 22, n)), "D": np.exp(rng.uniform(20, 25, n)),
        "loss": rng.uniform(2, 4, n), "family": [families[i % len(families)] for i in range(n)],
    })


MODEL = bs.Model("chinchilla", hierarchy={"E": "family"})


@pytest.mark.parametrize("column, value, message", [
    ("N", np.nan, r"column 'N'.*missing or infinite.*row 3: nan"),
    ("D", 0.0, r"column 'D'.*must be > 0.*row 3: 0.0"),
    ("N", -5.0, r"column 'N'.*must be > 0.*row 3: -5.0"),
    ("loss", -1.0, r"column 'loss'.*must be > 0.*row 3: -1.0"),
    ("loss", np.inf, r"column 'loss'.*missing or infinite"),
])
def test_bad_values_are_named(column, value, message):
    df = runs()
    df.loc[3, column] = value
    with pytest.raises(bs.DataError, match=message):
        encode(MODEL, df)


def test_non_numeric_value_is_named():
    df = runs().astype({"N": object})
    df.loc[2, "N"] = "7B"
    with pytest.raises(bs.DataError, match=r"column 'N'.*numeric.*row 2: '7B'"):
        encode(MODEL, df)


def test_missing_column_lists_what_exists():
    with pytest.raises(bs.DataError, match=r"missing column 'D'.*columns=\{'D'"):
        encode(MODEL, runs().drop(columns="D"))


def test_missing_grouping_column():
    with pytest.raises(bs.DataError, match=r"missing column 'family' \(grouping\)"):
        encode(MODEL, runs().drop(columns="family"))


def test_column_mapping_renames():
    df = runs().rename(columns={"N": "params", "loss": "val_loss"})
    model = bs.Model("chinchilla", hierarchy={"E": "family"},
                     columns={"N": "params", "loss": "val_loss"})
    assert encode(model, df).n == len(df)


def test_unknown_parameter_in_hierarchy():
    with pytest.raises(ValueError, match=r"unknown parameter 'gamma' in hierarchy.*'alpha'"):
        bs.Model("chinchilla", hierarchy={"gamma": "family"})


def test_unknown_parameter_in_priors_and_fixed():
    with pytest.raises(ValueError, match="unknown parameter 'Z' in priors"):
        bs.Model("chinchilla", priors={"Z": bs.Prior("Normal", mu=0, sigma=1)})
    with pytest.raises(ValueError, match="unknown parameter 'Z' in fixed"):
        bs.Model("chinchilla", fixed={"Z": 1.0})


def test_fixed_value_outside_support():
    with pytest.raises(ValueError, match=r"fixed\['nu'\] = -1.0 is outside its support"):
        bs.Model("chinchilla", fixed={"nu": -1})


def test_group_with_too_few_runs():
    df = runs()
    df.loc[0, "family"] = "lonely"
    with pytest.raises(bs.DataError, match=r"'lonely': 1 run.*min_group_size"):
        encode(MODEL, df)


def test_single_group_cannot_be_pooled():
    with pytest.raises(bs.DataError, match=r"'family' has 1 level.*at least 2 groups"):
        encode(MODEL, runs(families=("only",)))


def test_nested_grouping_builds_labels():
    df = runs()
    df["size"] = ["s", "m"] * 6
    model = bs.Model("chinchilla", hierarchy={"E": "family/size"})
    design = encode(model, df)
    assert model.grouping_columns == ("family", "family/size")
    assert "a/s" in design.levels["family/size"]


def test_cli_unknown_parameter_in_vary(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    runs().to_csv(path, index=False)
    code = main(["fit", str(path), "--vary", "E,gamma", "--by", "family",
                 "--out", str(tmp_path / "f.nc")])
    assert code == 2
    assert "unknown parameter 'gamma'" in capsys.readouterr().err


def test_cli_missing_column(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    runs().drop(columns="D").to_csv(path, index=False)
    assert main(["fit", str(path), "--out", str(tmp_path / "f.nc")]) == 2
    assert "missing column 'D'" in capsys.readouterr().err


def test_cli_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    runs().to_csv(path, index=False)
    out = tmp_path / "f.nc"
    out.write_text("precious")
    assert main(["fit", str(path), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert out.read_text() == "precious"
