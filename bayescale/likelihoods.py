"""Observation models: how a run's measured value relates to the law's curve ``L``.

Losses (positive, log scale):

* ``studentt``: ``log y ~ StudentT(nu, log L, sigma)``, robust; the Bayesian counterpart of
  Epoch AI's Huber loss on log loss. ``nu`` is estimated (or fixed, ``fixed={"nu": 4}``).
* ``normal``: ``log y ~ Normal(log L, sigma)`` (log-normal noise on the loss).
* ``normal_known``: ``y ~ Normal(L, se_i)`` with measured per-point standard errors (column
  ``se``) as known noise; no noise parameter.

Bounded metrics (accuracy, coverage; the law's value ``p = L`` lies in (0, 1)):

* ``binomial``: ``k_i ~ Binomial(n_i, p)`` when the number of items ``n_i`` is known (column
  ``trials``; ``k_i = round(y_i n_i)`` from the observed proportion ``y_i``).
* ``beta``: ``y_i ~ Beta(p kappa, (1 - p) kappa)`` when only a proportion is known.
* ``beta_binomial``: ``k_i ~ BetaBinomial(n_i, p kappa, (1 - p) kappa)``: binomial with
  over-dispersion (items of unequal difficulty, benchmark noise beyond sampling).

Each likelihood declares its auxiliary parameters with the same :class:`~bayescale.laws.Param`
type as the laws, so ``sigma`` or ``kappa`` can be global or vary by group like any law
parameter. The choice is part of the model spec: ``Model(..., likelihood="binomial")``.

Known measurement error (``Model(..., measurement_error=...)``): when each run's evaluation has
a known standard error ``se_i`` (e.g. from a token-level bootstrap), it adds to the learned
noise in quadrature. A column of standard errors of the target, on the target's own scale,
or the bounds ``(lo_i, hi_i)`` of a central interval at ``level`` (default 0.95,
``z = Phi^-1((1 + level) / 2)``) become a standard error ``m_i`` on the observed scale:

* on log y (``studentt``, ``normal``): ``m_i = se_i / y_i`` (delta method) or
  ``m_i = (log hi_i - log lo_i) / (2 z)``; the scale becomes ``sqrt(sigma^2 + m_i^2)`` (for
  the Student-t an approximation: it keeps its ``nu`` and takes the combined scale);
* on y (``normal_known``): ``m_i = se_i`` or ``(hi_i - lo_i) / (2 z)``, combined with the
  column ``se`` as ``sqrt(se_i^2 + m_i^2)`` (both are known noise).

The bounded likelihoods refuse it: a bootstrap over a benchmark's items measures the
binomial sampling noise they already model, and over-dispersion beyond it is ``kappa``'s.
:func:`with_measurement_error` is the one place the scale is combined; it reads ``m_i`` from
``extra["measurement_error"]``, and a user likelihood that calls it can declare
``measurement_error=True``. A new observation (predictions) includes the known error when
the prediction rows have its column(s), ``m = se / L`` at each draw's curve for a standard
error on log y, and leaves it out when they lack them: the evaluation noise of a future run
is not known, so the prediction is of the run's true value (the learned noise only).

A likelihood is an object (:class:`Likelihood`) in a registry, like Bambi's families: its
``distribution`` (a PyMC distribution and its parameters from ``log L``) is the only place its
density and its random draw are defined; fitting, prediction, held-out densities, LOO, SBC
and backtests all use it. Register your own with :func:`register_likelihood`::

    gamma = bs.Likelihood("gamma", lambda log_mean, aux, extra: (
        pm.Gamma, {"alpha": aux["shape"], "beta": aux["shape"] / pt.exp(log_mean)}),
        aux={"shape": bs.Param("positive", bs.Prior("Normal", mu=4.6, sigma=1.5), "shape")},
        observed_as="value")
    bs.register_likelihood(gamma)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ._validate import check_columns, check_finite, check_nonnegative, check_order, check_positive
from .laws import Param
from .priors import Prior

__all__ = ["Likelihood", "get_likelihood", "register_likelihood", "unregister_likelihood",
           "available_likelihoods", "LIKELIHOODS", "unit_mean", "MeasurementError",
           "MEASUREMENT_ERROR", "with_measurement_error"]

# Residual scale on log loss: centred at 0.05 (5% relative error), 95% within [0.003, 0.95].
_SIGMA = Param("positive", Prior("Normal", mu=float(np.log(0.05)), sigma=1.5),
               "residual scale on log loss")
# Degrees of freedom: log nu ~ Normal(log 10, 1), 95% within [1.4, 71].
_NU = Param("positive", Prior("Normal", mu=float(np.log(10.0)), sigma=1.0),
            "Student-t degrees of freedom")
# Beta precision: log kappa ~ Normal(log 100, 1.5); kappa = 100 is the spread of a proportion
# measured on ~100 items; 95% within [5, 1900].
_KAPPA = Param("positive", Prior("Normal", mu=float(np.log(100.0)), sigma=1.5),
               "precision of the Beta (larger: less over-dispersion)")

TargetSupport = Literal["positive", "unit_closed", "unit_open", "real"]
ObservedAs = Literal["log", "value", "successes"]
#: ``distribution(log_mean, aux, extra) -> (PyMC distribution class, its parameters)``
DistributionSpec = Callable[[Any, Mapping[str, Any], Mapping[str, Any]],
                            tuple[type[pm.Distribution], dict[str, Any]]]


@dataclass(frozen=True)
class Likelihood:
    """Observation model of the target given the law's curve ``L`` (``log_mean = log L``).

    ``distribution`` gives the PyMC distribution of the observed value and its parameters
    from ``log L``, the natural values of ``aux`` and the per-run ``columns``; that one
    definition is what the fit observes, what predictions and simulations draw from and what
    log-likelihoods and held-out densities evaluate. ``observed_as`` says what is observed:
    ``"log"`` (``log y``), ``"value"`` (``y``) or ``"successes"`` (``round(y * trials)``).
    ``target_support`` is checked on the data; ``shift_invariant``: ``log y - log L`` has the
    same distribution at every ``L`` (noise on the log scale that does not depend on the curve).
    ``measurement_error``: its distribution adds a known per-run standard error
    (``extra["measurement_error"]``, on the observed scale) through
    :func:`with_measurement_error`, so ``Model(..., measurement_error=...)`` may use it.
    """

    name: str
    distribution: DistributionSpec
    aux: Mapping[str, Param] = field(default_factory=dict)
    description: str = ""
    target_support: TargetSupport = "positive"
    observed_as: ObservedAs = "log"
    columns: tuple[str, ...] = ()   # extra per-run columns it needs (e.g. "trials", "se")
    shift_invariant: bool = False
    measurement_error: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"a likelihood's name must be an identifier, got {self.name!r}")
        if not callable(self.distribution):
            raise TypeError(f"likelihood {self.name!r}: distribution must be a function "
                            "(log_mean, aux, extra) -> (pm distribution class, parameters)")
        if self.observed_as not in ("log", "value", "successes"):
            raise ValueError(f"likelihood {self.name!r}: observed_as must be 'log', 'value' "
                             f"or 'successes', got {self.observed_as!r}")
        if self.observed_as == "successes" and "trials" not in self.columns:
            raise ValueError(f"likelihood {self.name!r} observes successes and needs the "
                             "column 'trials' in columns")
        if self.observed_as == "log" and self.target_support != "positive":
            raise ValueError(f"likelihood {self.name!r} observes log y: its target_support "
                             f"must be 'positive', got {self.target_support!r}")
        bad = [k for k, v in self.aux.items() if not isinstance(v, Param)]
        if bad:
            raise TypeError(f"likelihood {self.name!r}: aux parameters {bad} must be "
                            "bayescale.Param")
        if MEASUREMENT_ERROR in self.columns:
            raise ValueError(f"likelihood {self.name!r}: the column name {MEASUREMENT_ERROR!r} "
                             "is reserved for the known measurement error")
        object.__setattr__(self, "columns", tuple(self.columns))

    @property
    def link(self) -> str:
        """Scale on which the curve is compared across runs: ``"logit"`` for bounded
        metrics, ``"log"`` otherwise."""
        return "logit" if self.target_support.startswith("unit") else "log"

    @property
    def observed_name(self) -> str:
        return "log_y" if self.observed_as == "log" else "y"

    def observed(self, y: np.ndarray, extra: Mapping[str, np.ndarray]) -> np.ndarray:
        """The array the PyMC variable observes (log y, y, or success counts)."""
        if self.observed_as == "log":
            return np.log(y)
        if self.observed_as == "successes":
            return np.rint(y * extra["trials"]).astype(np.int64)
        return y

    def target_from_observed(self, observed: Any, extra: Mapping[str, Any]) -> Any:
        """Inverse of :meth:`observed`: observed values (last axis = runs) -> the target."""
        if self.observed_as == "log":
            with np.errstate(over="ignore", under="ignore"):
                return np.exp(observed) if isinstance(observed, np.ndarray) \
                    else pt.exp(observed)
        if self.observed_as == "successes":
            return observed / extra["trials"]
        return observed

    def dist(self, log_mean: Any, aux: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
        """The observed value's distribution as an unnamed random variable (``.dist``)."""
        cls, params = self.distribution(log_mean, aux, extra)
        return cls.dist(**params)

    def observe(self, log_mean: Any, aux: Mapping[str, Any], obs: Any,
                extra: Mapping[str, Any], **kwargs: Any) -> Any:
        """Add the observed variable to the current PyMC model; ``obs`` is
        :meth:`observed` of the target (an array or a ``pm.Data`` holding it)."""
        cls, params = self.distribution(log_mean, aux, extra)
        return cls(self.observed_name, **params, observed=obs, **kwargs)

    def logp(self, value: Any, log_mean: Any, aux: Mapping[str, Any],
             extra: Mapping[str, Any]) -> Any:
        """Log density (or mass) of an observed value (:meth:`observed` of the target)."""
        return pm.logp(self.dist(log_mean, aux, extra), value)


EPS = 1e-12
#: key of ``extra`` holding each run's known measurement error on the observed scale
MEASUREMENT_ERROR = "measurement_error"


def with_measurement_error(scale: Any, extra: Mapping[str, Any]) -> Any:
    """``sqrt(scale^2 + m^2)``, ``m = extra["measurement_error"]`` (each run's known standard
    error on the observed scale), or ``scale`` when there is none: the learned (or known)
    noise and the known measurement error add in quadrature."""
    me = extra.get(MEASUREMENT_ERROR)
    return scale if me is None else pt.sqrt(pt.square(scale) + pt.square(me))


@dataclass(frozen=True)
class MeasurementError:
    """Which columns hold each run's known measurement error of the target: ``se`` (standard
    errors on the target's scale) or ``lo``/``hi`` (bounds of a central interval at ``level``).

    :meth:`parse` takes ``Model``'s argument: ``"loss_se"``, ``("loss_lo", "loss_hi")`` or
    ``("loss_lo", "loss_hi", 0.9)``.
    """

    se: str | None = None
    lo: str | None = None
    hi: str | None = None
    level: float = 0.95

    def __post_init__(self) -> None:
        se_only = self.se is not None and self.lo is None and self.hi is None
        bounds_only = self.se is None and None not in (self.lo, self.hi) and self.lo != self.hi
        if not (se_only or bounds_only) or not 0 < self.level < 1:
            raise ValueError("measurement_error takes a column of standard errors ('loss_se'), "
                             "or two different columns of interval bounds ('loss_lo', "
                             "'loss_hi') with an optional level in (0, 1) ('loss_lo', "
                             f"'loss_hi', 0.9); got {self!r}")

    @classmethod
    def parse(cls, spec: Any) -> MeasurementError | None:
        if spec is None or isinstance(spec, MeasurementError):
            return spec
        if isinstance(spec, str):
            return cls(se=spec)
        if isinstance(spec, (tuple, list)) and len(spec) in (2, 3) \
                and all(isinstance(c, str) for c in spec[:2]) \
                and (len(spec) == 2 or isinstance(spec[2], (int, float))):
            return cls(lo=spec[0], hi=spec[1], level=float(spec[2]) if len(spec) == 3 else 0.95)
        raise ValueError("measurement_error takes a column of standard errors ('loss_se'), or "
                         "interval bounds ('loss_lo', 'loss_hi') with an optional level "
                         f"('loss_lo', 'loss_hi', 0.9); got {spec!r}")

    def to_spec(self) -> str | list[Any]:
        """The argument :meth:`parse` takes (JSON-friendly)."""
        return self.se if self.se is not None else [self.lo, self.hi, self.level]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.se,) if self.se is not None else (self.lo, self.hi)  # type: ignore

    @property
    def z(self) -> float:
        """Standard-normal quantile of the interval's upper bound (1.96 at level 0.95)."""
        return NormalDist().inv_cdf((1 + self.level) / 2)

    def relative(self, likelihood: Likelihood) -> bool:
        """Whether the observed-scale error is ``spread / y`` (a standard error, on log y)."""
        return self.se is not None and likelihood.observed_as == "log"

    def spread(self, df: pd.DataFrame, likelihood: Likelihood) -> np.ndarray:
        """Checked columns of ``df`` -> per run, the standard error on the observed scale, or
        on the target's scale when :meth:`relative` (then :meth:`observed_se` divides by y)."""
        meaning = "known measurement error of the target"
        check_columns(df, self.columns, role=meaning)
        log = likelihood.observed_as == "log"
        if self.se is not None:
            return check_nonnegative(df, self.se, meaning=f"{meaning}: standard errors")
        what = f"{meaning}: bounds of a {100 * self.level:g}% interval"
        check = check_positive if log else check_finite
        lo = check(df, self.lo, meaning=what + (" of a log-scale target" if log else ""))
        hi = check(df, self.hi, meaning=what)
        check_order(df, self.lo, self.hi, meaning=what)
        return ((np.log(hi) - np.log(lo)) if log else (hi - lo)) / (2 * self.z)

    def observed_se(self, spread: Any, y: Any, likelihood: Likelihood) -> Any:
        """The standard error on the observed scale from :meth:`spread`: ``spread / y`` when
        :meth:`relative` (``y`` the observed target, or the curve ``L`` for a new run)."""
        return spread / y if self.relative(likelihood) else spread


def unit_mean(log_mean: Any) -> Any:
    """The law's value as a probability, kept inside (0, 1) for the bounded likelihoods."""
    return pt.clip(pt.exp(log_mean), EPS, 1 - EPS)


def _studentt(log_mean: Any, aux: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
    return pm.StudentT, {"nu": aux["nu"], "mu": log_mean,
                         "sigma": with_measurement_error(aux["sigma"], extra)}


def _normal(log_mean: Any, aux: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
    return pm.Normal, {"mu": log_mean, "sigma": with_measurement_error(aux["sigma"], extra)}


def _normal_known(log_mean: Any, aux: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
    return pm.Normal, {"mu": pt.exp(log_mean),
                       "sigma": with_measurement_error(extra["se"], extra)}


def _binomial(log_mean: Any, aux: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
    return pm.Binomial, {"n": extra["trials"], "p": unit_mean(log_mean)}


def _beta(log_mean: Any, aux: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
    p = unit_mean(log_mean)
    return pm.Beta, {"alpha": p * aux["kappa"], "beta": (1 - p) * aux["kappa"]}


def _beta_binomial(log_mean: Any, aux: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
    p = unit_mean(log_mean)
    return pm.BetaBinomial, {"n": extra["trials"], "alpha": p * aux["kappa"],
                             "beta": (1 - p) * aux["kappa"]}


LIKELIHOODS: dict[str, Likelihood] = {}


def register_likelihood(likelihood: Likelihood, *, overwrite: bool = False) -> Likelihood:
    """Make ``likelihood`` available by name (``Model(likelihood="name")``, saved fits)."""
    if not isinstance(likelihood, Likelihood):
        raise TypeError(f"register_likelihood takes a bayescale.Likelihood, got {likelihood!r}")
    if likelihood.name in LIKELIHOODS and not overwrite \
            and LIKELIHOODS[likelihood.name] is not likelihood:
        raise ValueError(f"a likelihood named {likelihood.name!r} is registered; pass "
                         "overwrite=True to replace it")
    LIKELIHOODS[likelihood.name] = likelihood
    return likelihood


def unregister_likelihood(name: str) -> None:
    if name in BUILT_IN:
        raise ValueError(f"{name!r} is a built-in likelihood and cannot be removed")
    LIKELIHOODS.pop(name, None)


for _lik in (
    Likelihood("studentt", _studentt, {"sigma": _SIGMA, "nu": _NU},
               "Student-t on log y (robust)", shift_invariant=True, measurement_error=True),
    Likelihood("normal", _normal, {"sigma": _SIGMA}, "Normal on log y", shift_invariant=True,
               measurement_error=True),
    Likelihood("normal_known", _normal_known, {}, "Normal on y with known standard errors "
               "(column 'se')", "real", "value", ("se",), measurement_error=True),
    Likelihood("binomial", _binomial, {}, "Binomial successes of 'trials' items",
               "unit_closed", "successes", ("trials",)),
    Likelihood("beta", _beta, {"kappa": _KAPPA}, "Beta on a proportion", "unit_open", "value"),
    Likelihood("beta_binomial", _beta_binomial, {"kappa": _KAPPA},
               "Beta-Binomial successes of 'trials' items (over-dispersed)", "unit_closed",
               "successes", ("trials",)),
):
    register_likelihood(_lik)
BUILT_IN = frozenset(LIKELIHOODS)


def available_likelihoods() -> list[str]:
    """Names of the registered likelihoods (built in and the user's)."""
    return sorted(LIKELIHOODS)


def get_likelihood(name: str | Likelihood) -> Likelihood:
    if isinstance(name, Likelihood):
        return name
    if name not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {name!r}; expected one of {sorted(LIKELIHOODS)} "
                         "or a bayescale.Likelihood (register your own with "
                         "bayescale.register_likelihood)")
    return LIKELIHOODS[name]
