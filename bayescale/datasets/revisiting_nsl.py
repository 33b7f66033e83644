"""``revisiting_nsl``: learning curves of Alabdulmohsin et al.'s benchmark (vision, language)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import boolean, numeric, text

__all__ = ["tidy"]


def tidy(lang: pd.DataFrame, vision: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("revisiting_nsl")``)."""
    parts = []
    for raw, file in ((lang, "lang"), (vision, "vision")):
        domain = text(raw, "Domain", allowed=("IC", "NMT", "LM", "BB"))
        parts.append(pd.DataFrame({
            "domain": domain, "task": text(raw, "Task"), "model": text(raw, "Model"),
            "x": numeric(raw, "Seen Examples", positive=True),
            "x_kind": np.where(domain.isin(["LM", "BB"]), "tokens", "examples"),
            "y": numeric(raw, "Loss", positive=True),
            "heldout": ~boolean(raw, "Training"), "file": file}))
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "curve", frame.domain + "/" + frame.task + "/" + frame.model)
    dup = frame.duplicated(["curve", "x", "y", "heldout"])
    where = frame[dup].groupby("domain").size().to_dict()
    frame = frame[~dup]
    order = {c: i for i, c in enumerate(frame.curve.unique())}
    frame = (frame.assign(_order=frame.curve.map(order))
             .sort_values(["_order", "x"], kind="stable").drop(columns="_order")
             .reset_index(drop=True))
    frame.attrs.update({
        "fixes": [],
        "dropped": {f"exact duplicate rows (same curve, x, y, split; by domain: {where}; every "
                    "LM curve is stored 4 times in benchmark.lang.csv)": int(dup.sum())}})
    return frame
