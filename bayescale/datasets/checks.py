"""Value checks on a raw frame's columns; a failure names the file, the column and the lines."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .._validate import DataError

__all__ = ["fail", "numeric", "boolean", "text", "consistent", "nullable_int"]


def _lines(mask: np.ndarray, values: pd.Series, limit: int = 5) -> str:
    """Offending values by CSV line (line 1 is the header)."""
    idx = np.flatnonzero(mask)

    def show(v: object) -> str:
        return repr(v.item() if hasattr(v, "item") else v)

    shown = ", ".join(f"line {i + 2}: {show(values.iloc[i])}" for i in idx[:limit])
    return shown + (f" (and {len(idx) - limit} more)" if len(idx) > limit else "")


def fail(raw: pd.DataFrame, column: str, what: str, mask: np.ndarray) -> None:
    """Raise ``DataError`` (column ``what``, offending lines) if any of ``mask`` is set."""
    if mask.any():
        src = raw.attrs.get("source", "data")
        raise DataError(f"{src}: column {column!r} {what}; found {_lines(mask, raw[column])}")


def numeric(raw: pd.DataFrame, column: str, *, positive: bool = False, missing: bool = False,
            lo: float | None = None, hi: float | None = None,
            integer: bool = False) -> np.ndarray:
    """A column as float; missing values allowed only with ``missing=True`` (they stay NaN)."""
    col = raw[column]
    values = pd.to_numeric(col, errors="coerce")
    fail(raw, column, "must be numeric", (values.isna() & col.notna()).to_numpy())
    arr = values.to_numpy(dtype=float)
    fail(raw, column, "must be finite" if missing else "has missing or infinite values",
         np.isinf(arr) | (~np.isfinite(arr) & (not missing)))
    ok = np.isfinite(arr)
    if positive:
        fail(raw, column, "must be > 0", ok & (arr <= 0))
    if lo is not None:
        fail(raw, column, f"must be >= {lo}", ok & (arr < lo))
    if hi is not None:
        fail(raw, column, f"must be <= {hi}", ok & (arr > hi))
    if integer:
        fail(raw, column, "must hold whole numbers", ok & (arr != np.round(arr)))
    return arr


def boolean(raw: pd.DataFrame, column: str) -> np.ndarray:
    """A column of True/False (or 1/0) as bool."""
    col = raw[column]
    if col.dtype == bool:
        return col.to_numpy()
    words = col.astype(str).str.strip().str.lower()
    mapping = {"true": True, "false": False, "1": True, "0": False}
    fail(raw, column, "must be True/False (or 1/0)", (~words.isin(mapping)).to_numpy())
    return words.map(mapping).to_numpy(dtype=bool)


def text(raw: pd.DataFrame, column: str, *, missing: bool = False,
         allowed: Iterable[str] | None = None) -> pd.Series:
    """A column as str (missing -> "" with ``missing=True``), optionally from ``allowed``."""
    col = raw[column]
    if not missing:
        fail(raw, column, "has missing values", col.isna().to_numpy())
    strings = col.astype("string").fillna("").astype(object).astype(str)
    if allowed is not None:
        allowed = set(allowed)
        fail(raw, column, f"must be one of {sorted(allowed)}",
             (~strings.isin(allowed)).to_numpy())
    return strings.reset_index(drop=True)


def consistent(raw: pd.DataFrame, column: str, got: np.ndarray, want: np.ndarray,
               what: str, rtol: float = 1e-6) -> None:
    """Raise unless ``got`` equals ``want`` (relative ``rtol``) wherever both are finite."""
    ok = np.isfinite(got) & np.isfinite(want)
    bad = ok & ~np.isclose(got, want, rtol=rtol, atol=0.0)
    fail(raw, column, f"must equal {what}", bad)


def nullable_int(values: np.ndarray) -> pd.Series:
    """Floats as a pandas ``Int64`` series, NaN -> <NA>."""
    return pd.Series(pd.array([int(v) if np.isfinite(v) else None for v in values],
                               dtype="Int64"))
