"""Simulated runs from a law with known group effects (tests, calibration, tutorials)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .laws import Law, get_law

__all__ = ["simulate_runs", "Simulation"]


@dataclass(frozen=True)
class Simulation:
    runs: pd.DataFrame
    population: dict[str, float]             # natural-scale population values
    by_group: dict[str, dict[str, float]]    # group -> natural-scale parameter values
    spreads: dict[str, float]                # param -> sd of group effects (log scale)


def simulate_runs(law: str | Law, *, population: Mapping[str, float],
                  group_sizes: Mapping[str, int], spreads: Mapping[str, float] | None = None,
                  effects: Mapping[str, Mapping[str, float]] | None = None,
                  ranges: Mapping[str, tuple[float, float]],
                  group_ranges: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
                  sigma: float = 0.01,
                  noise: str = "lognormal", trials: int = 100, kappa: float = 100.0,
                  derive: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
                  column: str = "family", target: str = "loss",
                  seed: int | None = None) -> Simulation:
    """Draw runs ``log y = log L(x; theta_g) + sigma * eps``, ``eps ~ Normal(0, 1)``.

    Group ``g``'s positive parameter ``p`` is ``p * exp(sd_p * z_g)`` with ``z_g ~ N(0, 1)``
    (``spreads``), or ``p * exp(effects[p][g])`` when the effect is given; inputs are drawn
    log-uniformly within ``ranges`` (or ``group_ranges[group]`` for that group); ``derive``
    adds inputs computed from the drawn ones (e.g. ``U = D / epochs``).

    ``noise``: ``"lognormal"`` (``sigma`` on log y), ``"normal_se"`` (``y ~ N(L, sigma)``, with
    an ``se`` column), ``"binomial"`` (``trials`` items, ``trials`` column), ``"beta"``
    (precision ``kappa``), ``"beta_binomial"`` (both).
    """
    law = get_law(law)
    rng = np.random.default_rng(seed)
    spreads = dict(spreads or {})
    effects = {k: dict(v) for k, v in (effects or {}).items()}
    frames, by_group = [], {}
    for group, size in group_sizes.items():
        values = dict(population)
        for p, sd in spreads.items():
            shift = effects.get(p, {}).get(group, sd * rng.standard_normal())
            values[p] = population[p] * float(np.exp(shift))
        by_group[group] = values
        x = {k: np.exp(rng.uniform(np.log(lo), np.log(hi), size)) for k, (lo, hi) in
             (group_ranges or {}).get(group, ranges).items()}
        if derive is not None:
            x = {**x, **derive(x)}
        mean = law.evaluate(x, values)
        extra: dict[str, np.ndarray] = {}
        if noise == "lognormal":
            y = mean * np.exp(sigma * rng.standard_normal(size))
        elif noise == "normal_se":
            y = mean + sigma * rng.standard_normal(size)
            extra["se"] = np.full(size, sigma)
        elif noise in ("binomial", "beta_binomial"):
            p = mean if noise == "binomial" else rng.beta(mean * kappa, (1 - mean) * kappa)
            y = rng.binomial(trials, p) / trials
            extra["trials"] = np.full(size, trials)
        elif noise == "beta":
            y = rng.beta(mean * kappa, (1 - mean) * kappa)
        else:
            raise ValueError(f"unknown noise {noise!r}")
        frames.append(pd.DataFrame({**x, **extra, target: y, column: group}))
    return Simulation(pd.concat(frames, ignore_index=True), dict(population), by_group, spreads)
