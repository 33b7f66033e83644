"""``chinchilla_model_configs`` (external): the Chinchilla model sizes with d_model."""

from __future__ import annotations

import pandas as pd

from .checks import consistent, numeric

__all__ = ["tidy"]


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("chinchilla_model_configs")``)."""
    n = numeric(raw, "params_total_millions", positive=True) * 1e6
    width = numeric(raw, "d_model", positive=True, integer=True)
    emb = numeric(raw, "embedding_params_32k_vocab", positive=True)
    non_emb = numeric(raw, "non_embedding_params_est", positive=True)
    consistent(raw, "embedding_params_32k_vocab", emb, 32_000 * width, "d_model x 32000")
    consistent(raw, "non_embedding_params_est", non_emb, n - emb,
               "params_total_millions x 1e6 - embedding_params_32k_vocab")
    frame = pd.DataFrame({"N": n, "d_model": width.astype(int), "N_embedding": emb,
                          "N_non_embedding": non_emb})
    frame.attrs.update({"fixes": [], "dropped": {}})
    return frame
