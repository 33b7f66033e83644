"""``protein_lm_scaling`` (external): IsoFLOP curves of CLM and MLM protein language models."""

from __future__ import annotations

import pandas as pd

from .checks import numeric, text

__all__ = ["tidy"]


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("protein_lm_scaling")``)."""
    frame = pd.DataFrame({
        "objective": text(raw, "objective", allowed=("CLM", "MLM")),
        "run": text(raw, "run"), "size_label": text(raw, "size_label"),
        "N": numeric(raw, "size_label_value", positive=True),
        "budget": numeric(raw, "isoflop_budget", positive=True, missing=True),
        "planned_epochs": numeric(raw, "planned_epochs", positive=True, missing=True),
        "data": text(raw, "data"),
        "C_nonembed": numeric(raw, "gflops_nonembed", positive=True) * 1e9,
        "loss": numeric(raw, "loss", positive=True),
    })
    frame.attrs.update({"fixes": [], "dropped": {}})
    return frame
