"""``xlstm_isoflop_partial`` (external): xLSTM scaling-law IsoFLOP runs (Llama, mLSTM)."""

from __future__ import annotations

import pandas as pd

from .checks import boolean, fail, numeric, text

__all__ = ["tidy"]


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("xlstm_isoflop_partial")``)."""
    run = text(raw, "run_name")
    arch = text(raw, "arch", allowed=("llama", "mlstm", "?"))
    # The conversion wrote '?' for every mLSTM run; the run name and pickle say which it is.
    unknown = arch.eq("?")
    mlstm = (run.str.contains("_mLSTM", regex=False)
             & text(raw, "source_file").str.startswith("isoflop_mlstm_"))
    fail(raw, "arch", "is '?' for a run that is not recognisably mLSTM by its run name and "
          "source file", (unknown & ~mlstm).to_numpy())
    arch = arch.mask(unknown, "mlstm")
    frame = pd.DataFrame({
        "experiment": text(raw, "experiment"), "run": run, "arch": arch,
        "context_length": numeric(raw, "context_length", positive=True, integer=True),
        "N": numeric(raw, "num_params", positive=True, missing=True),
        "batch_size": numeric(raw, "global_batch_size", positive=True, missing=True),
        "steps": numeric(raw, "num_train_steps", positive=True, missing=True),
        "D": numeric(raw, "train_tokens", positive=True, missing=True),
        "lr": numeric(raw, "peak_lr", positive=True),
        "loss": numeric(raw, "final_val_loss", positive=True, missing=True),
        "final_step": numeric(raw, "final_val_step", positive=True, missing=True),
        "finished": boolean(raw, "finished"),
        "C_6ND": numeric(raw, "train_flops_6ND", positive=True, missing=True),
        "source_file": text(raw, "source_file"),
    })
    no_loss = frame.loss.isna()
    no_n = ~no_loss & frame.N.isna()
    frame = frame[~(no_loss | no_n)].reset_index(drop=True)
    frame["context_length"] = frame.context_length.astype(int)
    fixes = [f"arch '?' -> 'mlstm' for {int(unknown.sum())} runs of the mLSTM pickles (run "
             "names dclm_mLSTMv1_...)"] if unknown.any() else []
    frame.attrs.update({"fixes": fixes, "dropped": {
        "no final validation loss logged": int(no_loss.sum()),
        "no parameter count in the wandb summary": int(no_n.sum())}})
    return frame
