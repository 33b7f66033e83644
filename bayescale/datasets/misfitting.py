"""``misfitting`` (external): the (Mis)Fitting open_lm sweep with intermediate checkpoints."""

from __future__ import annotations

import pandas as pd

from .checks import consistent, numeric, text

__all__ = ["tidy"]


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("misfitting")``)."""
    loss = numeric(raw, "loss", positive=True)
    consistent(raw, "C4 Eval Loss", numeric(raw, "C4 Eval Loss", positive=True), loss, "loss")
    portion = numeric(raw, "portion_steps_elapsed", positive=True)
    frame = pd.DataFrame({
        "model": text(raw, "model"),
        "N": numeric(raw, "N", positive=True), "N_no_emb": numeric(raw, "N_no_emb", positive=True),
        "D": numeric(raw, "D", positive=True),
        "C": numeric(raw, "C", positive=True), "C_no_emb": numeric(raw, "C_no_emb", positive=True),
        "C_6ND": numeric(raw, "C_6ND", positive=True), "loss": loss,
        "peak_lr": numeric(raw, "peak_lr", positive=True),
        "train_tokens": numeric(raw, "train_tokens", positive=True),
        "current_steps": numeric(raw, "current_steps", positive=True, integer=True).astype(int),
        "total_steps": numeric(raw, "total_steps", positive=True, integer=True).astype(int),
        "portion_steps_elapsed": portion, "final": portion == 1.0,
        "sweep": text(raw, "sweep"),
    })
    past = portion > 1.0
    frame = frame[~past].reset_index(drop=True)
    frame.attrs.update({"fixes": [], "dropped": {
        "checkpoint past the run's planned steps (portion_steps_elapsed > 1; not in the "
        "authors' last-checkpoint file)": int(past.sum())}})
    return frame
