"""``datablations_repetition``: loss curves of the repetition runs (Muennighoff et al.)."""

from __future__ import annotations

import ast

import pandas as pd

from .checks import fail, numeric, text

__all__ = ["tidy"]


# Parameter counts of the repetition runs, from the datablations notebook's PARAMS_MAP.
_PARAMS = {"2.8B": 2.81e9, "4.2B": 4.2465e9, "8.7B": 8.67e9}


def _run_id(raw: pd.DataFrame, column: str) -> pd.Series:
    def parse(cell: object) -> str | None:
        try:
            value = ast.literal_eval(str(cell))
        except (ValueError, SyntaxError):
            return None
        run = value.get("tensorboard") if isinstance(value, dict) else None
        return run if isinstance(run, str) and run else None

    ids = raw[column].map(parse)
    fail(raw, column, "must read {'tensorboard': '<run id>'}", ids.isna().to_numpy())
    return ids.astype(str).reset_index(drop=True)


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("datablations_repetition")``)."""
    label = text(raw, "num_params", allowed=_PARAMS)
    n = label.map(_PARAMS).to_numpy(dtype=float)
    d = numeric(raw, "token_num", positive=True)
    frame = pd.DataFrame({
        "run": _run_id(raw, "model_args"), "size_label": label, "N": n,
        "corpus": text(raw, "data", allowed=("c4", "oscar")),
        "epochs": numeric(raw, "epochs", positive=True),
        "D": d, "U": numeric(raw, "tokens_per_epoch", positive=True),
        "C": 6.0 * n * d, "loss": numeric(raw, "loss", positive=True),
        "checkpoint": text(raw, "checkpoint"),
    })
    frame["final"] = frame.D.eq(frame.groupby("run").D.transform("max"))
    frame.attrs.update({
        "fixes": ["C recomputed as 6 N D: the file's 'flops' column is wrong (flops x token_num "
                  "is constant within a run) and is not used; N is the datablations notebook's "
                  "count for the size label (2.8B: 2.81e9, 4.2B: 4.2465e9, 8.7B: 8.67e9)"],
        "dropped": {}})
    return frame
