"""Two-stage predictions: a loss law feeding a downstream law (e.g. accuracy from loss).

``acc(x) = g(L(x))``: the first fit gives posterior draws of the loss ``L(x)`` at the inputs
(compute, or N and D); the second fit maps a loss to a downstream metric. For draw ``s`` the
second stage is evaluated at the first stage's draw ``L_s(x)``, with the second fit's own draw
``s`` of its parameters, so the uncertainty of both stages is carried through instead of
plugging in a point estimate of the loss. The two posteriors are independent (fitted on their
own data), so pairing draws by index is a valid joint draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ._validate import as_frame
from .intervals import ci_probs
from .predict import draws_matrix, format_draws, n_samples, predict, predictive_draws

if TYPE_CHECKING:
    from .fit import Fit

__all__ = ["chain_predict"]


def chain_predict(first: Fit, second: Fit, data: Any, *, through: Literal["curve", "obs"] =
                  "curve", ci_prob: float | Sequence[float] | None = None, new_groups: bool = False,
                  seed: int | None = None, kind: Literal["summary", "draws"] = "summary"
                  ) -> pd.DataFrame | xr.DataTree:
    """Predict the second stage at the first stage's posterior of its input.

    ``second`` must have one input (e.g. ``sigmoid_accuracy:L``); it receives the first fit's
    ``curve`` draws (the expected loss; ``through="obs"`` uses a new run's loss, noise
    included). ``data`` holds the first stage's inputs and any grouping columns of either fit.
    Returns the same columns as :func:`~bayescale.predict.predict`, for the second stage.
    """
    if len(second.model.law.inputs) != 1:
        raise ValueError(f"the second stage must have one input; {second.model.law.name} has "
                         f"{list(second.model.law.inputs)}")
    if through not in ("curve", "obs"):
        raise ValueError(f"through must be 'curve' or 'obs', got {through!r}")
    rng = np.random.default_rng(seed)
    stage1 = draws_matrix(predict(first, data, new_groups=new_groups, seed=seed,
                                  kind="draws")["predictions"][through])
    n_second = n_samples(second)
    pick = (np.arange(n_second) if len(stage1) == n_second
            else rng.choice(len(stage1), size=n_second, replace=True))
    (name,) = second.model.law.inputs
    frame = as_frame(data)
    draws = predictive_draws(second, frame, {name: np.log(stage1[pick])},
                             new_groups=new_groups, rng=rng)
    return format_draws(second, frame, draws.curve, draws.obs, ci_probs(ci_prob), kind)
