"""The data registry: where ``data/`` is, what ``registry.json`` lists, provenance by name."""

from __future__ import annotations

import copy
import difflib
import json
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["EXTERNAL_ENV", "data_dir", "external_dir", "registry", "available", "info",
           "describe", "is_shipped", "file_specs"]

#: Environment variable naming the folder that holds the external (not shipped) data sets.
EXTERNAL_ENV = "BAYESCALE_EXTERNAL_DATA"


def data_dir() -> Path:
    """The ``data/`` folder: ``$BAYESCALE_DATA``, the installed package data, or the checkout's.

    An installed wheel carries ``data/`` as ``bayescale/data``; a repository (or editable)
    checkout has it beside the package.
    """
    env = os.environ.get("BAYESCALE_DATA")
    if env:
        candidates = [Path(env)]
    else:
        installed = Path(str(resources.files("bayescale").joinpath("data")))
        candidates = [installed, Path(__file__).resolve().parents[2] / "data"]
    for path in candidates:
        if (path / "registry.json").exists():
            return path
    raise FileNotFoundError(f"bayescale data folder not found at {candidates[-1]} (no "
                            "registry.json); install bayescale from its repository checkout or "
                            "set BAYESCALE_DATA")


def external_dir() -> Path | None:
    """The folder of the external data sets, ``$BAYESCALE_EXTERNAL_DATA``, or None if unset."""
    env = os.environ.get(EXTERNAL_ENV)
    return Path(env) if env else None


@cache
def _registry_at(folder: str) -> dict[str, dict[str, Any]]:
    return json.loads((Path(folder) / "registry.json").read_text())


def registry() -> dict[str, dict[str, Any]]:
    """The parsed ``registry.json`` of ``data_dir()`` (cached; do not modify)."""
    return _registry_at(str(data_dir()))


def available() -> list[str]:
    """Names of all registered data sets, shipped and external.

    Returns
    -------
    list of str
        Sorted names; ``info(name)["shipped"]`` tells which are shipped.
    """
    return sorted(registry())


def is_shipped(entry: dict[str, Any]) -> bool:
    """Whether a registry entry's files lie under ``data/`` (not ``"redistributable": false``)."""
    return entry.get("redistributable", True) is not False


def file_specs(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The entry's files, each with ``file``, ``sha256`` and ``required_columns``."""
    if "files" in entry:
        return entry["files"]
    return [{k: entry[k] for k in ("file", "sha256", "required_columns")}]


def info(name: str) -> dict[str, Any]:
    """Provenance and column documentation of a data set.

    Parameters
    ----------
    name : str
        A name from ``available()``.

    Returns
    -------
    dict
        The registry entry (a copy): ``title``, ``citation``, ``origin`` (repository, path,
        commit), ``license``, ``columns`` (tidy column -> meaning and unit), ``rows`` (tidy
        rows), ``fixes`` (known errors and how they are handled), the file(s) with SHA-256,
        ``obtain`` for external data sets, plus ``shipped`` (bool).

    Raises
    ------
    KeyError
        Unknown name; the message suggests the closest one.
    """
    reg = registry()
    if name not in reg:
        close = difflib.get_close_matches(name, reg, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown data set {name!r}.{hint} Available: {', '.join(available())}")
    entry = copy.deepcopy(reg[name])
    entry["shipped"] = is_shipped(entry)
    return entry


def describe(name: str | None = None) -> pd.DataFrame | str:
    """A listing of all data sets, or a readable summary of one.

    Parameters
    ----------
    name : str, optional
        Without it, one row per data set; with it, the provenance of that data set as text.

    Returns
    -------
    pandas.DataFrame or str
        Columns ``name``, ``rows``, ``shipped``, ``license``, ``title``; or a multi-line text.
    """
    if name is None:
        rows = [{"name": n, "rows": e.get("rows"), "shipped": e["shipped"],
                 "license": e["license"], "title": e["title"]}
                for n, e in ((n, info(n)) for n in available())]
        return pd.DataFrame(rows)
    e = info(name)
    files = ", ".join(spec["file"] for spec in file_specs(e))
    lines = [f"{name}: {e['title']}",
             f"  rows:     {e.get('rows')} (tidy)",
             f"  shipped:  {'yes, in ' + str(data_dir()) if e['shipped'] else 'no (external)'}",
             f"  files:    {files}",
             f"  license:  {e['license']}",
             f"  origin:   {e['origin']}",
             f"  citation: {e['citation']}"]
    if not e["shipped"]:
        lines.append(f"  obtain:   {e['obtain']} Put it in ${EXTERNAL_ENV}/{files}.")
    lines.append("  columns:")
    lines += [f"    {col}: {meaning}" for col, meaning in e["columns"].items()]
    if e.get("fixes"):
        lines.append("  known errors / fixes:")
        lines += [f"    - {fix}" for fix in e["fixes"]]
    return "\n".join(lines)
