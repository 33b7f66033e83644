"""bayescale: Bayesian hierarchical modeling of neural scaling laws.

>>> import bayescale as bs
>>> runs = bs.datasets.load("chinchilla_epoch")
>>> fit = bs.Model("chinchilla").fit(runs, seed=1)
>>> fit.summary(ci_prob=0.95)

The public names are imported on first use (``bs.Model`` imports PyMC then), so that
``import bayescale`` is instant and the command line can handle Ctrl-C from its first moment.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: public submodules
_MODULES = ("datasets", "plots", "report", "simulate")
#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **{name: f".{name}" for name in _MODULES},
    **dict.fromkeys(("DataError", "DataWarning"), "._validate"),
    **dict.fromkeys(("Backtest", "backtest"), ".calibrate"),
    **dict.fromkeys(("Capabilities", "CapabilityFit"), ".capabilities"),
    "chain_predict": ".chain",
    "fit_many": ".batch",
    **dict.fromkeys(("CheckResult", "check"), ".checks"),
    **dict.fromkeys(("CompareResult", "compare"), ".compare"),
    "configure": ".config",
    **dict.fromkeys(("ExtrapolationPrior", "record_prior"), ".extrapolation"),
    **dict.fromkeys(("Crossover", "InversePrediction", "crossover", "inverse_predict",
                     "prob_better"), ".decisions"),
    **dict.fromkeys(("Diagnostics", "Fit", "SamplingWarning", "fit"), ".fit"),
    "load": ".loading",
    **dict.fromkeys(("Law", "Param", "available_laws", "get_law", "law_from_function",
                     "register_law", "unregister_law"), ".laws"),
    **dict.fromkeys(("Likelihood", "available_likelihoods", "register_likelihood",
                     "unregister_likelihood"), ".likelihoods"),
    "Model": ".model",
    **dict.fromkeys(("CHINCHILLA_COMPUTE", "compute_optimal"), ".allocation"),
    **dict.fromkeys(("UnknownGroupError", "predict"), ".predict"),
    "PCAScaling": ".observational",
    "Prior": ".priors",
    "sensitivity": ".sensitivity",
    **dict.fromkeys(("Stack", "stack"), ".stacking"),
}

__all__ = [  # a literal, for static tools; tests check it equals _EXPORTS's keys
    "available_laws", "available_likelihoods", "Backtest", "backtest", "Capabilities",
    "CapabilityFit", "chain_predict", "check",
    "CheckResult", "CHINCHILLA_COMPUTE", "compare", "CompareResult", "compute_optimal",
    "configure", "Crossover", "crossover", "DataError", "datasets", "DataWarning", "Diagnostics",
    "ExtrapolationPrior", "Fit", "fit", "fit_many", "get_law", "inverse_predict",
    "InversePrediction",
    "Law", "law_from_function", "Likelihood", "load", "Model", "Param", "PCAScaling", "plots",
    "predict",
    "Prior", "prob_better", "record_prior", "register_law", "register_likelihood", "report",
    "SamplingWarning", "sensitivity", "simulate", "Stack", "stack", "UnknownGroupError",
    "unregister_law", "unregister_likelihood",
]


def __getattr__(name: str) -> object:
    """Import the module defining ``name`` on first use and cache the attribute."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bayescale' has no attribute {name!r}")
    loaded = importlib.import_module(module, __name__)
    value = loaded if name in _MODULES else getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """Keeps ``bayescale.fit``, ``.predict``, ``.compare`` and ``.sensitivity`` the functions:
    importing the module of the same name would otherwise bind the module over them."""

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and name in _EXPORTS and name not in _MODULES:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # what static checkers and IDEs see
    from . import datasets, plots, report, simulate
    from ._validate import DataError, DataWarning
    from .allocation import CHINCHILLA_COMPUTE, compute_optimal
    from .calibrate import Backtest, backtest
    from .capabilities import Capabilities, CapabilityFit
    from .chain import chain_predict
    from .checks import CheckResult, check
    from .compare import CompareResult, compare
    from .config import configure
    from .decisions import Crossover, InversePrediction, crossover, inverse_predict, prob_better
    from .extrapolation import ExtrapolationPrior, record_prior
    from .fit import Diagnostics, Fit, SamplingWarning, fit
    from .laws import (
        Law,
        Param,
        available_laws,
        get_law,
        law_from_function,
        register_law,
        unregister_law,
    )
    from .likelihoods import (
        Likelihood,
        available_likelihoods,
        register_likelihood,
        unregister_likelihood,
    )
    from .loading import load
    from .model import Model
    from .observational import PCAScaling
    from .predict import UnknownGroupError, predict
    from .priors import Prior
    from .sensitivity import sensitivity
    from .stacking import Stack, stack
