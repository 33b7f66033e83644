"""The latent-capability model on the obsscaling main table: fit time and sampling health.

    python benchmarks/capabilities_obsscaling.py [--dims 1] [--anchors GSM8K] [--seed 1]
        [--family-offsets] [--ceiling]

Fits :class:`bayescale.Capabilities` (Beta-Binomial on each task's items, floors from the
data's ``chance`` column) to every model with a compute estimate and no flag (8 tasks), 4
chains x 1,000 warm-up + 1,000 draws, and appends one record per run to
``benchmarks/results/capabilities_obsscaling.jsonl`` (table in ``.md``): seconds, divergences,
max R-hat, min bulk and tail ESS, the loadings, the ceilings (``--ceiling``), the families'
intercept-slope correlation and the three families with the highest capability at the
reference compute.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
from results_io import append_jsonl, write_text

import bayescale as bs


def code_version() -> str:
    """The commit the run's code is at, ``+`` when the working tree has changes to it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], check=False, capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    return (commit + ("+" if git("status", "--porcelain", "--", ":/bayescale") else "")
            if commit else "unknown")


def table_markdown(records: list[dict]) -> str:
    """One row per run."""
    lines = ["# Latent capabilities on obsscaling (4 x 1,000 + 1,000)", "",
             "| dims | anchors | offsets | ceiling | seed | rows | seconds | divergences | "
             "max R-hat | min ESS bulk/tail | rho | top families (capability at C_ref, P(best)) "
             "| code |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['dims']} | {r['anchors'] or '-'} | "
              f"{'yes' if r.get('family_offsets') else 'no'} | "
              f"{'yes' if r.get('ceiling') else 'no'} | {r['seed']} | {r['rows']} | "
              f"{r['seconds']} | {r['divergences']} | {r['max_rhat']} | "
              f"{r['min_ess_bulk']}/{r['min_ess_tail']} | "
              f"{'-' if r.get('line_correlation') is None else r['line_correlation']} | "
              f"{'; '.join(r['top_families'])} | {r.get('code', '-')} |"
              for r in records]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=1)
    parser.add_argument("--anchors", default="", help="comma-separated, dims - 1 names")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--family-offsets", action="store_true",
                        help="each family's own offset per benchmark")
    parser.add_argument("--ceiling", action="store_true",
                        help="estimate each benchmark's ceiling")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    scores = bs.datasets.obsscaling_long()
    scores = scores[scores["C"].notna() & (scores["flag"] == "")].reset_index(drop=True)
    spec = bs.Capabilities(dims=args.dims, columns={"benchmark": "task"},
                           family_offsets=args.family_offsets, ceiling=args.ceiling,
                           anchors=tuple(a for a in args.anchors.split(",") if a) or None)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = spec.fit(scores, seed=args.seed)
    seconds = time.perf_counter() - start
    d = fit.diagnostics
    loadings = fit.posterior["loadings"].mean(("chain", "draw"))
    top = fit.family_efficiency().head(3)
    record = {
        "dims": args.dims, "anchors": args.anchors, "seed": args.seed,
        "family_offsets": args.family_offsets, "ceiling": args.ceiling, "refits": d.refits,
        "rows": fit.data.n_rows, "models": len(fit.data.models),
        "families": len(fit.data.families), "seconds": round(seconds, 1),
        "divergences": d.divergences, "max_rhat": round(float(d.max_rhat), 4),
        "min_ess_bulk": round(float(d.min_ess_bulk)), "min_ess_tail": round(float(d.min_ess_tail)),
        "loadings_s1": {b: round(float(v), 3) for b, v in zip(
            fit.data.benchmarks, np.asarray(loadings)[:, 0], strict=True)},
        "headroom": ({b: round(float(v), 3) for b, v in zip(
            fit.data.benchmarks, np.asarray(fit.posterior["headroom"].mean(("chain", "draw"))),
            strict=True)} if args.ceiling else None),
        "line_correlation": (round(float(fit.posterior["line_correlation"].mean()), 3)
                             if "line_correlation" in fit.posterior else None),
        "top_families": [f"{r.family} ({r.intercept_median:.2f}, P(best) {r.prob_best:.2f})"
                         for r in top.itertuples()],
        "warnings": sorted({str(w.message)[:120] for w in caught
                            if issubclass(w.category, bs.SamplingWarning)}),
        "code": code_version(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = append_jsonl(record, out / "capabilities_obsscaling.jsonl")
    write_text(table_markdown(records), out / "capabilities_obsscaling.md")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
