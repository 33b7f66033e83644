"""Loading a saved fit: the file's metadata, law, group levels and data checked, the
fitted data rebuilt from its ``constant_data`` and ``observed_data`` groups."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .build import design_from_groups
from .coordinates import coordinates
from .extrapolation import ExtrapolationRisk
from .fit import EXTRAPOLATION_ATTR, Diagnostics, Fit
from .graph import law_fingerprint
from .hierarchy import dim_name, effect_name, sd_name
from .io import MAX_LOAD_BYTES, FitFileError, read_tree
from .laws import Law
from .model import Model
from .priors import DataScale

__all__ = ["load", "expected_posterior_variables", "check_stored_law"]

_META_KEYS = ("model", "levels", "log_ref", "scale", "diagnostics")


def expected_posterior_variables(model: Model) -> list[str]:
    """Sampling-scale variables every posterior of ``model`` holds."""
    names = []
    for coord in coordinates(model).values():
        if coord.fixed is not None:
            continue
        names.append(coord.name)
        for col in coord.columns:
            names.append(effect_name(coord.name, col))
            if sd_name(coord.name, col) not in model.fixed:
                names.append(sd_name(coord.name, col))
    return names


def check_stored_law(law: Law, meta: Mapping[str, Any], path: str | Path) -> None:
    """Refuse a law whose values differ from those of the law the fit was saved with."""
    stored = meta.get("law_fingerprint")
    if stored is None:
        return
    now = law_fingerprint(law, meta["log_ref"])
    if len(now) != len(stored) or not np.allclose(now, np.asarray(stored, dtype=float),
                                                  rtol=1e-6, atol=1e-12, equal_nan=True):
        raise FitFileError(f"{path}: law {law.name!r} ({law.formula}) computes other values "
                           "than the law this fit was saved with, at the same parameters; "
                           "pass the law the fit was made with")


def load(path: str | Path, *, law: Law | None = None, max_bytes: int = MAX_LOAD_BYTES) -> Fit:
    """Load a fit saved by :meth:`Fit.save` (netCDF or zarr); draws are identical.

    The file is opened lazily and refused if it declares more than ``max_bytes`` of arrays;
    its metadata, the law (``law``, or the registered law of that name) and the group levels
    are checked against the stored ones (:class:`~bayescale.io.FitFileError` otherwise).
    """
    tree, meta = read_tree(path, max_bytes=max_bytes)
    if meta.get("kind") == "capabilities":
        raise FitFileError(f"{path} is a latent-capability fit; load it with "
                           "bayescale.CapabilityFit.load")
    missing = [k for k in _META_KEYS if k not in meta]
    if missing:
        raise FitFileError(f"{path}: the fit's metadata lacks {missing} (not written by "
                           "bayescale, or damaged)")
    missing_groups = [g for g in ("posterior", "sample_stats") if g not in tree.children]
    if missing_groups:
        raise FitFileError(f"{path}: the file has no {missing_groups} group(s)")
    model = Model.from_dict(meta["model"], law=law)
    check_stored_law(model.law, meta, path)
    expected = expected_posterior_variables(model)
    absent = [v for v in expected if v not in tree["posterior"].dataset]
    if absent:
        raise FitFileError(f"{path}: posterior variables {absent} of model "
                           f"{model.law.name} are missing (a different model, or a damaged file)")
    for col, levels in meta["levels"].items():
        dim = dim_name(col)
        stored = [str(v) for v in tree["posterior"].dataset.coords[dim].values] \
            if dim in tree["posterior"].dataset.coords else None
        if stored != [str(v) for v in levels]:
            raise FitFileError(f"{path}: the group levels of {col!r} in the metadata "
                               f"({list(levels)[:6]}...) disagree with the posterior's "
                               f"coordinates ({(stored or [])[:6]}...); the file was altered, so "
                               "its group effects cannot be trusted")
    scale = DataScale(**meta["scale"])
    try:
        design = design_from_groups(model, tree["constant_data"].dataset,
                                    tree["observed_data"].dataset, meta["levels"],
                                    meta["log_ref"], scale)
    except (KeyError, ValueError) as err:
        raise FitFileError(f"{path}: the fit's data (constant_data, observed_data groups) "
                           f"cannot be read: {err}") from None
    fit = Fit(model=model, idata=tree, levels=meta["levels"], log_ref=meta["log_ref"],
               log_range=meta.get("log_range"), centring=meta.get("centring"), design=design,
               scale=scale, diagnostics=Diagnostics(
                   **{**meta["diagnostics"],
                      "history": tuple(meta["diagnostics"].get("history", ())),
                      "slowest": tuple(meta["diagnostics"].get("slowest", ()))}))
    if EXTRAPOLATION_ATTR in tree.attrs:
        try:
            fit._cache["extrapolation"] = ExtrapolationRisk.from_dict(
                json.loads(tree.attrs[EXTRAPOLATION_ATTR]))
        except (KeyError, TypeError, ValueError) as err:
            raise FitFileError(f"{path}: the fit's learned extrapolation risk cannot be "
                               f"read: {err}") from None
    return fit
