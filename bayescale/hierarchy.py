"""Hierarchies: which law parameters vary by which grouping columns.

A parameter ``p`` with sampling-scale value ``u`` (e.g. ``u = log E``) that varies by grouping
columns ``g_1 .. g_K`` is, for run ``i``,

    u_i = mu + sum_k  b_k[g_k(i)],      b_k = sd_k * z_k,  z_k ~ Normal(0, 1)

so the group effects of each column are partially pooled toward the population location ``mu``
with an estimated spread ``sd_k``. Several columns add up on the sampling scale (crossed
effects, e.g. family and task); ``"family/model"`` nests ``model`` within ``family`` (it adds a
``family`` effect and a ``family/model`` effect). A group that the fit never saw gets a fresh
``z ~ Normal(0, 1)``: a draw from the population distribution.

What the populations are placed on (``Model(coordinates=...)``, :mod:`bayescale.coordinates`):
the parameters' sampling-scale values as above (``"law"``), or, for a law that is a floor plus
power terms with the floor and every term varying by the same columns, each curve's level, term
shares and slopes at the data's reference inputs (``"curve"``), which its runs pin down directly
(another, equally weak prior, with a zero-avoiding Gamma(2, 6) prior on the spreads). The
default, ``"auto"``, takes curve coordinates wherever they apply and no prior or fixed value is
set on those parameters.

Parameterisation (the same model, sampled in the coordinates NUTS handles best):

* **Zero-sum deviations.** ``b_k`` is split into its mean over levels and deviations that sum
  to zero (``ZeroSumNormal``). The data see only the groups' overall location
  ``m = mu + sum_k mean(b_k)``, which is sampled directly; its split into ``mu`` and the means
  is drawn exactly from the prior conditional (``build._population_and_means``). With few
  groups, ``mu`` and the effects' mean are otherwise a ridge that NUTS crosses slowly.
* **Centred or not, per parameter and column.** Non-centred (``z``, then ``sd z``) or
  centred (``ZeroSumNormal(sd)``): non-centred effects of well-measured groups, and centred
  effects of poorly measured ones, form funnels (Betancourt & Girolami 2015; Papaspiliopoulos,
  Roberts & Skold 2007). A fit starts non-centred (``build.default_centring``; a curve's
  level, which its runs pin by construction, starts centred); when it shows
  divergences or R-hat > 1.01, ``fit`` refits with the choice made from its draws (the median
  level's posterior sd against ``CENTRING_THRESHOLD`` times the spread) and a higher
  ``target_accept``. A fit of ``fit.PILOT_MIN_RUNS`` runs or more makes that choice from a
  short pilot run before its first attempt. Every attempt is in ``Diagnostics.history``.
* **Mass matrix.** numpyro adapts a dense block over the population-scale values (locations,
  spreads, likelihood scales, where correlations are strong) and a diagonal over the group
  effects (a dense matrix over every effect is estimated from too few warm-up draws and made
  hierarchical fits diverge).

Measured (benchmarks/results/sampling_defaults.md) on each shipped data set's natural model and
on 2-5-group simulations with every parameter varying, over seeds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from .priors import Prior

__all__ = ["parse_hierarchy", "add_nested_columns", "dim_name", "sd_name", "z_name",
           "effect_name", "zero_sum_name", "groups_mean_name", "split_name",
           "by_name", "DEFAULT_SD_PRIOR", "nested_parts", "data_columns", "top_columns",
           "finest_columns", "group_keys",
           "CENTRING_THRESHOLD"]

CENTRING_THRESHOLD = 0.5

# Spread of group effects on the sampling (log) scale: half-normal with scale 0.5, i.e. groups
# typically differ by a factor within exp(+-1); wider spreads are allowed by the data.
DEFAULT_SD_PRIOR = Prior("HalfNormal", sigma=0.5)


def dim_name(column: str) -> str:
    """A grouping column's dimension (and name part) in the PyMC model and the DataTree:
    ``"family/model"`` becomes ``"family:model"``, since netCDF and zarr read ``/`` as a path."""
    return column.replace("/", ":")


def sd_name(sampling_name: str, column: str) -> str:
    return f"{sampling_name}_sd_{dim_name(column)}"


def z_name(sampling_name: str, column: str) -> str:
    return f"{sampling_name}_z_{dim_name(column)}"


def zero_sum_name(sampling_name: str, column: str) -> str:
    """Centred zero-sum deviations of the levels from their mean."""
    return f"{sampling_name}_deviation_{dim_name(column)}"


def groups_mean_name(sampling_name: str) -> str:
    """The sampled location of the groups' values (population location plus mean effects)."""
    return f"{sampling_name}_groups"


def split_name(sampling_name: str, column: str | None = None) -> str:
    """Standard-normal draw of the population/mean split of the groups' location (one per
    grouping column, ``column=None`` for the population's own): see
    :func:`bayescale.build.build_model`."""
    return f"{sampling_name}_u_{'population' if column is None else dim_name(column)}"


def effect_name(sampling_name: str, column: str) -> str:
    return f"{sampling_name}_effect_{dim_name(column)}"


def by_name(param: str, column: str) -> str:
    return f"{param}_by_{dim_name(column)}"


def _expand(column: str) -> tuple[str, ...]:
    """``"a/b/c"`` -> ``("a", "a/b", "a/b/c")``: nested levels as crossed effects."""
    parts = column.split("/")
    return tuple("/".join(parts[: i + 1]) for i in range(len(parts)))


def parse_hierarchy(spec: Mapping[str, str | Sequence[str] | None] | None,
                    params: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Normalise ``{"E": "family", "A": ["family", "task"], "sigma": "family/model"}``."""
    valid = list(params)
    out: dict[str, tuple[str, ...]] = {}
    for param, columns in (spec or {}).items():
        if param not in valid:
            raise ValueError(f"unknown parameter {param!r} in hierarchy; the model's parameters "
                             f"are {valid}")
        if columns is None or columns == () or columns == []:
            continue
        cols = [columns] if isinstance(columns, str) else list(columns)
        expanded: list[str] = []
        for col in cols:
            if not isinstance(col, str) or not col:
                raise ValueError(f"hierarchy[{param!r}]: grouping columns must be non-empty "
                                 f"strings, got {col!r}")
            for c in _expand(col):
                if c not in expanded:
                    expanded.append(c)
        out[param] = tuple(expanded)
    return out


def nested_parts(column: str) -> list[str]:
    """The data columns a grouping column reads: ``"a/b"`` -> ``["a", "b"]``."""
    return column.split("/")


def data_columns(columns: Iterable[str]) -> list[str]:
    """The data columns holding group labels for grouping ``columns`` (nested ones split)."""
    return list(dict.fromkeys(p for c in columns for p in nested_parts(c)))


def top_columns(columns: Iterable[str]) -> list[str]:
    """Grouping columns that are not nested (``"family"``, not ``"family/model"``)."""
    return [c for c in columns if "/" not in c]


def finest_columns(columns: Sequence[str]) -> list[str]:
    """Grouping columns no other listed column nests further (``"family/model"``, not
    ``"family"``): together they identify a run's group."""
    return [c for c in columns if not any(o.startswith(c + "/") for o in columns)]


def group_keys(frame: pd.DataFrame, columns: Sequence[str], default: str = "all"
               ) -> pd.Series:
    """One label per row for its combination of levels of ``columns`` ('/'-joined), or
    ``default`` for every row when there are no columns."""
    if not columns:
        return pd.Series(default, index=frame.index)
    return frame[list(columns)].astype(str).agg("/".join, axis=1)


def add_nested_columns(df: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Add the ``"a/b"`` label columns that nested groupings need (labels joined by '/')."""
    df = df.copy()
    for col in columns:
        if "/" in col and col not in df.columns:
            parts = nested_parts(col)
            missing = [p for p in parts if p not in df.columns]
            if missing:
                continue  # reported by the column check with the user's names
            df[col] = df[parts].astype(str).agg("/".join, axis=1)
    return df
