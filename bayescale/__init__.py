"""bayescale: Bayesian hierarchical modeling of neural scaling laws.

>>> import bayescale as bs
>>> runs = bs.datasets.load("chinchilla_epoch")
>>> fit = bs.Model("chinchilla").fit(runs, seed=1)
>>> fit.summary(ci_prob=0.95)
"""

from ._backend import configure_host_devices

configure_host_devices()

__version__ = "0.1.0"

from . import datasets, plots, simulate  # noqa: E402
from ._validate import DataError  # noqa: E402
from .fit import Diagnostics, Fit, SamplingWarning, fit, load  # noqa: E402
from .laws import Law, Param, available_laws, get_law, law_from_function, register_law  # noqa: E402
from .model import Model  # noqa: E402
from .predict import (  # noqa: E402
    CHINCHILLA_COMPUTE,
    UnknownGroupError,
    compute_optimal,
    predict,
)
from .priors import Prior  # noqa: E402

__all__ = [
    "CHINCHILLA_COMPUTE", "DataError", "Diagnostics", "Fit", "Law", "Model", "Param", "Prior",
    "SamplingWarning", "UnknownGroupError", "available_laws", "compute_optimal", "datasets",
    "fit", "get_law", "law_from_function", "load", "plots", "predict", "register_law",
    "simulate",
]
