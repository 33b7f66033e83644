"""``bnsl_4digit_addition`` (external): BNSL 4-digit addition, test loss vs training-set size."""

from __future__ import annotations

import pandas as pd

from .checks import numeric, text

__all__ = ["tidy"]


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("bnsl_4digit_addition")``)."""
    split = text(raw, "bnsl_fit_split", allowed=("fit", "extrapolate"))
    frame = pd.DataFrame({
        "train_set_size": numeric(raw, "train_set_size", positive=True, integer=True).astype(int),
        "test_loss": numeric(raw, "test_loss", positive=True),
        "bnsl_fit_split": split, "heldout": split.eq("extrapolate").to_numpy(),
        "point_index": numeric(raw, "point_index", lo=0, integer=True).astype(int),
    })
    frame.attrs.update({"fixes": [], "dropped": {}})
    return frame
