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
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pytensor
import pytensor.tensor as pt

from .priors import DataScale, Prior

__all__ = ["Param", "Law", "get_law", "register_law", "unregister_law", "law_from_function",
           "available_laws",
           "chinchilla", "power_law", "kaplan", "compute_law", "data_constrained",
           "overtraining", "broken_power_law", "sigmoid_accuracy", "pass_at_k", "loss_to_loss",
           "rectified", "log_bounded_sigmoid"]

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
    fixed_support: where a known constant (``Model(fixed=...)``) may lie, when wider than
        ``support``: ``"unit_low"`` ([0, 1)) for a floor that is 0 on open-ended tasks.
    """

    support: Support
    prior: PriorSpec
    description: str = ""
    reference: tuple[str, str | float] | None = None
    fixed_support: str | None = None

    @property
    def link(self) -> str:
        return _LINK[self.support]

    def sampling_name(self, name: str) -> str:
        """Name of the sampled (unconstrained) variable, e.g. ``log_A_ref`` or ``log_alpha``."""
        base = name if self.link == "identity" else f"{self.link}_{name}"
        return f"{base}_ref" if self.reference is not None else base

    def default_prior(self, scale: DataScale) -> Prior:
        return self.prior(scale) if callable(self.prior) else self.prior

    def to_sampling(self, natural: Any) -> Any:
        """Natural values on the sampling scale (log, logit or as is): a float for a number,
        an array for an array, a tensor for a tensor (per-run constants of
        ``Model(fixed={param: column})`` in the model's graph)."""
        symbolic = isinstance(natural, pytensor.graph.basic.Variable)
        x = natural if symbolic else np.asarray(natural, dtype=float)
        log = pt.log if symbolic else np.log
        if self.link == "log":
            x = log(x)
        elif self.link == "logit":
            x = log(x / (1 - x))
        return x if symbolic or x.ndim else float(x)


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
    #: ``L = floor + sum_j coefficient_j (x_j / x0_j)^-exponent_j`` exactly: the floor's name and
    #: the (coefficient, exponent) of each term; lets a hierarchy use curve coordinates
    #: (:mod:`bayescale.coordinates`).
    floor: str | None = None
    curve_terms: tuple[tuple[str, str], ...] = ()
    #: compiled :meth:`evaluate` functions by the inputs' numbers of dimensions
    _evaluators: dict[tuple[int, ...], Any] = field(default_factory=dict, init=False,
                                                    repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.curve_terms and (self.floor not in self.params
                                 or self.params[self.floor].support != "positive"):
            raise ValueError(f"law {self.name}: curve_terms need a positive floor parameter, "
                             f"got floor={self.floor!r}")
        for coef, exponent in self.curve_terms:
            par = self.params.get(coef)
            if par is None or par.reference is None or par.reference[1] != exponent \
                    or self.params.get(exponent, par).support != "positive":
                raise ValueError(f"law {self.name}: curve term ({coef!r}, {exponent!r}) needs a "
                                 f"coefficient sampled at a reference input with exponent "
                                 f"{exponent!r}, both positive")
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
        The function is compiled once per law and shape of inputs (a simulation of many
        groups calls it once per group).
        """
        logs = [np.log(np.asarray(inputs[k], dtype=float)) for k in self.inputs]
        values = [float(params[name]) for name in self.params]
        ndims = tuple(v.ndim for v in logs)
        function = self._evaluators.get(ndims)
        if function is None:
            x = {k: pt.tensor(f"log_{k}", shape=(None,) * n, dtype="float64")
                 for k, n in zip(self.inputs, ndims, strict=True)}
            natural = {name: pt.scalar(name, dtype="float64") for name in self.params}
            p: dict[str, Any] = dict(natural)
            for name, par in self.params.items():
                if par.support == "positive":
                    p[f"log_{name}"] = pt.log(natural[name])
            # Python implementations, no C compilation: a simulation needs no speed per call
            # that the compiler's seconds (and its lock on the cache directory) would repay.
            function = pytensor.function([*x.values(), *natural.values()],
                                         pt.exp(self.log_mean(x, p)), on_unused_input="ignore",
                                         mode="FAST_COMPILE")
            self._evaluators[ndims] = function
        return np.asarray(function(*logs, *values), dtype=float)


def logsumexp_terms(*terms: Any) -> Any:
    """``log(sum_i exp(t_i))`` over broadcast terms, stable for large magnitudes."""
    return pt.logsumexp(pt.stack(pt.broadcast_arrays(*terms)), axis=0)


def log_bounded_sigmoid(floor: Any, headroom: Any, eta: Any) -> Any:
    """``log(floor + (1 - floor) headroom sigmoid(eta))``: an accuracy rising from a floor
    (chance) towards a ceiling ``floor + (1 - floor) headroom``; ``floor`` may be 0."""
    rise = pt.log1p(-floor) + pt.log(headroom) - pt.softplus(-eta)
    return logsumexp_terms(pt.log(floor) + 0 * eta, rise)


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
        floor="E", curve_terms=(("A", "alpha"), ("B", "beta")),
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
        floor="E", curve_terms=(("A", "alpha"),),
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


def compute_law() -> Law:
    """Loss against training compute: ``L = E + A C^-alpha`` (Kaplan et al. 2020, Hoffmann et
    al. 2022 Fig. 1 style envelope)."""
    return replace(power_law("C"), name="compute", options={},
                   source="Kaplan et al. 2020, arXiv:2001.08361; L(C) envelope")


def data_constrained() -> Law:
    """Data-constrained scaling (Muennighoff et al. 2023, arXiv:2305.16264, eq. 5):
    ``L = E + A N'^-alpha + B D'^-beta`` with effective data and parameters

        D' = U_D + U_D R*_D (1 - exp(-R_D / R*_D)),   R_D = D / U_D - 1
        N' = U_N + U_N R*_N (1 - exp(-R_N / R*_N)),   R_N = N / U_N - 1

    where ``U`` (input) is the number of unique tokens, ``U_D = min(U, D)`` and
    ``U_N = min(N, N_opt(U_D))`` with ``N_opt(U_D) = (alpha A / (beta B))^(1/alpha)
    U_D^(beta/alpha)``, the model size for which ``U_D`` tokens are compute-optimal under the
    law itself. Published: R*_D = 15.4, R*_N = 5.3, E = 1.87, A = 521, B = 1488,
    alpha = beta = 0.353.
    """

    def log_mean(x: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
        log_ud = pt.minimum(x["U"], x["D"])
        log_nopt = ((pt.log(p["alpha"]) + p["log_A"] - pt.log(p["beta"]) - p["log_B"])
                    / p["alpha"] + p["beta"] / p["alpha"] * log_ud)
        log_un = pt.minimum(x["N"], log_nopt)

        def effective(log_total: Any, log_unique: Any, rstar: Any) -> Any:
            repeats = pt.exp(log_total - log_unique) - 1.0
            return log_unique + pt.log1p(rstar * -pt.expm1(-repeats / rstar))

        log_d = effective(x["D"], log_ud, p["R_D"])
        log_n = effective(x["N"], log_un, p["R_N"])
        return logsumexp_terms(p["log_E"] + 0 * x["N"], p["log_A"] - p["alpha"] * log_n,
                               p["log_B"] - p["beta"] * log_d)

    rstar = Prior("Normal", mu=float(np.log(10.0)), sigma=1.5)
    base = chinchilla().params
    return Law(
        name="data_constrained", inputs=("N", "D", "U"), log_mean=log_mean,
        formula="L = E + A N'^-alpha + B D'^-beta, D' = U_D(1 + R*_D(1 - exp(-R_D/R*_D))), "
                "N' likewise",
        source="Muennighoff et al. 2023, arXiv:2305.16264",
        params={**base,
                "R_D": Param("positive", rstar, "repetitions of data worth half their value"),
                "R_N": Param("positive", rstar, "excess parameters' decay constant")},
    )


def overtraining() -> Law:
    """Over-training (Gadre et al. 2024, arXiv:2403.08540, eq. 4):
    ``L(C, M) = E + (a M^eta + b M^-eta) C^-eta`` with ``M = D/N`` tokens per parameter and
    ``C = 6ND``; inputs ``C`` and ``M``."""

    def log_mean(x: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
        shape = logsumexp_terms(p["log_a"] + p["eta"] * x["M"], p["log_b"] - p["eta"] * x["M"])
        return logsumexp_terms(p["log_E"] + 0 * x["C"], shape - p["eta"] * x["C"])

    return Law(
        name="overtraining", inputs=("C", "M"), log_mean=log_mean,
        formula="L = E + (a M^eta + b M^-eta) C^-eta, M = D/N",
        source="Gadre et al. 2024, arXiv:2403.08540",
        params={
            "E": Param("positive", _irreducible_prior, "irreducible loss"),
            "a": Param("positive", _term_at_reference_prior, "over-training coefficient",
                       reference=("C", "eta")),
            "b": Param("positive", _term_at_reference_prior, "under-training coefficient",
                       reference=("C", "eta")),
            "eta": Param("positive", Prior("Normal", mu=float(np.log(0.1)), sigma=1.0),
                         "compute exponent"),
        },
    )


def broken_power_law(x: str = "x", breaks: int | str = 1) -> Law:
    """Smoothly broken power law (Caballero et al. 2023, arXiv:2210.14891, eq. 1):
    ``y = a + b x^-c0 prod_i (1 + (x/d_i)^(1/f_i))^(-c_i f_i)``, ``breaks`` breaks."""
    breaks = int(breaks)
    if breaks < 1:
        raise ValueError(f"broken_power_law needs breaks >= 1, got {breaks}")

    def log_mean(xs: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
        lx = xs[x]
        body = p["log_b"] - p["c0"] * lx
        for i in range(1, breaks + 1):
            f = p[f"f{i}"]
            body = body - p[f"c{i}"] * f * pt.softplus((lx - p[f"log_d{i}"]) / f)
        return logsumexp_terms(p["log_a"] + 0 * lx, body)

    params = {
        "a": Param("positive", _irreducible_prior, "limit as x grows"),
        "b": Param("positive", _term_at_reference_prior, "scale of the decaying term",
                   reference=(x, "c0")),
        "c0": Param("real", Prior("Normal", mu=0.3, sigma=1.0), "initial slope"),
    }
    for i in range(1, breaks + 1):
        params[f"c{i}"] = Param("real", Prior("Normal", mu=0.0, sigma=1.0),
                                f"change of slope at break {i}")
        params[f"d{i}"] = Param("positive", Prior("Normal", mu=0.0, sigma=2.0),
                                f"location of break {i}", reference=(x, 1.0))
        params[f"f{i}"] = Param("positive", Prior("Normal", mu=float(np.log(0.5)), sigma=1.0),
                                f"sharpness of break {i} (smaller is sharper)")
    terms = " ".join(f"(1 + ({x}/d{i})^(1/f{i}))^(-c{i} f{i})" for i in range(1, breaks + 1))
    return Law(name="broken_power_law", inputs=(x,), log_mean=log_mean, params=params,
               options={"x": x, "breaks": str(breaks)},
               formula=f"y = a + b {x}^-c0 {terms}",
               source="Caballero et al. 2023, arXiv:2210.14891 (BNSL)")


def sigmoid_accuracy(x: str = "C", scale: str = "log") -> Law:
    """Saturating downstream accuracy (Ruan et al. 2024, arXiv:2405.10938; Gadre et al. 2024):
    ``acc = floor + (ceiling - floor) sigmoid(slope (z - z50))``, ``ceiling = floor +
    (1 - floor) headroom``, ``z = log x`` (``scale="log"``, e.g. compute) or ``z = x``
    (``scale="identity"``, e.g. a loss, where the slope comes out negative)."""
    if scale not in ("log", "identity"):
        raise ValueError(f"scale must be 'log' or 'identity', got {scale!r}")

    def log_mean(xs: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
        if scale == "log":
            z = xs[x] - p["log_x50"]
        else:
            z = pt.exp(xs[x]) - p["x50"]
        return log_bounded_sigmoid(p["floor"], p["headroom"], p["slope"] * z)

    z = f"log {x}" if scale == "log" else x
    return Law(
        name="sigmoid_accuracy", inputs=(x,), log_mean=log_mean,
        options={"x": x, "scale": scale},
        formula=f"acc = floor + (1 - floor) headroom sigmoid(slope ({z} - x50))",
        source="Ruan et al. 2024, arXiv:2405.10938; Gadre et al. 2024, arXiv:2403.08540",
        params={
            "floor": Param("unit", Prior("Normal", mu=-1.5, sigma=1.5),
                           "chance-level accuracy (fix it for multiple choice)",
                           fixed_support="unit_low"),
            "headroom": Param("unit", Prior("Normal", mu=1.0, sigma=1.5),
                              "share of (1 - floor) reachable at scale"),
            "slope": Param("real", Prior("Normal", mu=0.0, sigma=2.0),
                           f"steepness in {'log ' if scale == 'log' else ''}{x}"),
            "x50": Param("positive", Prior("Normal", mu=0.0, sigma=2.0),
                         f"{x} at the midpoint", reference=(x, 1.0)),
        },
    )


def pass_at_k(k: str = "k") -> Law:
    """Coverage under repeated sampling (Brown et al. 2024, arXiv:2407.21787):
    ``coverage(k) = exp(-A k^-beta)``, i.e. ``-log coverage = A k^-beta``."""

    def log_mean(xs: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
        return -pt.exp(p["log_A"] - p["beta"] * xs[k])

    return Law(
        name="pass_at_k", inputs=(k,), log_mean=log_mean, options={"k": k},
        formula=f"coverage = exp(-A {k}^-beta)",
        source="Brown et al. 2024, arXiv:2407.21787 (Large Language Monkeys)",
        params={
            "A": Param("positive", Prior("Normal", mu=0.0, sigma=2.0),
                       f"-log coverage at the reference {k}", reference=(k, "beta")),
            "beta": Param("positive", _EXPONENT_PRIOR, "decay exponent"),
        },
    )


def loss_to_loss() -> Law:
    """Loss-to-loss shifted power law (Brandfonbrener et al. 2024, arXiv:2411.12925):
    ``L2 = K (L1 - E1)^kappa + E2``; input ``L1`` (the loss on the first data set).

    ``E1`` is weakly identified from (L1, L2) pairs alone (it trades off with K and kappa);
    as in the paper, take it from the first data set's own scaling-law fit:
    ``fixed={"E1": ...}``. Values with ``L1 <= E1`` are clipped (the curve is then ``E2``).
    """

    def log_mean(xs: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
        excess = pt.maximum(pt.exp(xs["L1"]) - p["E1"], 1e-12)
        return logsumexp_terms(p["log_K"] + p["kappa"] * pt.log(excess),
                               p["log_E2"] + 0 * xs["L1"])

    return Law(
        name="loss_to_loss", inputs=("L1",), log_mean=log_mean,
        formula="L2 = K (L1 - E1)^kappa + E2",
        source="Brandfonbrener et al. 2024, arXiv:2411.12925",
        params={
            "K": Param("positive", Prior("Normal", mu=0.0, sigma=1.5), "scale"),
            "kappa": Param("positive", Prior("Normal", mu=0.0, sigma=1.0), "exponent"),
            "E1": Param("positive", _irreducible_prior, "irreducible loss of L1 (< min L1)"),
            "E2": Param("positive", _irreducible_prior, "irreducible loss of L2"),
        },
    )


def rectified() -> Law:
    """Rectified scaling law for fine-tuning (Lin et al. 2024, arXiv:2402.02314):
    ``L(D) = B / (D_l + D)^beta + E``; ``D_l`` is the pre-learned data size."""

    def log_mean(xs: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
        log_total = logsumexp_terms(p["log_D_l"] + 0 * xs["D"], xs["D"])
        return logsumexp_terms(p["log_E"] + 0 * xs["D"], p["log_B"] - p["beta"] * log_total)

    return Law(
        name="rectified", inputs=("D",), log_mean=log_mean,
        formula="L = B / (D_l + D)^beta + E",
        source="Lin et al. 2024, arXiv:2402.02314",
        params={
            "E": Param("positive", _irreducible_prior, "irreducible loss"),
            "B": Param("positive", _term_at_reference_prior, "coefficient",
                       reference=("D", "beta")),
            "D_l": Param("positive", Prior("Normal", mu=0.0, sigma=2.0),
                         "pre-learned data size", reference=("D", 1.0)),
            "beta": Param("positive", _EXPONENT_PRIOR, "data exponent"),
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
    "compute": compute_law,
    "data_constrained": data_constrained,
    "overtraining": overtraining,
    "broken_power_law": broken_power_law,
    "sigmoid_accuracy": sigmoid_accuracy,
    "pass_at_k": pass_at_k,
    "loss_to_loss": loss_to_loss,
    "rectified": rectified,
}


_BUILT_IN = frozenset(_REGISTRY)


def register_law(law: Law | Callable[..., Law], name: str | None = None, *,
                 overwrite: bool = False) -> None:
    """Make a law loadable by name (needed to reload a saved fit of a user-defined law).

    A built-in law's name is refused; another registered name only with ``overwrite=True``.
    """
    key = name or (law.name if isinstance(law, Law) else law.__name__)
    if key in _BUILT_IN:
        raise ValueError(f"{key!r} is a built-in law and cannot be replaced; register yours "
                         "under another name (register_law(law, name='my_law'))")
    if key in _REGISTRY and not overwrite:
        raise ValueError(f"a law named {key!r} is already registered; pass overwrite=True to "
                         "replace it")
    _REGISTRY[key] = (lambda **_: law) if isinstance(law, Law) else law


def unregister_law(name: str) -> None:
    """Remove a law added with :func:`register_law` (built-in laws stay)."""
    if name in _BUILT_IN:
        raise ValueError(f"{name!r} is a built-in law and cannot be removed")
    if name not in _REGISTRY:
        raise ValueError(f"no registered law named {name!r}")
    del _REGISTRY[name]


def available_laws() -> list[str]:
    return sorted(_REGISTRY)


def get_law(spec: str | Law, **options: str) -> Law:
    """A law by name; ``"power_law:C"`` sets the factory's first option (the input of a
    one-input law), e.g. ``"pass_at_k:samples"``, ``"sigmoid_accuracy:loss"``."""
    if isinstance(spec, Law):
        return spec
    name, _, arg = spec.partition(":")
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown law {name!r}.{hint} Available: {', '.join(available_laws())}")
    if arg:
        first = next(iter(inspect.signature(_REGISTRY[name]).parameters), None)
        if first is None:
            raise ValueError(f"law {name!r} takes no options, got {spec!r}")
        options = {**options, first: arg}
    try:
        return _REGISTRY[name](**options)
    except TypeError as err:
        raise ValueError(f"law {name!r} does not take options {options}: {err}") from None
