"""The shape every replication returns: reference values, bayescale's posterior, checks."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..capabilities import CapabilityFit
from ..fit import Fit


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def __post_init__(self) -> None:   # numpy comparisons give np.bool_, which JSON refuses
        object.__setattr__(self, "passed", bool(self.passed))


@dataclass(frozen=True)
class Estimate:
    """A published value (estimate, optional interval) or a posterior (median, interval)."""

    value: float
    lower: float = math.nan
    upper: float = math.nan

    def fmt(self, digits: int = 4) -> str:
        v = f"{self.value:.{digits}g}" if math.isfinite(self.value) else "-"
        if math.isfinite(self.lower):
            return f"{v} [{self.lower:.{digits}g}, {self.upper:.{digits}g}]"
        return v


@dataclass
class Replication:
    """A refit of a published result with bayescale, compared with the published numbers."""

    name: str
    title: str
    prob: float
    references: dict[str, str]                 # column label -> citation
    rows: dict[str, dict[str, Estimate]]       # quantity -> column label -> value
    derived: dict[str, str]                    # quantity -> "derived" key in JSON
    checks: list[Check]
    findings: list[str]
    fit: Fit | CapabilityFit
    protocol: str
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        d = self.fit.diagnostics
        ours = "bayescale"

        def post(q: str) -> dict[str, float]:
            e = self.rows[q][ours]
            return {"median": e.value, "lower": e.lower, "upper": e.upper, "prob": self.prob}

        out: dict[str, Any] = {
            "replication": self.name, "title": self.title, "protocol": self.protocol,
            "parameters": {q: post(q) for q in self.rows
                           if q not in self.derived and ours in self.rows[q]},
            "diagnostics": {"max_rhat": d.max_rhat, "divergences": d.divergences,
                            "min_ess_bulk": d.min_ess_bulk, "min_ess_tail": d.min_ess_tail,
                            "chains": d.chains, "draws": d.draws, "sampler": d.sampler,
                            "sampling_seconds": d.sampling_seconds},
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail}
                       for c in self.checks],
            "passed": self.passed,
            "references": {
                label: {q: {"estimate": r[label].value, "lower": r[label].lower,
                            "upper": r[label].upper}
                        for q, r in self.rows.items() if label in r}
                for label in self.references},
            "findings": self.findings,
        }
        for q, key in self.derived.items():
            out[key] = post(q)
        out.update(self.extras)
        return json.loads(json.dumps(out, allow_nan=True).replace("NaN", "null"))

    def to_text(self) -> str:
        labels = [*self.references, "bayescale"]
        width = {lb: max(len(lb), *(len(self.rows[q].get(lb, Estimate(math.nan)).fmt())
                                    for q in self.rows)) for lb in labels}
        qwidth = max(len(q) for q in self.rows) + 2
        header = "quantity".ljust(qwidth) + "  ".join(lb.ljust(width[lb]) for lb in labels)
        lines = [self.title, f"protocol: {self.protocol}",
                 f"intervals: {100 * self.prob:g}% (published: as reported; bayescale: "
                 "posterior median and equal-tailed interval)", "", header, "-" * len(header)]
        for q, cols in self.rows.items():
            lines.append(q.ljust(qwidth) + "  ".join(
                cols.get(lb, Estimate(math.nan)).fmt().ljust(width[lb]) for lb in labels))
        lines.append("")
        for label, cite in self.references.items():
            lines.append(f"{label}: {cite}")
        d = self.fit.diagnostics
        lines += ["", f"sampler: {d.sampler}, {d.chains} chains x {d.draws} draws, "
                      f"{d.sampling_seconds:.1f} s; max R-hat {d.max_rhat:.4f}, divergences "
                      f"{d.divergences}, min bulk ESS {d.min_ess_bulk:.0f}", "", "checks:"]
        for c in self.checks:
            lines.append(f"  [{'PASS' if c.passed else 'FAIL'}] {c.name}: {c.detail}")
        lines += ["", "findings:"] + [f"  - {f}" for f in self.findings]
        lines.append(f"\nresult: {'PASS' if self.passed else 'FAIL'}")
        return "\n".join(lines)
