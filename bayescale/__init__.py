"""bayescale: Bayesian hierarchical modeling of neural scaling laws.

>>> import bayescale as bs
>>> runs = bs.datasets.load("chinchilla_epoch")
>>> fit = bs.Model("chinchilla").fit(runs, seed=1)
>>> fit.summary(ci_prob=0.95)
"""

__version__ = "0.1.0"

from . import datasets, report, simulate  # noqa: E402
from ._validate import DataError, DataWarning  # noqa: E402
from .calibrate import Backtest, backtest  # noqa: E402
from .chain import chain_predict  # noqa: E402
from .compare import CheckResult, CompareResult, check, compare, sensitivity  # noqa: E402
from .config import configure  # noqa: E402
from .decisions import Crossover, InversePrediction, crossover, inverse_predict, prob_better  # noqa: E402
from .fit import Diagnostics, Fit, SamplingWarning, fit, load  # noqa: E402
from .laws import (  # noqa: E402
    Law,
    Param,
    available_laws,
    get_law,
    law_from_function,
    register_law,
    unregister_law,
)
from .model import Model  # noqa: E402
from .predict import (  # noqa: E402
    CHINCHILLA_COMPUTE,
    UnknownGroupError,
    compute_optimal,
    predict,
)
from .priors import Prior  # noqa: E402

__all__ = [
    "available_laws", "Backtest", "configure", "backtest", "chain_predict", "check", "CheckResult",
    "CHINCHILLA_COMPUTE", "compare", "CompareResult", "compute_optimal", "Crossover",
    "crossover", "DataError", "DataWarning", "datasets", "Diagnostics", "Fit", "fit", "get_law",
    "inverse_predict", "InversePrediction", "Law", "law_from_function", "load", "Model",
    "Param", "plots", "predict", "Prior", "prob_better", "register_law", "report",
    "SamplingWarning",
    "sensitivity", "simulate", "UnknownGroupError", "unregister_law",
]


def __getattr__(name: str) -> object:
    """``bayescale.plots`` is imported on first use (it imports matplotlib)."""
    if name == "plots":
        import importlib

        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module 'bayescale' has no attribute {name!r}")
