"""Published data sets, shipped in ``data/`` with their provenance, loaded as tidy frames.

Every file is listed in ``data/registry.json`` with its SHA-256, origin, license and citation;
``load`` checks the hash and the columns before it returns anything.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._validate import DataError, check_columns, check_positive

__all__ = ["available", "info", "load", "data_dir"]


def data_dir() -> Path:
    """The ``data/`` folder: ``$BAYESCALE_DATA`` or the one beside the package."""
    env = os.environ.get("BAYESCALE_DATA")
    path = Path(env) if env else Path(__file__).resolve().parent.parent / "data"
    if not (path / "registry.json").exists():
        raise FileNotFoundError(f"bayescale data folder not found at {path} (no registry.json); "
                                "install bayescale from its repository checkout or set "
                                "BAYESCALE_DATA")
    return path


@cache
def _registry() -> dict[str, dict[str, Any]]:
    return json.loads((data_dir() / "registry.json").read_text())


def available() -> list[str]:
    return sorted(_registry())


def info(name: str) -> dict[str, Any]:
    """Provenance and column documentation of a data set."""
    reg = _registry()
    if name not in reg:
        close = difflib.get_close_matches(name, reg, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown data set {name!r}.{hint} Available: {', '.join(available())}")
    return dict(reg[name])


def _read_checked(name: str) -> pd.DataFrame:
    entry = info(name)
    path = data_dir() / entry["file"]
    if not path.exists():
        raise FileNotFoundError(f"data set {name}: file {path} is missing")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entry["sha256"]:
        raise DataError(f"data set {name}: {path} has SHA-256 {digest[:12]}..., expected "
                        f"{entry['sha256'][:12]}... (the file was modified or is corrupt)")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"data set {name}: {path} is not a readable CSV: {err}") from None
    check_columns(frame, entry["required_columns"], role=f"data set {name}")
    return frame


def _chinchilla_epoch(raw: pd.DataFrame) -> pd.DataFrame:
    n = check_positive(raw, "Model Size", meaning="parameters")
    c = check_positive(raw, "Training FLOP", meaning="compute")
    loss = check_positive(raw, "loss")
    return pd.DataFrame({"N": n, "C": c, "D": c / (6.0 * n), "loss": loss})


_TIDY: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "chinchilla_epoch": _chinchilla_epoch,
}


def load(name: str) -> pd.DataFrame:
    """A data set as a tidy frame (see ``info(name)["columns"]`` for names and units)."""
    entry = info(name)
    frame = _TIDY[name](_read_checked(name))
    frame.attrs.update({"name": name, "citation": entry["citation"], "origin": entry["origin"]})
    return frame


def highest_loss_excluded(frame: pd.DataFrame, k: int, target: str = "loss") -> pd.DataFrame:
    """Drop the ``k`` runs with the highest target (Epoch's Chinchilla protocol drops 5)."""
    order = np.argsort(frame[target].to_numpy())
    return frame.iloc[np.sort(order[: len(frame) - k])].reset_index(drop=True)
