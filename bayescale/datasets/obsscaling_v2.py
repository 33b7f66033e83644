"""``obsscaling_v2``: Open LLM Leaderboard v2 scores of obsscaling's base models (Ruan et al.)."""

from __future__ import annotations

import pandas as pd

from .checks import fail, numeric, text

__all__ = ["tidy", "TASK_ITEMS", "TASK_FLOOR"]

# Items per task (the leaderboard's evaluation sets; every score in the file times this count
# is a whole number): BBH's 24 subtasks, GPQA main + diamond + extended, IFEval's
# instruction-level strict accuracy, MATH level-5, MMLU-Pro, MuSR's three sets.
TASK_ITEMS = {"BBH": 5761, "GPQA": 1192, "IFEval": 834, "MATH-hard": 1324, "MMLU-Pro": 12032,
              "MuSR": 756}
# Chance: 4 options (GPQA), 10 (MMLU-Pro), generated answers (IFEval, MATH: 0); BBH and MuSR
# mix subtasks with 2 to 19 options: the item-weighted mean of 1 / options, approximate. BBH
# 0.29 (its 24 subtasks); MuSR about a third (murder mysteries 2 options, team allocation 3,
# object placements a varying number): 0.33, below the weakest model's 0.335 (a first 0.34 was
# above it). The weakest models score 0.298 (BBH) and 0.229 (GPQA: chance plus noise).
TASK_FLOOR = {"BBH": 0.29, "GPQA": 0.25, "IFEval": 0.0, "MATH-hard": 0.0, "MMLU-Pro": 0.1,
              "MuSR": 0.33}
_COLUMNS = {"leaderboard_bbh": "BBH", "leaderboard_gpqa": "GPQA",
            "leaderboard_ifeval": "IFEval", "leaderboard_math_hard": "MATH-hard",
            "leaderboard_mmlu_pro": "MMLU-Pro", "leaderboard_musr": "MuSR"}


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, task): ``model``, ``task``, ``accuracy``, ``trials``, ``chance``
    (join on ``model`` with ``obsscaling`` for family and compute)."""
    model = text(raw, "Model")
    fail(raw, "Model", "must be unique", model.duplicated().to_numpy())
    frames = []
    for column, task in _COLUMNS.items():
        score = numeric(raw, column, lo=0.0, hi=1.0)
        items = score * TASK_ITEMS[task]
        fail(raw, column, f"times {TASK_ITEMS[task]} items must be a whole number of items",
             abs(items - items.round()) > 1e-6)
        frames.append(pd.DataFrame({"model": model, "task": task, "accuracy": score,
                                    "trials": TASK_ITEMS[task],
                                    "chance": TASK_FLOOR[task]}))
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs.update({"fixes": [], "dropped": {}, "tasks": list(_COLUMNS.values())})
    return frame
