"""Reading a data set's files: locate (shipped or external), check the SHA-256, parse the CSV."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from .._validate import DataError
from .registry import EXTERNAL_ENV, data_dir, external_dir, file_specs, info, is_shipped

__all__ = ["read_checked"]


def _locate(name: str, entry: dict[str, Any], spec: dict[str, Any]) -> Path:
    if is_shipped(entry):
        path = data_dir() / spec["file"]
        if not path.exists():
            raise FileNotFoundError(f"data set {name}: file {path} is missing")
        return path
    root = external_dir()
    path = root / spec["file"] if root else None
    if path is None or not path.exists():
        where = (f"{path} does not exist" if path is not None
                 else f"the environment variable {EXTERNAL_ENV} is not set")
        raise FileNotFoundError(
            f"data set {name!r} is not shipped with bayescale (license: {entry['license']}), "
            f"and {where}. To obtain it: {entry['obtain']} Save it as "
            f"<folder>/{spec['file']} and set {EXTERNAL_ENV}=<folder>.")
    return path


def _read_file(name: str, entry: dict[str, Any], spec: dict[str, Any],
               verify: bool) -> pd.DataFrame:
    path = _locate(name, entry, spec)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != spec["sha256"]:
        msg = (f"data set {name}: {path} has SHA-256 {digest[:12]}..., expected "
               f"{spec['sha256'][:12]}... (the file was modified, is corrupt, or is another "
               "version than the registered one)")
        if verify:
            extra = ("" if is_shipped(entry) else
                     f". If you produced it yourself as described ({entry['obtain']}), "
                     f"load({name!r}, verify=False) skips the hash; the values are still checked")
            raise DataError(msg + extra)
        warnings.warn(msg + "; loading anyway (verify=False)", stacklevel=3)
    try:
        frame = pd.read_csv(path, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"data set {name}: {path} is not a readable CSV: {err}") from None
    missing = [c for c in spec["required_columns"] if c not in frame.columns]
    if missing:
        raise DataError(f"data set {name}: file {path} lacks column"
                        f"{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; "
                        f"it has columns {list(map(str, frame.columns))}")
    frame.attrs["source"] = f"data set {name}, file {path}"
    return frame


def read_checked(name: str, verify: bool = True) -> list[pd.DataFrame]:
    """The raw frames of a data set's files, hash- and column-checked, in registry order.

    ``verify=False`` only warns on a hash mismatch. Each frame's ``attrs["source"]`` names
    the file (the value checks quote it).
    """
    entry = info(name)
    return [_read_file(name, entry, spec, verify) for spec in file_specs(entry)]
