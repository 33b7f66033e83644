"""``porian_rsld``: IsoFLOP points of Porian et al.'s training configurations."""

from __future__ import annotations

import pandas as pd

from .checks import consistent, numeric, text

__all__ = ["tidy"]


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("porian_rsld")``)."""
    cats = {"dataset": ("rw", "owt2"), "hparams": ("base", "tuned"),
            "warmup": ("long", "short"), "decay": ("kaplan", "chinchilla", "const"),
            "param_count": ("kaplan", "standard", "attention"), "loss_split": ("train", "val")}
    frame = pd.DataFrame({k: text(raw, k, allowed=v) for k, v in cats.items()})
    frame.insert(0, "config", frame.apply("/".join, axis=1))
    c = numeric(raw, "flops", positive=True)
    n = numeric(raw, "n", positive=True)
    d = numeric(raw, "t", positive=True)
    consistent(raw, "flops", c, 6.0 * n * d, "6 n t")
    frame = frame.assign(C=c, N=n, D=d, loss=numeric(raw, "loss", positive=True),
                         source_file=text(raw, "source_file"))
    frame.attrs.update({"fixes": [], "dropped": {}})
    return frame
