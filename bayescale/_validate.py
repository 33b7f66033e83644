"""Input checks that name the column, the offending value and what was expected."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["DataError", "DataWarning", "check_columns", "check_positive", "check_groups",
           "check_counts", "check_nonnegative", "check_support", "check_order", "warn_duplicates",
           "warn_collinear_inputs", "as_frame", "MAX_TRIALS", "COLLINEAR"]

MAX_TRIALS = 2**31 - 1   # item counts beyond this are not item counts (and overflow int32)


class DataError(ValueError):
    """The data given to bayescale cannot be used as it is; the message says why."""


class DataWarning(UserWarning):
    """The data can be used, but something in it is probably not what you meant."""


def as_frame(data: pd.DataFrame | dict | Sequence[dict]) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if isinstance(data, dict):
        values = list(data.values())
        scalar = all(np.ndim(v) == 0 for v in values)
        return pd.DataFrame([data] if scalar else data)
    return pd.DataFrame(list(data))


def _rows(mask: np.ndarray, values: pd.Series, limit: int = 5) -> str:
    idx = np.flatnonzero(mask)
    def show(v: object) -> str:
        return repr(v.item() if hasattr(v, "item") else v)

    shown = ", ".join(f"row {i}: {show(values.iloc[i])}" for i in idx[:limit])
    more = f" (and {len(idx) - limit} more)" if len(idx) > limit else ""
    return shown + more


def check_columns(df: pd.DataFrame, required: Iterable[str], *, role: str = "") -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        what = f" ({role})" if role else ""
        raise DataError(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}"
            f"{what}; the data has columns {list(map(str, df.columns))}. Rename them, or map "
            f"them with columns={{'{missing[0]}': 'your_column'}} (CLI: --column "
            f"{missing[0]}=your_column)."
        )


def check_positive(df: pd.DataFrame, column: str, *, meaning: str = "") -> np.ndarray:
    """The column as float, finite and > 0 (sizes, compute, losses are modelled on log scale)."""
    label = f"column {column!r}" + (f" ({meaning})" if meaning else "")
    try:
        values = pd.to_numeric(df[column], errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError):
        bad = pd.to_numeric(df[column], errors="coerce").isna() & df[column].notna()
        raise DataError(f"{label} must be numeric; found {_rows(bad.to_numpy(), df[column])}") \
            from None
    nan = ~np.isfinite(values)
    if nan.any():
        raise DataError(f"{label} has missing or infinite values: {_rows(nan, df[column])}; "
                        "drop or fill those rows first")
    nonpos = values <= 0
    if nonpos.any():
        raise DataError(f"{label} must be > 0 (it is modelled on the log scale); found "
                        f"{_rows(nonpos, df[column])}")
    return values


def check_finite(df: pd.DataFrame, column: str, *, meaning: str = "") -> np.ndarray:
    """The column as float, finite (no NaN or inf)."""
    label = f"column {column!r}" + (f" ({meaning})" if meaning else "")
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{label} must be finite numbers; found {_rows(bad, df[column])}")
    return values


def check_nonnegative(df: pd.DataFrame, column: str, *, meaning: str = "") -> np.ndarray:
    """The column as float, finite and >= 0 (standard errors)."""
    label = f"column {column!r}" + (f" ({meaning})" if meaning else "")
    raw = pd.to_numeric(df[column], errors="coerce")
    text = raw.isna().to_numpy() & df[column].notna().to_numpy()
    if text.any():
        raise DataError(f"{label} must be numeric; found {_rows(text, df[column])}")
    values = raw.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{label} has missing or infinite values: {_rows(bad, df[column])}; "
                        "drop or fill those rows first")
    negative = values < 0
    if negative.any():
        raise DataError(f"{label} must be >= 0 (a standard error); found "
                        f"{_rows(negative, df[column])}")
    return values


def check_order(df: pd.DataFrame, lower: str, upper: str, *, meaning: str = "") -> None:
    """Rows where ``lower`` exceeds ``upper`` (interval bounds): an error naming both."""
    lo = df[lower].to_numpy(dtype=float)
    hi = df[upper].to_numpy(dtype=float)
    bad = lo > hi
    if bad.any():
        shown = ", ".join(f"row {i}: {lower}={lo[i].item()!r} > {upper}={hi[i].item()!r}"
                          for i in np.flatnonzero(bad)[:5])
        more = f" (and {int(bad.sum()) - 5} more)" if bad.sum() > 5 else ""
        what = f" ({meaning})" if meaning else ""
        raise DataError(f"columns {lower!r} and {upper!r}{what} must have {lower} <= {upper}; "
                        f"found {shown}{more}")


def check_unit(df: pd.DataFrame, column: str, *, closed: bool | Literal["low"],
               meaning: str = "", open_hint: str = "") -> np.ndarray:
    """The column as float within [0, 1] (``closed``), [0, 1) (``closed="low"``) or (0, 1)
    (``open_hint`` says what to do about an exact 0 or 1)."""
    values = check_finite(df, column, meaning=meaning)
    label = f"column {column!r}" + (f" ({meaning})" if meaning else "")
    low_bad = values < 0 if closed else values <= 0
    high_bad = values > 1 if closed is True else values >= 1
    bad = low_bad | high_bad
    if bad.any():
        interval = {True: "[0, 1]", "low": "[0, 1)"}.get(closed, f"(0, 1){open_hint}")
        raise DataError(f"{label} must lie in {interval}; found {_rows(bad, df[column])}")
    return values


def check_support(df: pd.DataFrame, column: str, support: str, *, meaning: str = "",
                  open_hint: str = "") -> np.ndarray:
    """The column as float within ``support``: ``"positive"`` (> 0), ``"real"`` (finite),
    ``"unit"`` or ``"unit_open"`` ((0, 1)), ``"unit_closed"`` ([0, 1]) or ``"unit_low"``
    ([0, 1))."""
    if support == "positive":
        return check_positive(df, column, meaning=meaning)
    if support == "real":
        return check_finite(df, column, meaning=meaning)
    closed = {"unit": False, "unit_open": False, "unit_closed": True, "unit_low": "low"}
    if support not in closed:
        raise ValueError(f"unknown support {support!r}")
    return check_unit(df, column, closed=closed[support], meaning=meaning,
                      open_hint=open_hint)


def check_counts(df: pd.DataFrame, column: str, *, meaning: str = "") -> np.ndarray:
    """The column as whole numbers >= 1 (item counts such as ``trials``)."""
    label = f"column {column!r}" + (f" ({meaning})" if meaning else "")
    values = check_positive(df, column, meaning=meaning)
    bad = (values != np.round(values)) | (values < 1)
    if bad.any():
        raise DataError(f"{label} must hold whole numbers of items >= 1; found "
                        f"{_rows(bad, df[column])}")
    huge = values > MAX_TRIALS
    if huge.any():
        raise DataError(f"{label} must be at most {MAX_TRIALS} items; found "
                        f"{_rows(huge, df[column])}")
    return values


def warn_duplicates(df: pd.DataFrame, columns: Sequence[str]) -> None:
    """Warn when runs repeat exactly (same inputs, groups and target): each copy counts as
    one more observation."""
    dup = df.duplicated(subset=list(columns), keep="first").to_numpy()
    if dup.any():
        first = df.duplicated(subset=list(columns), keep=False).to_numpy() & ~dup
        warnings.warn(
            f"{int(dup.sum())} run(s) repeat an earlier run exactly in columns {list(columns)} "
            f"(rows {', '.join(map(str, np.flatnonzero(dup)[:5]))}"
            f"{' ...' if dup.sum() > 5 else ''}; first copies at rows "
            f"{', '.join(map(str, np.flatnonzero(first)[:5]))}): each copy counts as another "
            "observation. Drop them (DataFrame.drop_duplicates()) unless they are real repeats.",
            DataWarning, stacklevel=3)


COLLINEAR = 0.99   # |correlation| of two inputs' logs above which their effects are confounded


def warn_collinear_inputs(log_x: Mapping[str, np.ndarray]) -> None:
    """Warn when two inputs move together in the runs (|corr(log x_i, log x_j)| >= 0.99, e.g.
    a sweep at a fixed number of tokens per parameter): the data cannot tell their effects
    apart, so the parameters of their terms trade off along a ridge that NUTS mixes slowly."""
    names = [k for k, v in log_x.items() if np.ptp(v) > 0]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            r = float(np.corrcoef(log_x[a], log_x[b])[0, 1])
            if abs(r) >= COLLINEAR:
                warnings.warn(
                    f"inputs {a!r} and {b!r} move together in these runs (correlation of their "
                    f"logs {r:.3f}): the data cannot tell their effects apart, so the "
                    f"parameters of the terms in {a} and {b} trade off (expect slow mixing "
                    "and wide intervals). Fix some of them (e.g. exponents from another fit) "
                    f"or add runs that vary {a} and {b} apart.", DataWarning, stacklevel=3)


def group_labels(df: pd.DataFrame, column: str) -> pd.Series:
    """The column's labels as strings, refusing labels that only differ in type (``1`` and
    ``"1"``, ``1`` and ``1.0``), which would silently become one group."""
    labels = df[column]
    text = labels.astype(str)
    if labels.dtype == object or str(labels.dtype).startswith("str"):
        kinds = pd.DataFrame({"text": text, "raw": labels.map(repr)}).drop_duplicates()
        clash = kinds[kinds.duplicated("text", keep=False)]
        if len(clash):
            shown = ", ".join(sorted(set(clash["raw"]))[:6])
            raise DataError(f"grouping column {column!r} has labels that differ only in type "
                            f"({shown}) and would merge into one group; make them one type, "
                            "e.g. df[column] = df[column].astype(str)")
    return text


def check_groups(df: pd.DataFrame, column: str, *, min_size: int, min_levels: int = 2,
                 used_by: Sequence[str] = ()) -> None:
    labels = df[column]
    missing = labels.isna().to_numpy()
    if missing.any():
        raise DataError(f"grouping column {column!r} has missing labels: {_rows(missing, labels)}")
    counts = group_labels(df, column).value_counts()
    who = f" (parameters {', '.join(used_by)} vary by it)" if used_by else ""
    if len(counts) < min_levels:
        raise DataError(
            f"grouping column {column!r} has {len(counts)} level(s) {list(counts.index)}{who}; "
            f"partial pooling needs at least {min_levels} groups to estimate their spread. "
            "Make the parameter global instead."
        )
    small = counts[counts < min_size]
    if len(small):
        detail = ", ".join(f"{k!r}: {v} run{'s' if v != 1 else ''}" for k, v in small.items())
        raise DataError(
            f"grouping column {column!r}: group(s) with fewer than {min_size} runs: {detail}. "
            "Drop them, merge them, or lower min_group_size."
        )
