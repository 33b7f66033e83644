"""Loading by name: the table of tidy functions, ``load`` and ``obsscaling_long``."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from . import (
    bnsl_4digit_addition,
    chinchilla_epoch,
    chinchilla_model_configs,
    datablations,
    datablations_repetition,
    gemstones,
    misfitting,
    obsscaling,
    obsscaling_v2,
    porian_rsld,
    protein_lm_scaling,
    revisiting_nsl,
    routing_moe,
    steplaw_lr_bs,
    xlstm_isoflop_partial,
)
from .files import read_checked
from .registry import info

__all__ = ["TIDY", "load", "obsscaling_long"]

#: data set name -> its tidy function (one raw frame per registered file, in registry order)
TIDY: dict[str, Callable[..., pd.DataFrame]] = {
    "chinchilla_epoch": chinchilla_epoch.tidy,
    "datablations": datablations.tidy,
    "datablations_repetition": datablations_repetition.tidy,
    "obsscaling": obsscaling.tidy,
    "obsscaling_v2": obsscaling_v2.tidy,
    "revisiting_nsl": revisiting_nsl.tidy,
    "porian_rsld": porian_rsld.tidy,
    "routing_moe": routing_moe.tidy,
    "gemstones": gemstones.tidy,
    "bnsl_4digit_addition": bnsl_4digit_addition.tidy,
    "chinchilla_model_configs": chinchilla_model_configs.tidy,
    "misfitting": misfitting.tidy,
    "steplaw_lr_bs": steplaw_lr_bs.tidy,
    "xlstm_isoflop_partial": xlstm_isoflop_partial.tidy,
    "protein_lm_scaling": protein_lm_scaling.tidy,
}


def load(name: str, *, verify: bool = True) -> pd.DataFrame:
    """A data set as a tidy frame (see ``info(name)["columns"]`` for names and units).

    Parameters
    ----------
    name : str
        A name from ``available()``.
    verify : bool, default True
        Check each file's SHA-256 against the registry. ``False`` only warns on a mismatch
        (for an external file you converted yourself); columns and values are checked anyway.

    Returns
    -------
    pandas.DataFrame
        The tidy frame; ``attrs`` holds ``name``, ``citation``, ``origin``, ``license``,
        ``fixes`` (list of str) and ``dropped`` (reason -> number of rows).

    Raises
    ------
    KeyError
        Unknown name.
    FileNotFoundError
        An external data set whose file is not under ``$BAYESCALE_EXTERNAL_DATA``; the message
        says how to obtain it.
    DataError
        Wrong hash, unreadable file, missing column or a value out of place; the message names
        the file, the column and the offending lines.
    """
    entry = info(name)
    frame = TIDY[name](*read_checked(name, verify))
    attrs = {"fixes": [], "dropped": {}, **frame.attrs}
    attrs.update({"name": name, "citation": entry["citation"], "origin": entry["origin"],
                  "license": entry["license"]})
    frame.attrs = attrs
    return frame


def obsscaling_long() -> pd.DataFrame:
    """The ``obsscaling`` scores in long format, one row per (model, task) with a score.

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, ``family``, ``N``, ``tokens``, ``C``, ``flag``, ``fixed``, ``task``,
        ``accuracy`` (fraction in [0, 1]), ``trials`` (items the task scores) and ``chance``
        (its floor: chance level, 0 for generated answers); rows without a score are dropped
        (counted in ``attrs["dropped"]``). Fixes and flags are those of ``load("obsscaling")``.
    """
    return obsscaling.long_format(load("obsscaling"))
