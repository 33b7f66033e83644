"""Observational scaling's capability space (Ruan, Maddison, Hashimoto 2024), refitted as a
latent-capability model.

Ruan et al. find that a few principal components of benchmark scores explain most of their
variance across public base models (a low-dimensional "capability space", their Sec. 3.2),
that the first component rises linearly with log compute within each family, and that
families differ in compute efficiency (Phi among the most efficient). This replication
computes their PCA on the same table (:class:`bayescale.observational.PCAScaling`) and fits
:class:`bayescale.capabilities.Capabilities` (K = 1): the share of the scores' variance
each explains, in the same units (``1 - SSE / SST`` with ``SST`` the sum over benchmarks of
squared deviations from each benchmark's mean), and the paper's qualitative findings as
checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..capabilities import Capabilities, CapabilityFit
from ..datasets import obsscaling_long
from ..intervals import median_interval
from ..observational import PCAScaling
from .result import Check, Estimate, Replication

PAPER = "Ruan 2024 (PCA)"
EFFICIENT = "Phi"   # trained on curated "textbook" data; Ruan et al. single it out
COLUMNS = {"benchmark": "task"}


def explained_share(fit: CapabilityFit) -> tuple[float, np.ndarray]:
    """``1 - SSE / SST`` of the fitted mean scores ``p`` (the fit's rows; ``SST`` around each
    benchmark's mean score): of the posterior mean of ``p`` (a point reconstruction, like
    PCA's), and per posterior draw (each draw's ``p`` carries that draw's parameter noise,
    so its share is lower)."""
    d = fit.data
    col = fit.spec.column
    rows = pd.DataFrame({col("model"): np.asarray(d.models)[d.row_model],
                         col("benchmark"): np.asarray(d.benchmarks)[d.row_benchmark],
                         col("floor"): d.floor})
    p = fit.predict(rows, kind="draws")                 # (samples, rows): the mean scores
    centre = pd.Series(d.score).groupby(d.row_benchmark).transform("mean").to_numpy()
    total = ((d.score - centre) ** 2).sum()
    return (float(1 - ((d.score - p.mean(axis=0)) ** 2).sum() / total),
            1 - ((d.score - p) ** 2).sum(axis=1) / total)


def replicate_obsscaling_capabilities(*, draws: int = 1000, tune: int = 1000, chains: int = 4,
                                      seed: int = 2024, prob: float = 0.95,
                                      target_accept: float = 0.9, sampler: str = "auto",
                                      progressbar: bool = False) -> Replication:
    """Fit the latent-capability model and Ruan et al.'s PCA to the obsscaling main table
    and check the paper's findings (module docstring). The model samples with numpyro
    (``sampler`` "auto" or "numpyro"), all chains in one program (no progress bar)."""
    if sampler not in ("auto", "numpyro"):
        raise ValueError(f"the latent-capability model samples with numpyro; got sampler "
                         f"{sampler!r}")
    del progressbar
    scores = obsscaling_long()
    scores = scores[scores["C"].notna() & (scores["flag"] == "")].reset_index(drop=True)
    fit = Capabilities(columns=COLUMNS).fit(scores, draws=draws, tune=tune, chains=chains,
                                            seed=seed, target_accept=target_accept)
    pca = PCAScaling(columns=COLUMNS, bootstrap=0).fit(scores, seed=seed)
    share_pca = np.cumsum(pca.explained_variance())
    share_mean, share_draws = explained_share(fit)

    def estimate(values: Any) -> Estimate:
        return Estimate(*median_interval(np.asarray(values), prob))

    rows: dict[str, dict[str, Estimate]] = {
        f"variance explained, {k} component{'s' * (k > 1)}": {PAPER: Estimate(share_pca[k - 1])}
        for k in (1, 2, 3)}
    rows["variance explained, latent K = 1 (posterior mean)"] = {
        "bayescale": Estimate(share_mean)}
    rows["variance explained, latent K = 1 (per draw)"] = {"bayescale": estimate(share_draws)}
    loadings = fit.posterior["loadings"].sel(capability="s1")
    pc1 = pca.loadings()["PC1"].to_dict()
    for bench in fit.data.benchmarks:
        rows[f"loading[{bench}]"] = {PAPER: Estimate(pc1[bench]),
                                     "bayescale": estimate(loadings.sel(benchmark=bench))}
    eff = fit.family_efficiency(ci_prob=prob)
    phi = eff.set_index("family").loc[EFFICIENT]
    intercept = fit.posterior["intercept_by_family"].sel(family=EFFICIENT, capability="s1")
    p_phi = float((intercept.values > 0).mean())
    d = fit.diagnostics
    positive = {b: float((loadings.sel(benchmark=b).values > 0).mean())
                for b in fit.data.benchmarks}
    rank_corr = float(pd.Series(pc1).rank().corr(pd.Series(
        {b: float(loadings.sel(benchmark=b).median()) for b in pc1}).rank()))
    checks = [
        Check("a low-dimensional capability space: 3 principal components explain > 90% of "
              "the scores' variance", share_pca[2] > 0.9,
              f"{', '.join(f'{v:.3f}' for v in share_pca[:3])} (1, 2, 3 components)"),
        Check("one latent dimension explains at least what the first principal component "
              "does (both point reconstructions: the posterior mean scores, PC1)",
              share_mean >= share_pca[0],
              f"latent {share_mean:.3f} (per draw {estimate(share_draws).fmt(3)}) vs PC1 "
              f"{share_pca[0]:.3f}"),
        Check("the latent dimension and PC1 order the benchmarks' loadings alike (Spearman "
              "> 0.5)", rank_corr > 0.5, f"Spearman {rank_corr:.2f}"),
        Check("capability rises with compute on most benchmarks (P(loading > 0) > 0.99 on "
              ">= 6 of 8)", sum(v > 0.99 for v in positive.values()) >= 6,
              ", ".join(f"{b} {v:.3f}" for b, v in positive.items())),
        Check(f"{EFFICIENT} is more capable than the average family at the same compute "
              f"(P(intercept > 0) > 0.95)", p_phi > 0.95, f"P = {p_phi:.3f}"),
        Check("max R-hat <= 1.01 and no divergences",
              d.max_rhat <= 1.01 and d.divergences == 0,
              f"max R-hat {d.max_rhat:.4f}, divergences {d.divergences}"),
    ]
    top = eff.head(4)
    findings = [
        "Most capable families per unit of compute (capability at the reference compute, "
        "P(best)): " + ", ".join(f"{r.family} ({r.intercept_median:.2f}, {r.prob_best:.2f})"
                                 for r in top.itertuples()) + ".",
        f"{EFFICIENT}: capability {phi.intercept_median:.2f} e-folds of compute above the "
        "average family at the reference compute.",
        "The paper reports its components' shares in a figure, not as numbers; the PCA column "
        "is its method recomputed here on the same table (the models with a compute "
        "estimate). Loadings: PC1's are on the score scale, the latent model's are logit "
        "per e-fold of compute; only their order is compared.",
    ]
    return Replication(
        name="obsscaling-capabilities",
        title="Observational scaling's capability space (Ruan et al. 2024) as a latent model",
        prob=prob, references={PAPER: "Ruan, Maddison, Hashimoto 2024, arXiv:2405.10938: "
                                      "their PCA recomputed on the same table"},
        rows=rows, derived={}, checks=checks, findings=findings, fit=fit,
        protocol=(f"{fit.data.n_rows} scores of {len(fit.data.models)} base models in "
                  f"{len(fit.data.families)} families with known compute (MoE and "
                  "size-mismatch rows excluded), 8 benchmarks; latent model K = 1, "
                  "Beta-Binomial on item counts, floors at chance"),
        extras={"n_scores": fit.data.n_rows, "explained_pca": share_pca[:3].tolist(),
                "explained_latent": share_mean},
    )
