"""``chinchilla_epoch``: the Chinchilla runs (Hoffmann et al. 2022) as extracted by Epoch AI."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import numeric

__all__ = ["tidy", "highest_loss_excluded"]


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("chinchilla_epoch")``)."""
    n = numeric(raw, "Model Size", positive=True)
    c = numeric(raw, "Training FLOP", positive=True)
    loss = numeric(raw, "loss", positive=True)
    return pd.DataFrame({"N": n, "C": c, "D": c / (6.0 * n), "loss": loss})


def highest_loss_excluded(frame: pd.DataFrame, k: int, target: str = "loss") -> pd.DataFrame:
    """Drop the ``k`` runs with the highest target (Epoch's Chinchilla protocol drops 5)."""
    order = np.argsort(frame[target].to_numpy())
    return frame.iloc[np.sort(order[: len(frame) - k])].reset_index(drop=True)
