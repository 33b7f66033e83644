"""Priors: inert, serialisable descriptions of a PyMC distribution.

A :class:`Prior` only stores a distribution name and its arguments; it becomes a PyMC random
variable when the model is built. Law and likelihood parameters carry their priors on the
*sampling* (unconstrained) scale: ``log`` for positive quantities, ``logit`` for proportions,
identity for real ones, so a prior ``Normal(mu=log(0.3), sigma=1)`` on ``alpha`` means
``log(alpha) ~ Normal(log 0.3, 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pymc as pm

__all__ = ["Prior", "DataScale"]

# Distributions a Prior may name: continuous, with a known support on the sampling scale.
_REAL_SUPPORT = {"Normal", "StudentT", "Cauchy", "Logistic", "Laplace", "SkewNormal"}
_POSITIVE_SUPPORT = {"HalfNormal", "HalfStudentT", "HalfCauchy", "Exponential", "Gamma",
                     "LogNormal", "InverseGamma", "Weibull"}


@dataclass(frozen=True)
class Prior:
    """A distribution by PyMC name, e.g. ``Prior("Normal", mu=0.0, sigma=1.0)``."""

    dist: str
    args: dict[str, float] = field(default_factory=dict)

    def __init__(self, dist: str, **args: float) -> None:
        if dist not in _REAL_SUPPORT | _POSITIVE_SUPPORT:
            raise ValueError(
                f"unknown prior distribution {dist!r}; expected one of "
                f"{sorted(_REAL_SUPPORT | _POSITIVE_SUPPORT)}"
            )
        for key, value in args.items():
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"prior {dist}: argument {key}={value!r} must be a finite number")
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "args", {k: float(v) for k, v in args.items()})

    @property
    def positive(self) -> bool:
        """Whether the distribution lives on (0, inf) (used for hierarchy scales)."""
        return self.dist in _POSITIVE_SUPPORT

    def create(self, name: str, *, args: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Create the PyMC random variable inside the current model context; ``args`` replaces
        the stored arguments by tensors of the same names (e.g. ``pm.Data`` variables)."""
        return getattr(pm, self.dist)(name, **(self.args if args is None else args), **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {"dist": self.dist, **self.args}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Prior:
        d = dict(d)
        return cls(d.pop("dist"), **d)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:.4g}" for k, v in self.args.items())
        return f"{self.dist}({args})"


@dataclass(frozen=True)
class DataScale:
    """Scale of the observed target, used to centre weakly-informative default priors."""

    y_min: float
    y_median: float
    y_max: float

    def to_dict(self) -> dict[str, float]:
        return {"y_min": self.y_min, "y_median": self.y_median, "y_max": self.y_max}
