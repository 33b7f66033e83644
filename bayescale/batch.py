"""Many fits at once: one engine for batches of independent tasks, run here or on any
``concurrent.futures.Executor``.

Backtest folds (:func:`bayescale.backtest`), sensitivity variants
(:func:`bayescale.sensitivity`), SBC replicates (:func:`bayescale.sbc.sbc`) and batches of
fits (:func:`fit_many`: models x data subsets) all go through :func:`run_tasks`:

* serial in this process when ``executor`` is None;
* otherwise every task is submitted at once and results are gathered as they finish, in the
  order given. Any executor works: ``ProcessPoolExecutor`` (with a ``forkserver`` or
  ``spawn`` context once JAX runs), or a Dask cluster's ``client.get_executor()`` (a
  ``LocalCluster``, dask-jobqueue's ``SLURMCluster``/``PBSCluster``, a Kubernetes cluster);
* one progress bar over tasks done with an estimate of the time left (tqdm: a text bar in a
  terminal, a widget in a notebook), off with ``progressbar=False``.

Tasks carry plain data: a model travels as :func:`model_spec` (its dict, plus the law or
likelihood object itself when it is not registered by name).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from .model import Model

__all__ = ["run_tasks", "fit_many", "model_spec", "model_from_spec", "check_executor"]


def check_executor(executor: Executor | None) -> None:
    """Refuse a process pool that forks this process after JAX started.

    XLA's CPU client owns thread pools and locks; a forked child inherits the initialised
    client without its threads, and its first JAX call deadlocks or aborts (absl ``Mutex``
    check failure, seen as ``BrokenProcessPool``).
    """
    if not isinstance(executor, ProcessPoolExecutor) or "jax" not in sys.modules:
        return
    ctx = getattr(executor, "_mp_context", None)
    if ctx is None or ctx.get_start_method() != "fork":
        return
    try:
        from jax._src import xla_bridge

        started = bool(getattr(xla_bridge, "_backends", True))
    except ImportError:  # pragma: no cover - private module moved: be conservative
        started = True
    if started:
        raise RuntimeError(
            "this ProcessPoolExecutor forks its workers, and JAX is already running in this "
            "process: forked workers inherit JAX's runtime without its threads and deadlock or "
            "crash. Create the pool with mp_context=multiprocessing.get_context('forkserver') "
            "(or 'spawn').")


def run_tasks(function: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], *,
              executor: Executor | None = None, progressbar: bool = True,
              description: str = "fits") -> list[Any]:
    """``[function(*task) for task in tasks]``, on ``executor`` when one is given.

    ``function`` must be importable at module level (executors pickle it). On the first
    task that raises, the tasks not yet started are cancelled and the error is raised."""
    from tqdm.auto import tqdm

    check_executor(executor)
    tasks = list(tasks)
    bar = tqdm(total=len(tasks), desc=description, unit="task", disable=not progressbar,
               file=sys.stderr, dynamic_ncols=True)
    try:
        if executor is None:
            results = []
            for task in tasks:
                results.append(function(*task))
                bar.update()
            return results
        futures = [executor.submit(function, *task) for task in tasks]
        position = {future: i for i, future in enumerate(futures)}
        gathered: list[Any] = [None] * len(tasks)
        try:
            for future in as_completed(futures):
                gathered[position[future]] = future.result()
                bar.update()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return gathered
    finally:
        bar.close()


def model_spec(model: Model) -> dict[str, Any]:
    """What a task needs to rebuild ``model`` in another process (:func:`model_from_spec`):
    its dict, its likelihood object, and its law object when the law is not registered by
    name (a registered law is rebuilt from its name and options)."""
    from .laws import available_laws

    return {"model": model.to_dict(),
            "law": None if model.law.name in available_laws() else model.law,
            "likelihood": model.likelihood}


def model_from_spec(spec: Mapping[str, Any]) -> Model:
    from .model import Model

    return Model.from_dict(spec["model"], law=spec.get("law"),
                           likelihood=spec.get("likelihood"))


def fit_and_summarise(spec: Mapping[str, Any], data: pd.DataFrame,
                      fit_kwargs: Mapping[str, Any], ci_prob: float | None) -> dict[str, Any]:
    """One task of :func:`fit_many`: fit, then the summary and diagnostics as plain data."""
    from .intervals import percent_of

    start = time.perf_counter()
    fitted = model_from_spec(spec).fit(data, **{"progressbar": False, **fit_kwargs,
                                                "warn": False})
    seconds = time.perf_counter() - start
    table = fitted.summary(ci_prob=ci_prob)
    pct = percent_of(ci_prob)
    return {"summary": table[["median", "mean", "sd", f"eti{pct}_lb", f"eti{pct}_ub",
                              "ess_bulk", "ess_tail", "r_hat"]].reset_index(
                                  names="parameter").to_dict("list"),
            "fit": {"n_runs": len(data), "seconds": seconds,
                    **fitted.diagnostics.record()}}


def fit_many(jobs: Mapping[str, tuple[Model, pd.DataFrame]], *,
             executor: Executor | None = None, progressbar: bool = True,
             ci_prob: float | None = None, **fit_kwargs: Any) -> pd.DataFrame:
    """Fit every ``{label: (model, data)}`` (models x data subsets, benchmarks, seeds) and
    gather the results into one table: a row per fit and natural-scale parameter (median,
    mean, sd, equal-tailed ``ci_prob`` interval, bulk/tail ESS, R-hat), with the fit's own
    columns (runs, seconds, divergences, max R-hat, min bulk ESS, refits, problems).

    ``executor``: any ``concurrent.futures.Executor`` (e.g. ``client.get_executor()`` of a
    Dask cluster); the fits are independent, so results do not depend on it when ``seed``
    is given. ``fit_kwargs`` go to every :meth:`bayescale.Model.fit`.

    >>> table = bs.fit_many({"loss": (bs.Model("power_law:C"), runs)}, seed=1)
    """
    from .fit import check_sampling_args
    from .intervals import ci_probs

    (ci_prob,) = ci_probs(ci_prob)
    if not isinstance(jobs, Mapping) or not jobs:
        raise ValueError("jobs must be a non-empty mapping {label: (Model, DataFrame)}")
    from .model import Model

    for label, job in jobs.items():
        if not (isinstance(job, tuple) and len(job) == 2 and isinstance(job[0], Model)
                and isinstance(job[1], pd.DataFrame)):
            raise ValueError(f"job {label!r}: expected a (bayescale.Model, pandas.DataFrame) "
                             f"pair, got {type(job).__name__}")
    check_sampling_args(draws=fit_kwargs.get("draws", 1000), tune=fit_kwargs.get("tune", 1000),
                        chains=fit_kwargs.get("chains", 4),
                        target_accept=fit_kwargs.get("target_accept", 0.9),
                        seed=fit_kwargs.get("seed"))
    tasks = [(model_spec(model), data, dict(fit_kwargs), ci_prob)
             for model, data in jobs.values()]
    results = run_tasks(fit_and_summarise, tasks, executor=executor, progressbar=progressbar,
                        description="fits")
    frames = []
    for label, result in zip(jobs, results, strict=True):
        part = pd.DataFrame(result["summary"])
        part.insert(0, "fit", str(label))
        for column, value in result["fit"].items():
            part[column] = value
        frames.append(part)
    return pd.concat(frames, ignore_index=True).set_index(["fit", "parameter"])
