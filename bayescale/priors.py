"""Priors: inert, serialisable descriptions of a PyMC distribution.

A :class:`Prior` only stores a distribution name and its arguments; it becomes a PyMC random
variable when the model is built. Law and likelihood parameters carry their priors on the
*sampling* (unconstrained) scale: ``log`` for positive quantities, ``logit`` for proportions,
identity for real ones, so a prior ``Normal(mu=log(0.3), sigma=1)`` on ``alpha`` means
``log(alpha) ~ Normal(log 0.3, 1)``.
"""

from __future__ import annotations

import difflib
import inspect
import math
from dataclasses import dataclass, field
from typing import Any

import pymc as pm

__all__ = ["Prior", "DataScale"]

# Distributions a Prior may name: continuous, with a known support on the sampling scale.
_REAL_SUPPORT = {"Normal", "StudentT", "Cauchy", "Logistic", "Laplace", "SkewNormal"}
_POSITIVE_SUPPORT = {"HalfNormal", "HalfStudentT", "HalfCauchy", "Exponential", "Gamma",
                     "LogNormal", "InverseGamma", "Weibull"}
# Names users carry over from other libraries, and PyMC's name for them.
_ALIASES = {"mean": "mu", "loc": "mu", "sd": "sigma", "std": "sigma", "scale": "sigma",
            "df": "nu", "rate": "beta"}


def _arguments(dist: str) -> tuple[list[str], list[str]]:
    """(every argument name, the required ones) of PyMC's ``dist``."""
    params = inspect.signature(getattr(pm, dist).dist).parameters.values()
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
             and p.name != "cls"]
    return [p.name for p in named], [p.name for p in named if p.default is p.empty]


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
        names, required = _arguments(dist)
        for key, value in args.items():
            if key not in names:
                guess = _ALIASES.get(key) if _ALIASES.get(key) in names else next(
                    iter(difflib.get_close_matches(key, names, n=1)), None)
                hint = f" (did you mean {guess!r}?)" if guess else ""
                raise ValueError(f"prior {dist}: unknown argument {key!r}{hint}; {dist} takes "
                                 f"{', '.join(names)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise ValueError(f"prior {dist}: argument {key}={value!r} must be a finite number")
        missing = [name for name in required if name not in args]
        if missing:
            raise ValueError(f"prior {dist}: missing required argument(s) {', '.join(missing)}")
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
