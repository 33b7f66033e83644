"""Replications of published scaling-law fits: a table of published vs bayescale values and
PASS/FAIL checks, each a function returning a :class:`Replication`."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from .chinchilla import replicate_chinchilla
from .datablations import replicate_datablations
from .obsscaling import replicate_obsscaling
from .obsscaling_capabilities import replicate_obsscaling_capabilities
from .result import Check, Replication

__all__ = ["Check", "Replication", "REPLICATIONS", "replicate"]

REPLICATIONS: dict[str, Callable[..., Replication]] = {
    "chinchilla": replicate_chinchilla,
    "datablations": replicate_datablations,
    "obsscaling": replicate_obsscaling,
    "obsscaling-capabilities": replicate_obsscaling_capabilities,
}


def replicate(name: str, **kwargs: Any) -> Replication:
    if name not in REPLICATIONS:
        close = difflib.get_close_matches(name, REPLICATIONS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown replication {name!r}.{hint} Available: "
                         f"{', '.join(sorted(REPLICATIONS))}")
    return REPLICATIONS[name](**kwargs)
