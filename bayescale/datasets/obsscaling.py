"""``obsscaling``: benchmark scores of public base LLMs (Ruan et al.), with fixes and flags."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from .checks import fail, numeric, text

__all__ = ["tidy", "long_format", "TASK_ITEMS", "TASK_FLOOR"]


_TASKS = ["MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K", "XWinograd",
          "HumanEval"]
# Items scored per task (the evaluation sets of the Open LLM Leaderboard v1 harness: MMLU test,
# ARC-Challenge test, HellaSwag validation, WinoGrande validation, TruthfulQA, GSM8K test,
# XWinograd English, HumanEval) and each task's floor: chance for multiple choice (4 options,
# or 2 for the Winograd tasks), 0 for generated answers; TruthfulQA's mc2 score is a
# probability mass, not a share of items right, with no chance level defined (0).
TASK_ITEMS = {"MMLU": 14042, "ARC-C": 1172, "HellaSwag": 10042, "Winograd": 1267,
              "TruthfulQA": 817, "GSM8K": 1319, "XWinograd": 2325, "HumanEval": 164}
TASK_FLOOR = {"MMLU": 0.25, "ARC-C": 0.25, "HellaSwag": 0.25, "Winograd": 0.5,
              "TruthfulQA": 0.0, "GSM8K": 0.0, "XWinograd": 0.5, "HumanEval": 0.0}
# (model, column, wrong value, right value, reason): applied only where the file holds the
# wrong value.
_FIXES = [
    ("cerebras/btlm-3b-8k-base", "tokens", 627e12, 0.627e12,
     "BTLM was trained on 627 billion tokens; the file has 627 in the trillions column"),
]
_FLAGS = {
    "moe_params": ("mixture-of-experts model: 'Model Size (B)' is neither consistently total "
                   "nor active parameters (e.g. Mixtral-8x22B listed as 39) and FLOPs are "
                   "missing or use that size, so N and C are not comparable with dense models "
                   "(SOURCE.md names Mixtral, Qwen2-57B-A14B, DeepSeek-V2, Jamba; the "
                   "DeepSeek-Coder-V2 and DeepSeek-MoE models are MoE as well)",
                   ["mistralai/Mixtral-8x7B-v0.1", "mistralai/Mixtral-8x22B-v0.1",
                    "Qwen/Qwen2-57B-A14B", "deepseek-ai/DeepSeek-V2",
                    "deepseek-ai/DeepSeek-Coder-V2-Base", "deepseek-ai/deepseek-moe-16b-base",
                    "ai21labs/Jamba-v0.1"]),
    "size_mismatch": ("'Model Size (B)' = 13 (and FLOPs computed from it) for "
                      "open_llama_7b_v2, a 7B model by its name; not in SOURCE.md's list and "
                      "no corrected value is documented, so flagged, not fixed",
                      ["openlm-research/open_llama_7b_v2"]),
}


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame (columns and units: ``info("obsscaling")``)."""
    model = text(raw, "Model")
    fail(raw, "Model", "must be unique", model.duplicated().to_numpy())
    n = numeric(raw, "Model Size (B)", positive=True) * 1e9
    tokens = numeric(raw, "Pretraining Data Size (T)", positive=True, missing=True) * 1e12
    c = numeric(raw, "FLOPs (1E21)", positive=True, missing=True) * 1e21
    frame = pd.DataFrame({"model": model, "family": text(raw, "Model Family"),
                          "N": n, "tokens": tokens, "C": c})
    for task in _TASKS:
        frame[task] = numeric(raw, task, missing=True, lo=0.0, hi=1.0)
    frame["fixed"] = False
    fixes = []
    for name, column, wrong, right, why in _FIXES:
        rows = np.flatnonzero(frame.model.eq(name) & np.isclose(frame[column], wrong))
        for i in rows:
            old_c = frame.at[i, "C"]
            frame.at[i, column] = right
            frame.at[i, "C"] = 6.0 * frame.at[i, "N"] * frame.at[i, "tokens"]
            frame.at[i, "fixed"] = True
            fixes.append(f"{name}: {column} {wrong:.4g} -> {right:.4g}, C {old_c:.5g} -> "
                         f"{frame.at[i, 'C']:.5g} FLOP ({why})")
    ratio = frame.C / (6.0 * frame.N * frame.tokens)
    fail(raw, "FLOPs (1E21)", "must equal 6 x size x tokens (after the known fixes)",
         (ratio.notna() & ~np.isclose(ratio, 1.0, rtol=1e-3)).to_numpy())
    codes = [[code for code, (_, models) in _FLAGS.items() if m in models]
             for m in frame.model]
    frame["flag"] = [";".join(c) for c in codes]
    frame["fixed"] = frame.pop("fixed")
    frame.attrs.update({"fixes": fixes, "dropped": {},
                        "flags": {code: why for code, (why, _) in _FLAGS.items()},
                        "tasks": list(_TASKS)})
    return frame


def long_format(wide: pd.DataFrame) -> pd.DataFrame:
    """The tidy ``obsscaling`` frame melted to one row per (model, task) with a score."""
    ids = ["model", "family", "N", "tokens", "C", "flag", "fixed"]
    long = wide.melt(id_vars=ids, value_vars=_TASKS, var_name="task",
                     value_name="accuracy")
    missing = long.accuracy.isna()
    long = long[~missing].reset_index(drop=True)
    long["trials"] = long["task"].map(TASK_ITEMS)
    long["chance"] = long["task"].map(TASK_FLOOR)
    long.attrs = copy.deepcopy(wide.attrs)
    long.attrs["dropped"] = {"no score for that (model, task) in the file": int(missing.sum())}
    return long
