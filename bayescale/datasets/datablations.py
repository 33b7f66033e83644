"""``datablations``: final validation losses of the data-constrained runs (Muennighoff et al.)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import boolean, consistent, fail, nullable_int, numeric, text

__all__ = ["tidy"]


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("datablations")``)."""
    n = numeric(raw, "params", positive=True)
    d = numeric(raw, "tokens", positive=True)
    u = numeric(raw, "unique_tokens", positive=True, missing=True)
    epochs = numeric(raw, "epochs", positive=True, missing=True)
    consistent(raw, "epochs", epochs, d / u, "tokens / unique_tokens")
    loss = numeric(raw, "val_loss", positive=True, missing=True)
    nb_d = numeric(raw, "notebook_fit_tokens", positive=True, missing=True)
    nb_u = numeric(raw, "notebook_fit_unique_tokens", positive=True, missing=True)
    used = boolean(raw, "used_in_paper_fit_cell")
    fail(raw, "val_loss", "must be present for the runs used in the paper's fit",
         used & ~np.isfinite(loss))
    fail(raw, "notebook_fit_tokens", "must be present for the runs used in the paper's fit",
         used & ~(np.isfinite(nb_d) & np.isfinite(nb_u)))
    run = text(raw, "run_name")
    corrected = np.isfinite(nb_d) & ~(np.isclose(nb_d, d, rtol=1e-9)
                                      & np.isclose(nb_u, u, rtol=1e-9))
    frame = pd.DataFrame({
        "run_name": run, "N": n, "D": d, "U": u, "epochs": d / u, "loss": loss,
        "seed": nullable_int(numeric(raw, "seed", missing=True, lo=0, integer=True)),
        "tags": text(raw, "variant_tags", missing=True),
        "used_in_paper_fit": used, "corrected": corrected,
        "notebook_D": nb_d, "notebook_U": nb_u,
        "python_code_percent": numeric(raw, "python_code_percent", missing=True, lo=0, hi=100),
        "commented_out": boolean(raw, "commented_out"),
        "note": text(raw, "note", missing=True),
    })
    fixes = [f"run {frame.run_name[i]}: D = {d[i]:.4g}, U = {u[i]:.4g} tokens as the file holds "
             f"(the authors' notebook parsed D = {nb_d[i]:.4g}, U = {nb_u[i]:.4g} from the run "
             "name, reading the suffix 'opt2' as part of the unique-token count); the notebook's "
             "values are kept in notebook_D / notebook_U, N is the notebook's "
             f"{n[i]:.5g} (its inline note says {frame.note[i]!r})"
             for i in np.flatnonzero(corrected)]
    no_loss = ~np.isfinite(loss)
    no_u = ~no_loss & ~np.isfinite(u)
    dropped = {"no final validation loss (val_loss empty: run unfinished, the notebook "
               "stored 0)": int(no_loss.sum()),
               "no unique-token count (unique_tokens empty: the run name has no "
               "unique-token part)": int(no_u.sum())}
    frame = frame[~(no_loss | no_u)].reset_index(drop=True)
    frame.attrs.update({"fixes": fixes, "dropped": dropped})
    return frame
