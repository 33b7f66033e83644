"""Observational scaling (Ruan, Maddison, Hashimoto 2024): per-family compute efficiency.

Ruan et al. find that downstream accuracy is a smooth, saturating function of log training
compute *within* a model family, and that families differ in compute efficiency: the same
capability costs some families far less compute than others (their Fig. 2-3). bayescale
refits this with families as a partially pooled grouping level:

    acc = 0.25 + 0.75 h_task sigmoid(slope_task (log C - log x50_{family, task}))

with ``log x50`` (the compute at the midpoint, i.e. the family's compute efficiency) varying
by family and by task (crossed, shared hyperpriors), slope and headroom by task, and a
Beta-Binomial likelihood on the benchmarks' known item counts (over-dispersed: models differ
beyond binomial noise). Tasks: MMLU, ARC-Challenge, HellaSwag (all 4-way multiple choice, so
chance = 0.25).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..datasets import obsscaling_long
from ..fit import Fit
from ..intervals import median_interval
from ..model import Model
from .result import Check, Estimate, Replication

PAPER = "Ruan 2024"
TASKS = ("MMLU", "ARC-C", "HellaSwag")   # 4-way multiple choice (the data's chance: 0.25)
CHANCE = 0.25
EFFICIENT = "Phi"  # trained on curated "textbook" data; Ruan et al. single it out as efficient


def replicate_obsscaling(*, draws: int = 1000, tune: int = 1000, chains: int = 4,
                         seed: int = 2024, sampler: str = "auto", prob: float = 0.95,
                         progressbar: bool = False, target_accept: float = 0.95,
                         **fit_kwargs: Any) -> Replication:
    """Fit per-family compute efficiency with shared hyperpriors and check the paper's
    qualitative findings."""
    runs = obsscaling_long()
    keep = runs["task"].isin(TASKS) & runs["C"].notna() & (runs["flag"] == "")
    runs = runs[keep].reset_index(drop=True)
    model = Model("sigmoid_accuracy:C", likelihood="beta_binomial", target="accuracy",
                  hierarchy={"x50": ["family", "task"], "slope": "task", "headroom": "task"},
                  fixed={"floor": CHANCE}, min_group_size=1)
    fit: Fit = model.fit(runs, draws=draws, tune=tune, chains=chains, seed=seed,
                         sampler=sampler, progressbar=progressbar, target_accept=target_accept,
                         **fit_kwargs)
    post = fit.posterior
    log_x50 = np.log(post["x50_by_family"])  # family effect with task effects at zero
    families = [str(f) for f in post["family"].values]
    medians = log_x50.median(("chain", "draw")).values
    order = np.argsort(medians)
    spread = post["log_x50_ref_sd_family"].values.ravel()

    def estimate(values: Any) -> Estimate:
        return Estimate(*median_interval(values, prob))

    rows: dict[str, dict[str, Estimate]] = {
        "family sd of log x50": {"bayescale": estimate(spread)},
        "least/most efficient x50": {"bayescale": estimate(np.exp(
            log_x50.isel(family=order[-1]) - log_x50.isel(family=order[0])).values)},
    }
    for task in TASKS:
        rows[f"slope[{task}]"] = {"bayescale": estimate(post["slope_by_task"].sel(task=task))}
        rows[f"headroom[{task}]"] = {
            "bayescale": estimate(post["headroom_by_task"].sel(task=task))}
    sd_low = rows["family sd of log x50"]["bayescale"].lower

    checks = []
    checks.append(Check(
        "families differ in compute efficiency (sd of log x50 across families > 0.5, i.e. "
        "a typical family needs >1.6x more or less compute than another)",
        sd_low > 0.5, f"sd = {rows['family sd of log x50']['bayescale'].fmt(3)}"))
    slopes_positive = {t: float(np.mean(post["slope_by_task"].sel(task=t).values > 0))
                       for t in TASKS}
    checks.append(Check(
        "within families, accuracy rises with log compute on every task (P(slope > 0) > 0.99)",
        all(v > 0.99 for v in slopes_positive.values()),
        ", ".join(f"{t}: {v:.3f}" for t, v in slopes_positive.items())))
    k = families.index(EFFICIENT)
    p_phi = float(np.mean(log_x50.isel(family=k).values < np.log(post["x50"].values)))
    checks.append(Check(
        f"{EFFICIENT} is more compute-efficient than a typical family "
        "(P(x50_Phi < population x50) > 0.95)", p_phi > 0.95, f"P = {p_phi:.3f}"))
    d = fit.diagnostics
    checks.append(Check("max R-hat <= 1.01 and no divergences",
                        d.max_rhat <= 1.01 and d.divergences == 0,
                        f"max R-hat {d.max_rhat:.4f}, divergences {d.divergences}"))

    def names(idx: Any) -> str:
        return ", ".join(f"{families[i]} ({np.exp(medians[i]):.2g})" for i in idx)

    findings = [
        f"Most compute-efficient families (median x50, FLOP): {names(order[:4])}.",
        f"Least efficient on these tasks: {names(order[::-1][:4])}.",
        f"Between the least and the most efficient family the compute for the same accuracy "
        f"differs by a factor {rows['least/most efficient x50']['bayescale'].fmt(3)}.",
        "The paper gives no per-family numbers to compare against; the checks test its "
        "qualitative findings. It fits a low-rank capability space from many benchmarks; here "
        "each task keeps its own slope and ceiling and families shift log compute.",
    ]
    return Replication(
        name="obsscaling",
        title="Observational scaling: per-family compute efficiency (Ruan et al. 2024)",
        prob=prob,
        references={PAPER: "Ruan, Maddison, Hashimoto 2024, arXiv:2405.10938 (qualitative "
                           "findings; no per-family estimates published)"},
        rows=rows, derived={}, checks=checks, findings=findings, fit=fit,
        protocol=(f"{len(runs)} (model, task) scores of {runs['model'].nunique()} base models "
                  f"in {runs['family'].nunique()} families with known training compute (MoE "
                  "and size-mismatch rows excluded); tasks MMLU, ARC-C, HellaSwag; "
                  "Beta-Binomial on item counts"),
        extras={"n_scores": len(runs), "families": families},
    )
