"""Scaling laws: named functional forms, evaluated in log space.

A :class:`Law` has named inputs (``N``, ``D``, ``C`` ...), named parameters with their support
and default priors, and a function ``log_mean(x, p)`` that returns ``log L`` given the *log*
inputs ``x[name] = log(input)`` and the parameters ``p`` (natural values ``p["A"]`` and, for
positive parameters, ``p["log_A"]``). Sums of positive terms are evaluated with ``logsumexp`` so
the gradient NUTS sees stays finite over many orders of magnitude.

Coefficients of power terms are sampled at a reference input ``x0`` (the geometric mean of the
fitted data): ``A N^-alpha = A_ref (N/x0)^-alpha`` with ``log A = log A_ref + alpha log x0``.
``A_ref`` (the term's value in the middle of the data) is nearly uncorrelated with ``alpha``,
which is what makes the posterior easy for NUTS; ``A`` on the natural scale is reported as a
derived quantity. Hierarchies therefore pool ``log A_ref``, the term's size where the data are.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pytensor.tensor as pt

from .priors import DataScale, Prior

__all__ = ["Param", "Law", "get_law", "register_law", "law_from_function", "available_laws",
           "chinchilla", "power_law", "kaplan"]

Support = Literal["positive", "real", "unit"]
_LINK = {"positive": "log", "real": "identity", "unit": "logit"}
PriorSpec = Prior | Callable[[DataScale], Prior]


@dataclass(frozen=True)
class Param:
    """A parameter of a law or likelihood.

    support: ``positive`` (sampled as log), ``unit`` (logit) or ``real`` (identity).
    prior: prior on the sampling scale, or a function of the data's :class:`DataScale`.
    reference: ``(input, exponent)`` for a coefficient sampled at the data's reference input,
        natural ``log p = log p_ref + exponent * log x0``; ``exponent`` names another parameter
        or is a number.
    """

    support: Support
    prior: PriorSpec
    description: str = ""
    reference: tuple[str, str | float] | None = None

    @property
    def link(self) -> str:
        return _LINK[self.support]

    def sampling_name(self, name: str) -> str:
        """Name of the sampled (unconstrained) variable, e.g. ``log_A_ref`` or ``log_alpha``."""
        base = name if self.link == "identity" else f"{self.link}_{name}"
        return f"{base}_ref" if self.reference is not None else base

    def default_prior(self, scale: DataScale) -> Prior:
        return self.prior(scale) if callable(self.prior) else self.prior


LogMean = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Law:
    """A named scaling law ``log L = log_mean(log inputs, parameters)``."""

    name: str
    inputs: tuple[str, ...]
    params: Mapping[str, Param]
    log_mean: LogMean
    formula: str
    source: str = ""
    options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for pname, par in self.params.items():
            if par.support not in _LINK:
                raise ValueError(f"law {self.name}: parameter {pname} has unknown support "
                                 f"{par.support!r}; expected one of {sorted(_LINK)}")
            if par.reference is not None:
                inp, exponent = par.reference
                if inp not in self.inputs:
                    raise ValueError(f"law {self.name}: {pname} references unknown input {inp!r}")
                if isinstance(exponent, str) and exponent not in self.params:
                    raise ValueError(f"law {self.name}: {pname} references unknown exponent "
                                     f"parameter {exponent!r}")
                if par.support != "positive":
                    raise ValueError(f"law {self.name}: reference parameter {pname} must be "
                                     "positive")

    def __str__(self) -> str:
        return f"{self.name}: {self.formula}"

    def evaluate(self, inputs: Mapping[str, Any], params: Mapping[str, float]) -> np.ndarray:
        """Evaluate the law on the natural scale with numpy inputs and natural parameter values.

        Used for simulation and checks; the fit and the predictions use the same ``log_mean``.
        """
        x = {k: pt.as_tensor_variable(np.log(np.asarray(inputs[k], dtype=float)))
             for k in self.inputs}
        p: dict[str, Any] = {}
        for name, par in self.params.items():
            value = float(params[name])
            p[name] = pt.as_tensor_variable(value)
            if par.support == "positive":
                p[f"log_{name}"] = pt.as_tensor_variable(np.log(value))
        return np.exp(self.log_mean(x, p).eval())


def logsumexp_terms(*terms: Any) -> Any:
    """``log(sum_i exp(t_i))`` over broadcast terms, stable for large magnitudes."""
    return pt.logsumexp(pt.stack(pt.broadcast_arrays(*terms)), axis=0)


# ---------------------------------------------------------------------------- default priors
def _irreducible_prior(s: DataScale) -> Prior:
    # E sits below the smallest observed value: centre at half of it, +-1 on the log scale.
    return Prior("Normal", mu=float(np.log(s.y_min / 2)), sigma=1.0)


def _term_at_reference_prior(s: DataScale) -> Prior:
    # A term's contribution in the middle of the data is a fraction of the typical value.
    return Prior("Normal", mu=float(np.log(s.y_median / 3)), sigma=1.5)


_EXPONENT_PRIOR = Prior("Normal", mu=float(np.log(0.3)), sigma=1.0)


# ---------------------------------------------------------------------------- built-in laws
def chinchilla() -> Law:
    """Chinchilla (Hoffmann et al. 2022, Approach 3): ``L = E + A N^-alpha + B D^-beta``."""

    def log_mean(x: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
        return logsumexp_terms(p["log_E"] + 0 * x["N"],
                               p["log_A"] - p["alpha"] * x["N"],
                               p["log_B"] - p["beta"] * x["D"])

    return Law(
        name="chinchilla", inputs=("N", "D"), log_mean=log_mean,
        formula="L = E + A N^-alpha + B D^-beta",
        source="Hoffmann et al. 2022, arXiv:2203.15556 (Approach 3)",
        params={
            "E": Param("positive", _irreducible_prior, "irreducible loss"),
            "A": Param("positive", _term_at_reference_prior, "parameter-term coefficient",
                       reference=("N", "alpha")),
            "B": Param("positive", _term_at_reference_prior, "data-term coefficient",
                       reference=("D", "beta")),
            "alpha": Param("positive", _EXPONENT_PRIOR, "parameter exponent"),
            "beta": Param("positive", _EXPONENT_PRIOR, "data exponent"),
        },
    )


def power_law(x: str = "x") -> Law:
    """Saturating power law in one input of the user's choosing: ``L = E + A x^-alpha``
    (Henighan et al. 2020, arXiv:2010.14701)."""

    def log_mean(xs: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
        return logsumexp_terms(p["log_E"] + 0 * xs[x], p["log_A"] - p["alpha"] * xs[x])

    return Law(
        name="power_law", inputs=(x,), log_mean=log_mean, options={"x": x},
        formula=f"L = E + A {x}^-alpha",
        source="Henighan et al. 2020, arXiv:2010.14701",
        params={
            "E": Param("positive", _irreducible_prior, "irreducible loss"),
            "A": Param("positive", _term_at_reference_prior, f"coefficient of {x}",
                       reference=(x, "alpha")),
            "alpha": Param("positive", _EXPONENT_PRIOR, f"exponent of {x}"),
        },
    )


def kaplan() -> Law:
    """Kaplan et al. 2020, eq. 1.5: ``L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D``.

    Published: N_c = 8.8e13, D_c = 5.4e13, alpha_N = 0.076, alpha_D = 0.095 (non-embedding
    parameters, tokens). ``N_c`` and ``D_c`` are sampled relative to the data's reference N, D.
    """

    def log_mean(x: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
        ratio = p["alpha_N"] / p["alpha_D"]
        return p["alpha_D"] * logsumexp_terms(ratio * (p["log_N_c"] - x["N"]),
                                              p["log_D_c"] - x["D"])

    scale_prior = Prior("Normal", mu=5.0, sigma=5.0)
    return Law(
        name="kaplan", inputs=("N", "D"), log_mean=log_mean,
        formula="L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D",
        source="Kaplan et al. 2020, arXiv:2001.08361, eq. 1.5",
        params={
            "N_c": Param("positive", scale_prior, "parameter scale", reference=("N", 1.0)),
            "D_c": Param("positive", scale_prior, "data scale", reference=("D", 1.0)),
            "alpha_N": Param("positive", Prior("Normal", mu=float(np.log(0.1)), sigma=1.0),
                             "parameter exponent"),
            "alpha_D": Param("positive", Prior("Normal", mu=float(np.log(0.1)), sigma=1.0),
                             "data exponent"),
        },
    )


# ---------------------------------------------------------------------------- user laws
_DEFAULT_PRIOR_BY_SUPPORT = {
    "positive": Prior("Normal", mu=0.0, sigma=2.0),
    "real": Prior("Normal", mu=0.0, sigma=2.0),
    "unit": Prior("Normal", mu=0.0, sigma=1.5),
}


def law_from_function(fn: Callable[..., Any], *, params: Mapping[str, Support | Param],
                      name: str | None = None, formula: str | None = None,
                      log_space: bool = False, source: str = "user-defined") -> Law:
    """Make a law from a plain function of named inputs and parameters.

    ``fn(N, D, E, A, alpha)`` returns the natural-scale value (or its log with
    ``log_space=True``) using arithmetic operators and ``pytensor.tensor`` functions; every
    argument that is not in ``params`` is an input. ``params`` maps a name to its support
    (``"positive"``, ``"real"``, ``"unit"``; default prior Normal(0, 2) on the sampling scale)
    or to a full :class:`Param`.

    >>> law = law_from_function(lambda C, E, A, a: E + A * C**-a,
    ...                         params={"E": "positive", "A": "positive", "a": "positive"})
    """
    arg_names = list(inspect.signature(fn).parameters)
    unknown = set(params) - set(arg_names)
    if unknown:
        raise ValueError(f"parameters {sorted(unknown)} are not arguments of {fn.__name__}"
                         f"({', '.join(arg_names)})")
    inputs = tuple(a for a in arg_names if a not in params)
    if not inputs:
        raise ValueError(f"{fn.__name__} has no inputs: every argument is a parameter")
    full = {k: v if isinstance(v, Param) else Param(v, _DEFAULT_PRIOR_BY_SUPPORT[v])
            for k, v in params.items()}

    def log_mean(x: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
        value = fn(**{k: pt.exp(x[k]) for k in inputs}, **{k: p[k] for k in full})
        return value if log_space else pt.log(value)

    law_name = name or getattr(fn, "__name__", "custom")
    if law_name == "<lambda>":
        law_name = "custom"
    return Law(name=law_name, inputs=inputs, params=full, log_mean=log_mean,
               formula=formula or f"{law_name}({', '.join(arg_names)})", source=source)


# ---------------------------------------------------------------------------- registry
_REGISTRY: dict[str, Callable[..., Law]] = {
    "chinchilla": chinchilla,
    "power_law": power_law,
    "kaplan": kaplan,
}


def register_law(law: Law | Callable[..., Law], name: str | None = None) -> None:
    """Make a law loadable by name (needed to reload a saved fit of a user-defined law)."""
    factory = (lambda **_: law) if isinstance(law, Law) else law
    _REGISTRY[name or (law.name if isinstance(law, Law) else law.__name__)] = factory


def available_laws() -> list[str]:
    return sorted(_REGISTRY)


def get_law(spec: str | Law, **options: str) -> Law:
    """A law by name; ``"power_law:C"`` chooses the input of a one-input law."""
    if isinstance(spec, Law):
        return spec
    name, _, arg = spec.partition(":")
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown law {name!r}.{hint} Available: {', '.join(available_laws())}")
    if arg:
        options = {**options, "x": arg}
    try:
        return _REGISTRY[name](**options)
    except TypeError as err:
        raise ValueError(f"law {name!r} does not take options {options}: {err}") from None
