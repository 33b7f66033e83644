"""Tables for papers and READMEs: a fit's posterior summary and a replication's comparison with
the published numbers, as Markdown (pipe tables) or LaTeX (booktabs ``tabular``).

>>> print(bs.report.fit_table(fit, ci_prob=0.95, fmt="latex"))   # doctest: +SKIP

The LaTeX output needs ``\\usepackage{booktabs}``; values are plain text, names escaped.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from .intervals import ci_probs

if TYPE_CHECKING:
    from .fit import Fit
    from .replications.result import Replication

__all__ = ["fit_table", "replication_table", "frame_table", "format_number", "latex_escape"]

Format = Literal["markdown", "latex"]

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
                  "|": r"\textbar{}"}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (``_ % & $ # { } ~ ^ \\``, and ``< > |``, which
    the default font encoding would print as other glyphs) in plain text."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _markdown_escape(text: str) -> str:
    return str(text).replace("|", r"\|")


def format_number(value: float, digits: int = 3, fmt: Format = "markdown", *,
                  trim: bool = False) -> str:
    """``value`` rounded to ``digits`` significant digits, without an exponent between 1e-4 and
    1e6 (``1320``, ``0.333``, ``1.70``), else in scientific notation (``1.23e+07``, or
    ``$1.23 \\times 10^{7}$`` in LaTeX); ``-`` for NaN. ``trim`` drops trailing zeros
    (``1.7``), e.g. for published values given to fewer digits."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == 0:
        return "0"
    rounded = float(f"{value:.{digits}g}")
    if 1e-4 <= abs(rounded) < 1e6:
        exponent = math.floor(math.log10(abs(rounded)))
        text = f"{rounded:.{max(0, digits - 1 - exponent)}f}"
        return text.rstrip("0").rstrip(".") if trim and "." in text else text
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    if trim and "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    if fmt == "latex":
        return f"${mantissa} \\times 10^{{{int(exponent)}}}$"
    return f"{mantissa}e{exponent}"


def _check_fmt(fmt: str) -> Format:
    if fmt not in ("markdown", "latex"):
        raise ValueError(f"fmt must be 'markdown' or 'latex', got {fmt!r}")
    return fmt  # type: ignore[return-value]


def _render(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str],
            fmt: Format) -> str:
    """A pipe table or a booktabs tabular; cells are already formatted and escaped.
    ``align``: a LaTeX column type per column (``r`` right-aligns in Markdown too)."""
    if fmt == "markdown":
        rule = ["---:" if a == "r" else "---" for a in align]
        lines = [header, rule, *rows]
        return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
    lines = [f"\\begin{{tabular}}{{{''.join(align)}}}", r"\toprule", " & ".join(header) + r" \\",
             r"\midrule"]
    lines += [" & ".join(cells) + r" \\" for cells in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def _text(value: str, fmt: Format, *, code: bool = False) -> str:
    if fmt == "latex":
        return latex_escape(value)
    return f"`{value}`" if code else _markdown_escape(value)


def frame_table(frame: Any, *, fmt: Format = "markdown", digits: int = 3,
                index: bool = False) -> str:
    """Any DataFrame (e.g. ``Backtest.table()``, ``compare(...).table``) as a Markdown or
    LaTeX table: numbers to ``digits`` significant digits, text escaped."""
    fmt = _check_fmt(fmt)
    df = frame.reset_index() if index else frame
    header = [_text(str(c), fmt) for c in df.columns]
    numeric = [_is_number(v) for v in (df.iloc[0] if len(df) else [])]
    rows = [[_cell(v, digits, fmt) for v in row] for row in df.itertuples(index=False)]
    align = ["r" if n else "l" for n in numeric] or ["l"] * len(header)
    return _render(header, rows, align, fmt)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _cell(value: Any, digits: int, fmt: Format) -> str:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if _is_number(value):
        return format_number(float(value), digits, fmt)
    if value is None:
        return "-"
    return _text(str(value), fmt)


def fit_table(fit: Fit, *, ci_prob: float | None = None, fmt: Format = "markdown", digits: int = 3,
              var_names: Sequence[str] | None = None) -> str:
    """The natural-scale posterior summary of ``fit`` (:meth:`Fit.summary`): per parameter the
    median, the equal-tailed ``ci_prob`` interval (``digits`` significant digits), R-hat
    (3 decimals) and bulk ESS (whole number), as a Markdown pipe table or a LaTeX booktabs
    ``tabular``."""
    fmt = _check_fmt(fmt)
    (ci_prob,) = ci_probs(ci_prob)
    summary = fit.summary(var_names=var_names, ci_prob=ci_prob)
    lb = next(c for c in summary.columns if c.startswith("eti") and c.endswith("_lb"))
    ub = next(c for c in summary.columns if c.startswith("eti") and c.endswith("_ub"))
    pct = f"{100 * ci_prob:.10g}%"
    if fmt == "latex":
        header = ["parameter", "median", f"{latex_escape(pct)} lower",
                  f"{latex_escape(pct)} upper", r"$\hat{R}$", "ESS bulk"]
    else:
        header = ["parameter", "median", f"{pct} lower", f"{pct} upper", "R-hat", "ESS bulk"]
    rows = []
    for name, row in summary.iterrows():
        rows.append([_text(str(name), fmt, code=True),
                     *(format_number(float(row[c]), digits, fmt) for c in ("median", lb, ub)),
                     _fixed(row["r_hat"], 3), _fixed(row["ess_bulk"], 0)])
    return _render(header, rows, ["l", *"rrrrr"], fmt)


def _fixed(value: float, decimals: int) -> str:
    value = float(value)
    return f"{value:.{decimals}f}" if math.isfinite(value) else "-"


def replication_table(replication: Replication, *, fmt: Format = "markdown", digits: int = 4,
                      checks: bool = True) -> str:
    """A replication's quantities, one row each: the published values (one column per
    reference, ``value [lower, upper]`` where an interval was reported) beside bayescale's
    posterior median and ``replication.prob`` interval; then, with ``checks``, a second table
    of the checks (PASS/FAIL and detail), separated by a blank line."""
    from .replications.result import Estimate

    fmt = _check_fmt(fmt)
    labels = [*replication.references, "bayescale"]
    nan = Estimate(math.nan)

    def cell(estimate: Estimate) -> str:
        if not math.isfinite(estimate.value):
            return "-"
        value = format_number(estimate.value, digits, fmt, trim=True)
        if math.isfinite(estimate.lower):
            lo = format_number(estimate.lower, digits, fmt, trim=True)
            hi = format_number(estimate.upper, digits, fmt, trim=True)
            return f"{value} [{lo}, {hi}]"
        return value

    header = ["quantity", *(_text(lb, fmt) for lb in labels)]
    rows = [[_text(q, fmt, code=True), *(cell(cols.get(lb, nan)) for lb in labels)]
            for q, cols in replication.rows.items()]
    out = _render(header, rows, ["l", *"r" * len(labels)], fmt)
    if checks and replication.checks:
        check_rows = [[_text(c.name, fmt), "PASS" if c.passed else "FAIL", _text(c.detail, fmt)]
                      for c in replication.checks]
        out += "\n\n" + _render(["check", "result", "detail"], check_rows,
                                 ["l", "l", r"p{0.6\linewidth}"], fmt)
    return out
