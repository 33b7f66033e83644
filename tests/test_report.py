"""Publication tables: Markdown pipe tables and LaTeX booktabs tabulars of a fit's summary and
of a replication (built by hand here: no replicate() run)."""

import math
import re

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.replications.result import Check, Estimate, Replication
from bayescale.report import fit_table, format_number, latex_escape, replication_table

NAMES = ["E", "alpha", "E_by_family", "sigma"]


def rows_of(text, fmt):
    """Cells of the body rows of a table."""
    lines = text.splitlines()
    if fmt == "markdown":
        return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines[2:]]
    body = lines[lines.index(r"\midrule") + 1: lines.index(r"\bottomrule")]
    return [[c.strip() for c in ln.removesuffix(r"\\").split(" & ")] for ln in body]


def test_fit_table_markdown(pooled_fit):
    text = fit_table(pooled_fit, ci_prob=0.95)
    lines = text.splitlines()
    summary = pooled_fit.summary(ci_prob=0.95)
    assert lines[0] == "| parameter | median | 95% lower | 95% upper | R-hat | ESS bulk |"
    assert re.fullmatch(r"\| --- (\| ---: ){5}\|", lines[1])
    assert len(lines) == 2 + len(summary)
    assert [r[0] for r in rows_of(text, "markdown")] == [f"`{n}`" for n in summary.index]


@pytest.mark.parametrize("digits", [3, 4])
def test_fit_table_latex_numbers_match_summary(pooled_fit, digits):
    text = fit_table(pooled_fit, ci_prob=0.9, fmt="latex", digits=digits, var_names=NAMES)
    lines = text.splitlines()
    assert lines[0] == r"\begin{tabular}{lrrrrr}" and lines[-1] == r"\end{tabular}"
    assert lines[1] == r"\toprule" and r"\midrule" in lines and lines[-2] == r"\bottomrule"
    assert r"90\% lower" in lines[2]
    assert r"E\_by\_family[fam0]" in text
    assert not re.search(r"(?<!\\)[_%&]", text.replace(" & ", " "))  # _ % & escaped in cells
    summary = pooled_fit.summary(var_names=NAMES, ci_prob=0.9)
    rows = rows_of(text, "latex")
    assert len(rows) == len(summary)
    for cells, (name, row) in zip(rows, summary.iterrows(), strict=True):
        assert cells[0] == latex_escape(name)
        for cell, col in zip(cells[1:4], ("median", "eti90_lb", "eti90_ub"), strict=True):
            assert float(cell) == float(f"{row[col]:.{digits}g}"), (name, col, cell)
        assert float(cells[4]) == round(row["r_hat"], 3)
        assert float(cells[5]) == round(row["ess_bulk"])


@pytest.fixture(scope="module")
def replication(pooled_fit):
    paper, refit = "Hoffmann et al. (2022)", "Besiroglu et al. (2024)"
    return Replication(
        name="toy", title="A toy replication", prob=0.95,
        references={paper: "Training compute-optimal LLMs", refit: "Chinchilla scaling"},
        rows={"E": {paper: Estimate(1.69), refit: Estimate(1.8172, 1.7669, 1.8675),
                    "bayescale": Estimate(1.86, 1.58, 2.17)},
              "alpha": {paper: Estimate(0.34), refit: Estimate(0.3478, 0.3176, 0.3780),
                        "bayescale": Estimate(0.333, 0.298, 0.369)},
              "tokens_per_parameter": {refit: Estimate(25.6),
                                       "bayescale": Estimate(31.2, 18.0, 55.9)}},
        derived={"tokens_per_parameter": "tokens_per_parameter"},
        checks=[Check("E_within_interval", True, "1.86 in [1.58, 2.17] & ratio < 5%"),
                Check("alpha close", False, "|0.333 - 0.34| > 1%")],
        findings=[], fit=pooled_fit, protocol="none")


@pytest.mark.parametrize("fmt", ["markdown", "latex"])
def test_replication_table_has_published_values_and_checks(replication, fmt):
    text = replication_table(replication, fmt=fmt)
    for quantity, cols in replication.rows.items():
        for estimate in cols.values():
            for value in (estimate.value, estimate.lower, estimate.upper):
                if math.isfinite(value):
                    assert format_number(value, 4, fmt, trim=True) in text
        assert latex_escape(quantity) in text if fmt == "latex" else f"`{quantity}`" in text
    assert "1.817 [1.767, 1.867]" in text and "1.69" in text and "25.6" in text
    assert "PASS" in text and "FAIL" in text
    if fmt == "latex":
        assert text.count(r"\begin{tabular}") == 2 and text.count(r"\bottomrule") == 2
        assert r"E\_within\_interval" in text and r"\& ratio \textless{} 5\%" in text
        assert not re.search(r"(?<!\\)[_%&]", text.replace(" & ", " "))
    else:
        table, checks = text.split("\n\n")
        assert table.splitlines()[0] == ("| quantity | Hoffmann et al. (2022) | "
                                         "Besiroglu et al. (2024) | bayescale |")
        assert len(table.splitlines()) == 2 + len(replication.rows)
        assert len(checks.splitlines()) == 2 + len(replication.checks)
        assert r"\|0.333 - 0.34\|" in checks  # pipes in cells escaped
    assert replication_table(replication, fmt=fmt, checks=False).count("PASS") == 0


def test_format_number_and_escape():
    assert [format_number(v) for v in (1.7, 1320.4, 0.0078, 99.96, -0.5)] == \
        ["1.70", "1320", "0.00780", "100", "-0.500"]
    assert format_number(2.346e7) == "2.35e+07"
    assert format_number(2.346e7, fmt="latex") == r"$2.35 \times 10^{7}$"
    assert format_number(float("nan")) == "-" and format_number(1.7, trim=True) == "1.7"
    assert latex_escape("a_b 5% & $x$ #1 {y} ~^\\") == (
        r"a\_b 5\% \& \$x\$ \#1 \{y\} \textasciitilde{}\textasciicircum{}\textbackslash{}")
    assert bs.report.fit_table is fit_table
    with pytest.raises(ValueError, match="fmt"):
        fit_table(None, fmt="html")


def test_frame_table_formats_any_frame():
    frame = pd.DataFrame({"data_set": ["a_b", "c%"], "coverage": [0.8751, np.nan],
                          "n": [np.int64(24), 5]})
    md = bs.report.frame_table(frame).splitlines()
    assert md[0] == "| data_set | coverage | n |"
    assert md[1] == "| --- | ---: | ---: |"
    assert md[2:] == ["| a_b | 0.875 | 24 |", "| c% | - | 5 |"]
    tex = bs.report.frame_table(frame, fmt="latex", digits=2)
    assert tex.splitlines()[0] == r"\begin{tabular}{lrr}"
    assert r"a\_b & 0.88 & 24 \\" in tex and r"c\% & - & 5 \\" in tex
    with pytest.raises(ValueError, match="fmt"):
        bs.report.frame_table(frame, fmt="html")
