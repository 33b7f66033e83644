"""``steplaw_lr_bs`` (external): Step Law's final loss over learning-rate x batch-size grids."""

from __future__ import annotations

import pandas as pd

from .checks import consistent, numeric, text

__all__ = ["tidy"]


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("steplaw_lr_bs")``)."""
    d = numeric(raw, "D", positive=True)
    bs = numeric(raw, "bs", positive=True, integer=True)
    steps = numeric(raw, "ti", positive=True, integer=True)
    consistent(raw, "ti", steps * bs * 2048, d, "D / (bs x 2048)", rtol=5e-3)
    frame = pd.DataFrame({
        "run": text(raw, "exp_name"), "N": numeric(raw, "N", positive=True), "D": d,
        "lr": numeric(raw, "lr", positive=True), "bs": bs.astype(int), "steps": steps.astype(int),
        "loss": numeric(raw, "loss", positive=True),
        "smooth_loss": numeric(raw, "smooth loss", positive=True),
        "hidden": numeric(raw, "h", positive=True, integer=True).astype(int),
        "ffn_hidden": numeric(raw, "ffnh", positive=True, integer=True).astype(int),
        "heads": numeric(raw, "numh", positive=True, integer=True).astype(int),
        "layers": numeric(raw, "numl", positive=True, integer=True).astype(int),
    })
    frame.attrs.update({"fixes": [], "dropped": {}})
    return frame
