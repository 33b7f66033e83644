"""``gemstones``: constant-LR checkpoints of width x depth shapes (McLeish et al.)."""

from __future__ import annotations

import pandas as pd

from .checks import numeric, text

__all__ = ["tidy"]


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("gemstones")``)."""
    n = numeric(raw, "params_active_precise", positive=True)
    d = numeric(raw, "tokens", positive=True)
    frame = pd.DataFrame({
        "run": text(raw, "run_name"),
        "width": numeric(raw, "width", positive=True, integer=True).astype(int),
        "depth": numeric(raw, "depth", positive=True, integer=True).astype(int),
        "N": n, "D": d, "C": 6.0 * n * d,
        "step": numeric(raw, "step", positive=True, integer=True).astype(int),
        "loss": numeric(raw, "final_loss", positive=True),
        "num_nodes": numeric(raw, "num_nodes", positive=True, integer=True).astype(int),
        "seconds_per_step": numeric(raw, "seconds_per_step", positive=True),
    })
    frame.attrs.update({"fixes": [], "dropped": {}})
    return frame
