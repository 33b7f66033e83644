"""``routing_moe``: dense and routed (MoE) runs of Clark et al.'s unified scaling laws."""

from __future__ import annotations

import pandas as pd

from .checks import fail, numeric, text

__all__ = ["tidy"]


_LOSSES = ["loss_c4", "loss_curation_corpus", "loss_lambada", "loss_pile",
           "loss_wikitext103"]


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("routing_moe")``)."""
    frame = pd.DataFrame({
        "run": numeric(raw, "hyper_id", lo=0, integer=True).astype(int),
        "step": numeric(raw, "step", lo=0, integer=True).astype(int),
        "router": text(raw, "router_type", allowed=("Dense", "Hash", "S-Base", "RL-R")),
        "E": numeric(raw, "num_experts", positive=True, integer=True).astype(int),
        "k": numeric(raw, "k", positive=True, integer=True).astype(int),
        "N": numeric(raw, "dense_parameter_count", positive=True),
        "P": numeric(raw, "total_parameter_count", positive=True),
        "routing_frequency": numeric(raw, "routing_frequency", positive=True, hi=1.0),
        "flop_increase": numeric(raw, "flop_increase", positive=True),
        "d_model": numeric(raw, "d_model", positive=True, integer=True).astype(int),
        "num_blocks": numeric(raw, "num_blocks", positive=True, integer=True).astype(int),
        "num_heads": numeric(raw, "num_heads", positive=True, integer=True).astype(int),
        "kqv_size": numeric(raw, "kqv_size", positive=True, integer=True).astype(int),
        "seed": numeric(raw, "seed", integer=True).astype(int),
        "size_label": text(raw, "model_size_label"),
        "flops_per_step": numeric(raw, "flops_per_step", positive=True),
        "loss": numeric(raw, "loss_validation", positive=True, missing=True),
    })
    for col in _LOSSES:
        frame[col] = numeric(raw, col, positive=True, missing=True)
    fail(raw, "total_parameter_count", "must be >= dense_parameter_count",
         (frame.P < frame.N * (1 - 1e-9)).to_numpy())
    no_loss = frame.loss.isna()
    frame = frame[~no_loss].reset_index(drop=True)
    frame["final"] = frame.step.eq(frame.groupby("run").step.transform("max"))
    frame.attrs.update({"fixes": [], "dropped": {
        "no loss_validation at that evaluation": int(no_loss.sum())}})
    return frame
