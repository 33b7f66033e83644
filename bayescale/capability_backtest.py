"""Backtests of benchmark-score forecasts across model families.

Leave one family out (:func:`leave_one_family_out`): for each family with at least
``min_models`` models, fit on every other family plus the family's smallest model (least
compute), and predict the family's other models from their compute. Each forecaster is a
function ``(train, test) -> frame`` with the test rows and the columns ``point`` (its point
forecast), ``lower`` and ``upper`` (its central ``prob`` interval for the observed score).
Held-out benchmarks (:func:`benchmark_splits`): a random group of models' scores on the
new benchmarks are predicted from their scores on the others and the rest of the table.
:func:`forecast_splits` runs forecasters over any such splits; :func:`error_table` gives per
benchmark and forecaster the mean absolute error of ``point`` and the share of observed
scores inside ``[lower, upper]``.

Three forecasters are defined here, on the data roles of
:data:`bayescale.capabilities.COLUMNS`: the latent-capability model
(:func:`latent_forecaster`), Ruan et al.'s PCA (:func:`pca_forecaster`) and a crossed
family x benchmark sigmoid in compute (:func:`crossed_forecaster`, bayescale's model of one
benchmark at a time, :func:`crossed_model`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._validate import as_frame, check_columns
from .intervals import percent_of

__all__ = ["leave_one_family_out", "forecast_splits", "family_splits", "benchmark_splits",
           "error_table", "latent_forecaster", "pca_forecaster", "crossed_forecaster",
           "crossed_model"]

Forecaster = Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]


def family_splits(scores: Any, *, min_models: int = 3,
                  columns: Mapping[str, str] | None = None
                  ) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """``(family, train, test)`` for each family with at least ``min_models`` models: train is
    every other family plus the family's smallest model (least compute), test the family's
    other models' rows."""
    from .capabilities import COLUMNS

    col = {**COLUMNS, **(columns or {})}
    df = as_frame(scores)
    check_columns(df, [col["model"], col["family"], col["compute"]],
                  role="benchmark scores")
    models = df.drop_duplicates(col["model"])
    for family, members in models.groupby(col["family"], sort=True):
        if len(members) < min_models:
            continue
        smallest = members.sort_values([col["compute"], col["model"]])[col["model"]].iloc[0]
        held = df[col["family"]].eq(family) & df[col["model"]].ne(smallest)
        yield str(family), df[~held].reset_index(drop=True), df[held].reset_index(drop=True)


def benchmark_splits(scores: Any, benchmarks: Sequence[str], *, folds: int = 5,
                     seed: int = 0, columns: Mapping[str, str] | None = None
                     ) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """``(fold, train, test)``: the models with a score on any of ``benchmarks`` split at
    random into ``folds`` groups; test holds one group's scores on those benchmarks, train
    every other row (the group's scores on the other benchmarks included)."""
    from .capabilities import COLUMNS

    col = {**COLUMNS, **(columns or {})}
    df = as_frame(scores)
    check_columns(df, [col["model"], col["benchmark"]], role="benchmark scores")
    target = df[col["benchmark"]].isin(benchmarks)
    models = np.array(sorted(df.loc[target, col["model"]].unique()))
    if len(models) < folds:
        raise ValueError(f"{len(models)} models have scores on {list(benchmarks)}; "
                         f"{folds} folds need at least as many")
    group = np.random.default_rng(seed).permutation(len(models)) % folds
    for k in range(folds):
        held = target & df[col["model"]].isin(models[group == k])
        yield f"fold {k + 1}", df[~held].reset_index(drop=True), df[held].reset_index(
            drop=True)


def forecast_splits(splits: Iterable[tuple[str, pd.DataFrame, pd.DataFrame]],
                    forecasters: Mapping[str, Forecaster], *, label: str = "split"
                    ) -> Iterator[pd.DataFrame]:
    """For each ``(name, train, test)`` split and each forecaster, as each finishes: the
    forecaster's output with columns ``label`` (the split's name), ``forecaster`` and
    ``seconds`` (its fit and prediction)."""
    for split, train, test in splits:
        for name, forecast in forecasters.items():
            start = time.perf_counter()
            out = forecast(train, test)
            yield out.assign(**{label: split}, forecaster=name,
                             seconds=time.perf_counter() - start)


def leave_one_family_out(scores: Any, forecasters: Mapping[str, Forecaster], *,
                         min_models: int = 3, columns: Mapping[str, str] | None = None,
                         families: Sequence[str] | None = None) -> pd.DataFrame:
    """Forecasts of every held-out row by every forecaster (module docstring), one frame
    with the forecaster's output and columns ``held_out`` (the family), ``forecaster`` and
    ``seconds`` (its fit and prediction); ``families`` limits the held-out families."""
    splits = (split for split in family_splits(scores, min_models=min_models, columns=columns)
              if families is None or split[0] in families)
    return pd.concat(forecast_splits(splits, forecasters, label="held_out"),
                     ignore_index=True)


def error_table(forecasts: pd.DataFrame, *, score: str = "accuracy",
                benchmark: str = "benchmark") -> pd.DataFrame:
    """Per benchmark and forecaster: ``n`` rows, ``mae`` (mean absolute error of ``point``)
    and ``coverage`` (share of ``score`` within ``[lower, upper]``); an ``all`` row per
    forecaster pools the benchmarks."""
    f = forecasts.assign(
        abs_error=(forecasts[score] - forecasts["point"]).abs(),
        inside=forecasts[score].between(forecasts["lower"], forecasts["upper"]))
    pooled = f.assign(**{benchmark: "all"})
    return (pd.concat([f, pooled]).groupby([benchmark, "forecaster"], sort=False)
            .agg(n=("abs_error", "size"), mae=("abs_error", "mean"),
                 coverage=("inside", "mean")).reset_index())


def _interval(out: pd.DataFrame, prob: float, point: str) -> pd.DataFrame:
    p = percent_of(prob)
    return out.assign(point=out[point], lower=out[f"obs_eti{p}_lb"],
                      upper=out[f"obs_eti{p}_ub"])


def latent_forecaster(spec: Any = None, *, prob: float = 0.9, seed: int = 0,
                      **fit_kwargs: Any) -> Forecaster:
    """The latent-capability model (:class:`bayescale.capabilities.Capabilities`, default
    ``Capabilities()``): ``point`` the posterior predictive median of the observed score."""
    from .capabilities import Capabilities

    spec = spec or Capabilities()

    def forecast(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
        fit = spec.fit(train, seed=seed, **fit_kwargs)
        out = fit.predict(test, ci_prob=prob, seed=seed)   # its models are not in the fit
        d = fit.diagnostics
        return _interval(out, prob, "obs_median").assign(
            divergences=d.divergences, max_rhat=d.max_rhat)

    return forecast


def pca_forecaster(spec: Any = None, *, prob: float = 0.9, seed: int = 0) -> Forecaster:
    """Ruan et al.'s PCA (:class:`bayescale.observational.PCAScaling`): ``point`` the point
    fit's prediction, the interval the family bootstrap's."""
    from .observational import PCAScaling

    spec = spec or PCAScaling()

    def forecast(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
        out = spec.fit(train, seed=seed).predict(test, ci_prob=prob, seed=seed)
        return _interval(out, prob, "curve_median")

    return forecast


def crossed_model(columns: Mapping[str, str] | None = None) -> Any:
    """One sigmoid in log compute per benchmark, the compute at its midpoint crossed by
    family and benchmark (partially pooled), slope and headroom per benchmark, each row's floor
    from the data, Beta-Binomial on the item counts: bayescale's model of one benchmark at a
    time (``replicate obsscaling``) over all benchmarks."""
    from .capabilities import COLUMNS
    from .model import Model

    col = {**COLUMNS, **(columns or {})}
    return Model(f"sigmoid_accuracy:{col['compute']}", likelihood="beta_binomial",
                 target=col["score"],
                 hierarchy={"x50": [col["family"], col["benchmark"]],
                            "slope": col["benchmark"], "headroom": col["benchmark"]},
                 fixed={"floor": col["floor"]}, columns={"trials": col["items"]},
                 min_group_size=1)


def crossed_forecaster(*, prob: float = 0.9, seed: int = 0,
                       columns: Mapping[str, str] | None = None, extrapolation: bool = False,
                       **fit_kwargs: Any) -> Forecaster:
    """:func:`crossed_model`: ``point`` the posterior predictive median; ``extrapolation``
    adds the learned risk beyond the largest compute of the fit
    (:mod:`bayescale.extrapolation`: three more fits; off by default, as a held-out family's
    models lie within the compute range of the other families)."""
    model = crossed_model(columns)

    def forecast(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
        fit = model.fit(train, seed=seed, **{"progressbar": False, **fit_kwargs})
        out = fit.predict(test, ci_prob=prob, seed=seed, extrapolation=extrapolation)
        d = fit.diagnostics
        return _interval(out, prob, "obs_median").assign(
            divergences=d.divergences, max_rhat=d.max_rhat)

    return forecast
