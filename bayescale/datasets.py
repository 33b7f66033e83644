"""Published data sets, shipped in ``data/`` with their provenance, loaded as tidy frames.

Every file is listed in ``data/registry.json`` with its SHA-256, origin, license and citation;
``load`` checks the hash, the columns and the values before it returns anything.

Two kinds of entries:

* shipped (Apache-2.0 / MIT, or shipped before with citation): the file lies under ``data/``;
* external (``"redistributable": false``, license not stated): bayescale does not ship the
  file; ``load`` reads ``$BAYESCALE_EXTERNAL_DATA/<name>/<file>`` and, when it is absent, says
  how to obtain it (``info(name)["obtain"]``).

Each tidy frame carries ``attrs``: ``name``, ``citation``, ``origin``, ``license``, ``fixes``
(corrections applied to the published values, one sentence each) and ``dropped`` (rows removed,
by reason), and for some data sets ``flags`` (meaning of the ``flag`` column's codes).
"""

from __future__ import annotations

import ast
import copy
import difflib
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._validate import DataError

__all__ = ["available", "info", "describe", "load", "obsscaling_long", "data_dir",
           "external_dir", "highest_loss_excluded", "EXTERNAL_ENV"]

#: Environment variable naming the folder that holds the external (not shipped) data sets.
EXTERNAL_ENV = "BAYESCALE_EXTERNAL_DATA"


def data_dir() -> Path:
    """The ``data/`` folder: ``$BAYESCALE_DATA`` or the one beside the package."""
    env = os.environ.get("BAYESCALE_DATA")
    path = Path(env) if env else Path(__file__).resolve().parent.parent / "data"
    if not (path / "registry.json").exists():
        raise FileNotFoundError(f"bayescale data folder not found at {path} (no registry.json); "
                                "install bayescale from its repository checkout or set "
                                "BAYESCALE_DATA")
    return path


def external_dir() -> Path | None:
    """The folder of the external data sets, ``$BAYESCALE_EXTERNAL_DATA``, or None if unset."""
    env = os.environ.get(EXTERNAL_ENV)
    return Path(env) if env else None


@cache
def _registry_at(folder: str) -> dict[str, dict[str, Any]]:
    return json.loads((Path(folder) / "registry.json").read_text())


def _registry() -> dict[str, dict[str, Any]]:
    return _registry_at(str(data_dir()))


def available() -> list[str]:
    """Names of all registered data sets, shipped and external.

    Returns
    -------
    list of str
        Sorted names; ``info(name)["shipped"]`` tells which are shipped.
    """
    return sorted(_registry())


def _shipped(entry: dict[str, Any]) -> bool:
    return entry.get("redistributable", True) is not False


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
    reg = _registry()
    if name not in reg:
        close = difflib.get_close_matches(name, reg, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown data set {name!r}.{hint} Available: {', '.join(available())}")
    entry = copy.deepcopy(reg[name])
    entry["shipped"] = _shipped(entry)
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
    files = ", ".join(spec["file"] for spec in _file_specs(e))
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


# ------------------------------------------------------------------------------ reading
def _file_specs(entry: dict[str, Any]) -> list[dict[str, Any]]:
    if "files" in entry:
        return entry["files"]
    return [{k: entry[k] for k in ("file", "sha256", "required_columns")}]


def _locate(name: str, entry: dict[str, Any], spec: dict[str, Any]) -> Path:
    if _shipped(entry):
        path = data_dir() / spec["file"]
        if not path.exists():
            raise FileNotFoundError(f"data set {name}: file {path} is missing")
        return path
    root = external_dir()
    path = root / spec["file"] if root else None
    if path is None or not path.exists():
        where = (f"{path} does not exist" if path is not None
                 else f"the environment variable {EXTERNAL_ENV} is not set")
        raise FileNotFoundError(
            f"data set {name!r} is not shipped with bayescale (license: {entry['license']}), "
            f"and {where}. To obtain it: {entry['obtain']} Save it as "
            f"<folder>/{spec['file']} and set {EXTERNAL_ENV}=<folder>.")
    return path


def _read_file(name: str, entry: dict[str, Any], spec: dict[str, Any],
               verify: bool) -> pd.DataFrame:
    path = _locate(name, entry, spec)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != spec["sha256"]:
        msg = (f"data set {name}: {path} has SHA-256 {digest[:12]}..., expected "
               f"{spec['sha256'][:12]}... (the file was modified, is corrupt, or is another "
               "version than the registered one)")
        if verify:
            extra = ("" if _shipped(entry) else
                     f". If you produced it yourself as described ({entry['obtain']}), "
                     f"load({name!r}, verify=False) skips the hash; the values are still checked")
            raise DataError(msg + extra)
        warnings.warn(msg + "; loading anyway (verify=False)", stacklevel=3)
    try:
        frame = pd.read_csv(path, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"data set {name}: {path} is not a readable CSV: {err}") from None
    missing = [c for c in spec["required_columns"] if c not in frame.columns]
    if missing:
        raise DataError(f"data set {name}: file {path} lacks column"
                        f"{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; "
                        f"it has columns {list(map(str, frame.columns))}")
    frame.attrs["source"] = f"data set {name}, file {path}"
    return frame


def _read_checked(name: str, verify: bool = True) -> list[pd.DataFrame]:
    entry = info(name)
    return [_read_file(name, entry, spec, verify) for spec in _file_specs(entry)]


# --------------------------------------------------------------------------- value checks
def _lines(mask: np.ndarray, values: pd.Series, limit: int = 5) -> str:
    """Offending values by CSV line (line 1 is the header)."""
    idx = np.flatnonzero(mask)

    def show(v: object) -> str:
        return repr(v.item() if hasattr(v, "item") else v)

    shown = ", ".join(f"line {i + 2}: {show(values.iloc[i])}" for i in idx[:limit])
    return shown + (f" (and {len(idx) - limit} more)" if len(idx) > limit else "")


def _fail(raw: pd.DataFrame, column: str, what: str, mask: np.ndarray) -> None:
    if mask.any():
        src = raw.attrs.get("source", "data")
        raise DataError(f"{src}: column {column!r} {what}; found {_lines(mask, raw[column])}")


def _num(raw: pd.DataFrame, column: str, *, positive: bool = False, missing: bool = False,
         lo: float | None = None, hi: float | None = None, integer: bool = False) -> np.ndarray:
    """A column as float; missing values allowed only with ``missing=True`` (they stay NaN)."""
    col = raw[column]
    values = pd.to_numeric(col, errors="coerce")
    _fail(raw, column, "must be numeric", (values.isna() & col.notna()).to_numpy())
    arr = values.to_numpy(dtype=float)
    _fail(raw, column, "must be finite" if missing else "has missing or infinite values",
          np.isinf(arr) | (~np.isfinite(arr) & (not missing)))
    ok = np.isfinite(arr)
    if positive:
        _fail(raw, column, "must be > 0", ok & (arr <= 0))
    if lo is not None:
        _fail(raw, column, f"must be >= {lo}", ok & (arr < lo))
    if hi is not None:
        _fail(raw, column, f"must be <= {hi}", ok & (arr > hi))
    if integer:
        _fail(raw, column, "must hold whole numbers", ok & (arr != np.round(arr)))
    return arr


def _bool(raw: pd.DataFrame, column: str) -> np.ndarray:
    col = raw[column]
    if col.dtype == bool:
        return col.to_numpy()
    text = col.astype(str).str.strip().str.lower()
    mapping = {"true": True, "false": False, "1": True, "0": False}
    _fail(raw, column, "must be True/False (or 1/0)", (~text.isin(mapping)).to_numpy())
    return text.map(mapping).to_numpy(dtype=bool)


def _text(raw: pd.DataFrame, column: str, *, missing: bool = False,
          allowed: Iterable[str] | None = None) -> pd.Series:
    col = raw[column]
    if not missing:
        _fail(raw, column, "has missing values", col.isna().to_numpy())
    text = col.astype("string").fillna("").astype(object).astype(str)
    if allowed is not None:
        allowed = set(allowed)
        _fail(raw, column, f"must be one of {sorted(allowed)}",
              (~text.isin(allowed)).to_numpy())
    return text.reset_index(drop=True)


def _consistent(raw: pd.DataFrame, column: str, got: np.ndarray, want: np.ndarray,
                what: str, rtol: float = 1e-6) -> None:
    ok = np.isfinite(got) & np.isfinite(want)
    bad = ok & ~np.isclose(got, want, rtol=rtol, atol=0.0)
    _fail(raw, column, f"must equal {what}", bad)


def _nullable_int(values: np.ndarray) -> pd.Series:
    return pd.Series(pd.array([int(v) if np.isfinite(v) else None for v in values],
                               dtype="Int64"))


# ------------------------------------------------------------------------- tidy functions
def _chinchilla_epoch(raw: pd.DataFrame) -> pd.DataFrame:
    n = _num(raw, "Model Size", positive=True)
    c = _num(raw, "Training FLOP", positive=True)
    loss = _num(raw, "loss", positive=True)
    return pd.DataFrame({"N": n, "C": c, "D": c / (6.0 * n), "loss": loss})


def _datablations(raw: pd.DataFrame) -> pd.DataFrame:
    n = _num(raw, "params", positive=True)
    d = _num(raw, "tokens", positive=True)
    u = _num(raw, "unique_tokens", positive=True, missing=True)
    epochs = _num(raw, "epochs", positive=True, missing=True)
    _consistent(raw, "epochs", epochs, d / u, "tokens / unique_tokens")
    loss = _num(raw, "val_loss", positive=True, missing=True)
    nb_d = _num(raw, "notebook_fit_tokens", positive=True, missing=True)
    nb_u = _num(raw, "notebook_fit_unique_tokens", positive=True, missing=True)
    used = _bool(raw, "used_in_paper_fit_cell")
    _fail(raw, "val_loss", "must be present for the runs used in the paper's fit",
          used & ~np.isfinite(loss))
    _fail(raw, "notebook_fit_tokens", "must be present for the runs used in the paper's fit",
          used & ~(np.isfinite(nb_d) & np.isfinite(nb_u)))
    run = _text(raw, "run_name")
    corrected = np.isfinite(nb_d) & ~(np.isclose(nb_d, d, rtol=1e-9)
                                      & np.isclose(nb_u, u, rtol=1e-9))
    frame = pd.DataFrame({
        "run_name": run, "N": n, "D": d, "U": u, "epochs": d / u, "loss": loss,
        "seed": _nullable_int(_num(raw, "seed", missing=True, lo=0, integer=True)),
        "tags": _text(raw, "variant_tags", missing=True),
        "used_in_paper_fit": used, "corrected": corrected,
        "notebook_D": nb_d, "notebook_U": nb_u,
        "python_code_percent": _num(raw, "python_code_percent", missing=True, lo=0, hi=100),
        "commented_out": _bool(raw, "commented_out"),
        "note": _text(raw, "note", missing=True),
    })
    fixes = [f"run {frame.run_name[i]}: D = {d[i]:.4g}, U = {u[i]:.4g} tokens as the file holds "
             f"(the authors' notebook parsed D = {nb_d[i]:.4g}, U = {nb_u[i]:.4g} from the run "
             "name, reading the suffix 'opt2' as part of the unique-token count); the notebook's "
             "values are kept in notebook_D / notebook_U, N is the notebook's "
             f"{n[i]:.5g} (its inline note says {frame.note[i]!r})"
             for i in np.flatnonzero(corrected)]
    no_loss = ~np.isfinite(loss)
    no_u = ~no_loss & ~np.isfinite(u)
    dropped = {"no final validation loss (val_loss empty: run unfinished, the notebook "
               "stored 0)": int(no_loss.sum()),
               "no unique-token count (unique_tokens empty: the run name has no "
               "unique-token part)": int(no_u.sum())}
    frame = frame[~(no_loss | no_u)].reset_index(drop=True)
    frame.attrs.update({"fixes": fixes, "dropped": dropped})
    return frame


# Parameter counts of the repetition runs, from the datablations notebook's PARAMS_MAP.
_DATABLATIONS_PARAMS = {"2.8B": 2.81e9, "4.2B": 4.2465e9, "8.7B": 8.67e9}


def _run_id(raw: pd.DataFrame, column: str) -> pd.Series:
    def parse(text: object) -> str | None:
        try:
            value = ast.literal_eval(str(text))
        except (ValueError, SyntaxError):
            return None
        run = value.get("tensorboard") if isinstance(value, dict) else None
        return run if isinstance(run, str) and run else None

    ids = raw[column].map(parse)
    _fail(raw, column, "must read {'tensorboard': '<run id>'}", ids.isna().to_numpy())
    return ids.astype(str).reset_index(drop=True)


def _datablations_repetition(raw: pd.DataFrame) -> pd.DataFrame:
    label = _text(raw, "num_params", allowed=_DATABLATIONS_PARAMS)
    n = label.map(_DATABLATIONS_PARAMS).to_numpy(dtype=float)
    d = _num(raw, "token_num", positive=True)
    frame = pd.DataFrame({
        "run": _run_id(raw, "model_args"), "size_label": label, "N": n,
        "corpus": _text(raw, "data", allowed=("c4", "oscar")),
        "epochs": _num(raw, "epochs", positive=True),
        "D": d, "U": _num(raw, "tokens_per_epoch", positive=True),
        "C": 6.0 * n * d, "loss": _num(raw, "loss", positive=True),
        "checkpoint": _text(raw, "checkpoint"),
    })
    frame["final"] = frame.D.eq(frame.groupby("run").D.transform("max"))
    frame.attrs.update({
        "fixes": ["C recomputed as 6 N D: the file's 'flops' column is wrong (flops x token_num "
                  "is constant within a run) and is not used; N is the datablations notebook's "
                  "count for the size label (2.8B: 2.81e9, 4.2B: 4.2465e9, 8.7B: 8.67e9)"],
        "dropped": {}})
    return frame


_OBS_TASKS = ["MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K", "XWinograd",
              "HumanEval"]
# (model, column, wrong value, right value, reason): applied only where the file holds the
# wrong value.
_OBS_FIXES = [
    ("cerebras/btlm-3b-8k-base", "tokens", 627e12, 0.627e12,
     "BTLM was trained on 627 billion tokens; the file has 627 in the trillions column"),
]
_OBS_FLAGS = {
    "moe_params": ("mixture-of-experts model: 'Model Size (B)' is neither consistently total "
                   "nor active parameters (e.g. Mixtral-8x22B listed as 39) and FLOPs are "
                   "missing or use that size, so N and C are not comparable with dense models "
                   "(SOURCE.md names Mixtral, Qwen2-57B-A14B, DeepSeek-V2, Jamba; the "
                   "DeepSeek-Coder-V2 and DeepSeek-MoE models are MoE as well)",
                   ["mistralai/Mixtral-8x7B-v0.1", "mistralai/Mixtral-8x22B-v0.1",
                    "Qwen/Qwen2-57B-A14B", "deepseek-ai/DeepSeek-V2",
                    "deepseek-ai/DeepSeek-Coder-V2-Base", "deepseek-ai/deepseek-moe-16b-base",
                    "ai21labs/Jamba-v0.1"]),
    "size_mismatch": ("'Model Size (B)' = 13 (and FLOPs computed from it) for "
                      "open_llama_7b_v2, a 7B model by its name; not in SOURCE.md's list and "
                      "no corrected value is documented, so flagged, not fixed",
                      ["openlm-research/open_llama_7b_v2"]),
}


def _obsscaling(raw: pd.DataFrame) -> pd.DataFrame:
    model = _text(raw, "Model")
    _fail(raw, "Model", "must be unique", model.duplicated().to_numpy())
    n = _num(raw, "Model Size (B)", positive=True) * 1e9
    tokens = _num(raw, "Pretraining Data Size (T)", positive=True, missing=True) * 1e12
    c = _num(raw, "FLOPs (1E21)", positive=True, missing=True) * 1e21
    frame = pd.DataFrame({"model": model, "family": _text(raw, "Model Family"),
                          "N": n, "tokens": tokens, "C": c})
    for task in _OBS_TASKS:
        frame[task] = _num(raw, task, missing=True, lo=0.0, hi=1.0)
    frame["fixed"] = False
    fixes = []
    for name, column, wrong, right, why in _OBS_FIXES:
        rows = np.flatnonzero(frame.model.eq(name) & np.isclose(frame[column], wrong))
        for i in rows:
            old_c = frame.at[i, "C"]
            frame.at[i, column] = right
            frame.at[i, "C"] = 6.0 * frame.at[i, "N"] * frame.at[i, "tokens"]
            frame.at[i, "fixed"] = True
            fixes.append(f"{name}: {column} {wrong:.4g} -> {right:.4g}, C {old_c:.5g} -> "
                         f"{frame.at[i, 'C']:.5g} FLOP ({why})")
    ratio = frame.C / (6.0 * frame.N * frame.tokens)
    _fail(raw, "FLOPs (1E21)", "must equal 6 x size x tokens (after the known fixes)",
          (ratio.notna() & ~np.isclose(ratio, 1.0, rtol=1e-3)).to_numpy())
    codes = [[code for code, (_, models) in _OBS_FLAGS.items() if m in models]
             for m in frame.model]
    frame["flag"] = [";".join(c) for c in codes]
    frame["fixed"] = frame.pop("fixed")
    frame.attrs.update({"fixes": fixes, "dropped": {},
                        "flags": {code: why for code, (why, _) in _OBS_FLAGS.items()},
                        "tasks": list(_OBS_TASKS)})
    return frame


def obsscaling_long() -> pd.DataFrame:
    """The ``obsscaling`` scores in long format, one row per (model, task) with a score.

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, ``family``, ``N``, ``tokens``, ``C``, ``flag``, ``fixed``, ``task``,
        ``accuracy`` (fraction in [0, 1]); rows without a score are dropped (counted in
        ``attrs["dropped"]``). Fixes and flags are those of ``load("obsscaling")``.
    """
    wide = load("obsscaling")
    ids = ["model", "family", "N", "tokens", "C", "flag", "fixed"]
    long = wide.melt(id_vars=ids, value_vars=_OBS_TASKS, var_name="task",
                     value_name="accuracy")
    missing = long.accuracy.isna()
    long = long[~missing].reset_index(drop=True)
    long.attrs = copy.deepcopy(wide.attrs)
    long.attrs["dropped"] = {"no score for that (model, task) in the file": int(missing.sum())}
    return long


def _revisiting_nsl(lang: pd.DataFrame, vision: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for raw, file in ((lang, "lang"), (vision, "vision")):
        domain = _text(raw, "Domain", allowed=("IC", "NMT", "LM", "BB"))
        parts.append(pd.DataFrame({
            "domain": domain, "task": _text(raw, "Task"), "model": _text(raw, "Model"),
            "x": _num(raw, "Seen Examples", positive=True),
            "x_kind": np.where(domain.isin(["LM", "BB"]), "tokens", "examples"),
            "y": _num(raw, "Loss", positive=True),
            "heldout": ~_bool(raw, "Training"), "file": file}))
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "curve", frame.domain + "/" + frame.task + "/" + frame.model)
    dup = frame.duplicated(["curve", "x", "y", "heldout"])
    where = frame[dup].groupby("domain").size().to_dict()
    frame = frame[~dup]
    order = {c: i for i, c in enumerate(frame.curve.unique())}
    frame = (frame.assign(_order=frame.curve.map(order))
             .sort_values(["_order", "x"], kind="stable").drop(columns="_order")
             .reset_index(drop=True))
    frame.attrs.update({
        "fixes": [],
        "dropped": {f"exact duplicate rows (same curve, x, y, split; by domain: {where}; every "
                    "LM curve is stored 4 times in benchmark.lang.csv)": int(dup.sum())}})
    return frame


def _porian_rsld(raw: pd.DataFrame) -> pd.DataFrame:
    cats = {"dataset": ("rw", "owt2"), "hparams": ("base", "tuned"),
            "warmup": ("long", "short"), "decay": ("kaplan", "chinchilla", "const"),
            "param_count": ("kaplan", "standard", "attention"), "loss_split": ("train", "val")}
    frame = pd.DataFrame({k: _text(raw, k, allowed=v) for k, v in cats.items()})
    frame.insert(0, "config", frame.apply("/".join, axis=1))
    c = _num(raw, "flops", positive=True)
    n = _num(raw, "n", positive=True)
    d = _num(raw, "t", positive=True)
    _consistent(raw, "flops", c, 6.0 * n * d, "6 n t")
    frame = frame.assign(C=c, N=n, D=d, loss=_num(raw, "loss", positive=True),
                         source_file=_text(raw, "source_file"))
    frame.attrs.update({"fixes": [], "dropped": {}})
    return frame


_ROUTING_LOSSES = ["loss_c4", "loss_curation_corpus", "loss_lambada", "loss_pile",
                   "loss_wikitext103"]


def _routing_moe(raw: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({
        "run": _num(raw, "hyper_id", lo=0, integer=True).astype(int),
        "step": _num(raw, "step", lo=0, integer=True).astype(int),
        "router": _text(raw, "router_type", allowed=("Dense", "Hash", "S-Base", "RL-R")),
        "E": _num(raw, "num_experts", positive=True, integer=True).astype(int),
        "k": _num(raw, "k", positive=True, integer=True).astype(int),
        "N": _num(raw, "dense_parameter_count", positive=True),
        "P": _num(raw, "total_parameter_count", positive=True),
        "routing_frequency": _num(raw, "routing_frequency", positive=True, hi=1.0),
        "flop_increase": _num(raw, "flop_increase", positive=True),
        "d_model": _num(raw, "d_model", positive=True, integer=True).astype(int),
        "num_blocks": _num(raw, "num_blocks", positive=True, integer=True).astype(int),
        "num_heads": _num(raw, "num_heads", positive=True, integer=True).astype(int),
        "kqv_size": _num(raw, "kqv_size", positive=True, integer=True).astype(int),
        "seed": _num(raw, "seed", integer=True).astype(int),
        "size_label": _text(raw, "model_size_label"),
        "flops_per_step": _num(raw, "flops_per_step", positive=True),
        "loss": _num(raw, "loss_validation", positive=True, missing=True),
    })
    for col in _ROUTING_LOSSES:
        frame[col] = _num(raw, col, positive=True, missing=True)
    _fail(raw, "total_parameter_count", "must be >= dense_parameter_count",
          (frame.P < frame.N * (1 - 1e-9)).to_numpy())
    no_loss = frame.loss.isna()
    frame = frame[~no_loss].reset_index(drop=True)
    frame["final"] = frame.step.eq(frame.groupby("run").step.transform("max"))
    frame.attrs.update({"fixes": [], "dropped": {
        "no loss_validation at that evaluation": int(no_loss.sum())}})
    return frame


def _gemstones(raw: pd.DataFrame) -> pd.DataFrame:
    n = _num(raw, "params_active_precise", positive=True)
    d = _num(raw, "tokens", positive=True)
    frame = pd.DataFrame({
        "run": _text(raw, "run_name"),
        "width": _num(raw, "width", positive=True, integer=True).astype(int),
        "depth": _num(raw, "depth", positive=True, integer=True).astype(int),
        "N": n, "D": d, "C": 6.0 * n * d,
        "step": _num(raw, "step", positive=True, integer=True).astype(int),
        "loss": _num(raw, "final_loss", positive=True),
        "num_nodes": _num(raw, "num_nodes", positive=True, integer=True).astype(int),
        "seconds_per_step": _num(raw, "seconds_per_step", positive=True),
    })
    frame.attrs.update({"fixes": [], "dropped": {}})
    return frame


# ------------------------------------------------------------- external (not shipped) sets
def _bnsl_4digit_addition(raw: pd.DataFrame) -> pd.DataFrame:
    split = _text(raw, "bnsl_fit_split", allowed=("fit", "extrapolate"))
    frame = pd.DataFrame({
        "train_set_size": _num(raw, "train_set_size", positive=True, integer=True).astype(int),
        "test_loss": _num(raw, "test_loss", positive=True),
        "bnsl_fit_split": split, "heldout": split.eq("extrapolate").to_numpy(),
        "point_index": _num(raw, "point_index", lo=0, integer=True).astype(int),
    })
    frame.attrs.update({"fixes": [], "dropped": {}})
    return frame


def _chinchilla_model_configs(raw: pd.DataFrame) -> pd.DataFrame:
    n = _num(raw, "params_total_millions", positive=True) * 1e6
    width = _num(raw, "d_model", positive=True, integer=True)
    emb = _num(raw, "embedding_params_32k_vocab", positive=True)
    non_emb = _num(raw, "non_embedding_params_est", positive=True)
    _consistent(raw, "embedding_params_32k_vocab", emb, 32_000 * width, "d_model x 32000")
    _consistent(raw, "non_embedding_params_est", non_emb, n - emb,
                "params_total_millions x 1e6 - embedding_params_32k_vocab")
    frame = pd.DataFrame({"N": n, "d_model": width.astype(int), "N_embedding": emb,
                          "N_non_embedding": non_emb})
    frame.attrs.update({"fixes": [], "dropped": {}})
    return frame


def _misfitting(raw: pd.DataFrame) -> pd.DataFrame:
    loss = _num(raw, "loss", positive=True)
    _consistent(raw, "C4 Eval Loss", _num(raw, "C4 Eval Loss", positive=True), loss, "loss")
    portion = _num(raw, "portion_steps_elapsed", positive=True)
    frame = pd.DataFrame({
        "model": _text(raw, "model"),
        "N": _num(raw, "N", positive=True), "N_no_emb": _num(raw, "N_no_emb", positive=True),
        "D": _num(raw, "D", positive=True),
        "C": _num(raw, "C", positive=True), "C_no_emb": _num(raw, "C_no_emb", positive=True),
        "C_6ND": _num(raw, "C_6ND", positive=True), "loss": loss,
        "peak_lr": _num(raw, "peak_lr", positive=True),
        "train_tokens": _num(raw, "train_tokens", positive=True),
        "current_steps": _num(raw, "current_steps", positive=True, integer=True).astype(int),
        "total_steps": _num(raw, "total_steps", positive=True, integer=True).astype(int),
        "portion_steps_elapsed": portion, "final": portion == 1.0,
        "sweep": _text(raw, "sweep"),
    })
    past = portion > 1.0
    frame = frame[~past].reset_index(drop=True)
    frame.attrs.update({"fixes": [], "dropped": {
        "checkpoint past the run's planned steps (portion_steps_elapsed > 1; not in the "
        "authors' last-checkpoint file)": int(past.sum())}})
    return frame


def _steplaw_lr_bs(raw: pd.DataFrame) -> pd.DataFrame:
    d = _num(raw, "D", positive=True)
    bs = _num(raw, "bs", positive=True, integer=True)
    steps = _num(raw, "ti", positive=True, integer=True)
    _consistent(raw, "ti", steps * bs * 2048, d, "D / (bs x 2048)", rtol=5e-3)
    frame = pd.DataFrame({
        "run": _text(raw, "exp_name"), "N": _num(raw, "N", positive=True), "D": d,
        "lr": _num(raw, "lr", positive=True), "bs": bs.astype(int), "steps": steps.astype(int),
        "loss": _num(raw, "loss", positive=True),
        "smooth_loss": _num(raw, "smooth loss", positive=True),
        "hidden": _num(raw, "h", positive=True, integer=True).astype(int),
        "ffn_hidden": _num(raw, "ffnh", positive=True, integer=True).astype(int),
        "heads": _num(raw, "numh", positive=True, integer=True).astype(int),
        "layers": _num(raw, "numl", positive=True, integer=True).astype(int),
    })
    frame.attrs.update({"fixes": [], "dropped": {}})
    return frame


def _xlstm_isoflop_partial(raw: pd.DataFrame) -> pd.DataFrame:
    run = _text(raw, "run_name")
    arch = _text(raw, "arch", allowed=("llama", "mlstm", "?"))
    # The conversion wrote '?' for every mLSTM run; the run name and pickle say which it is.
    unknown = arch.eq("?")
    mlstm = (run.str.contains("_mLSTM", regex=False)
             & _text(raw, "source_file").str.startswith("isoflop_mlstm_"))
    _fail(raw, "arch", "is '?' for a run that is not recognisably mLSTM by its run name and "
          "source file", (unknown & ~mlstm).to_numpy())
    arch = arch.mask(unknown, "mlstm")
    frame = pd.DataFrame({
        "experiment": _text(raw, "experiment"), "run": run, "arch": arch,
        "context_length": _num(raw, "context_length", positive=True, integer=True),
        "N": _num(raw, "num_params", positive=True, missing=True),
        "batch_size": _num(raw, "global_batch_size", positive=True, missing=True),
        "steps": _num(raw, "num_train_steps", positive=True, missing=True),
        "D": _num(raw, "train_tokens", positive=True, missing=True),
        "lr": _num(raw, "peak_lr", positive=True),
        "loss": _num(raw, "final_val_loss", positive=True, missing=True),
        "final_step": _num(raw, "final_val_step", positive=True, missing=True),
        "finished": _bool(raw, "finished"),
        "C_6ND": _num(raw, "train_flops_6ND", positive=True, missing=True),
        "source_file": _text(raw, "source_file"),
    })
    no_loss = frame.loss.isna()
    no_n = ~no_loss & frame.N.isna()
    frame = frame[~(no_loss | no_n)].reset_index(drop=True)
    frame["context_length"] = frame.context_length.astype(int)
    fixes = [f"arch '?' -> 'mlstm' for {int(unknown.sum())} runs of the mLSTM pickles (run "
             "names dclm_mLSTMv1_...)"] if unknown.any() else []
    frame.attrs.update({"fixes": fixes, "dropped": {
        "no final validation loss logged": int(no_loss.sum()),
        "no parameter count in the wandb summary": int(no_n.sum())}})
    return frame


def _protein_lm_scaling(raw: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({
        "objective": _text(raw, "objective", allowed=("CLM", "MLM")),
        "run": _text(raw, "run"), "size_label": _text(raw, "size_label"),
        "N": _num(raw, "size_label_value", positive=True),
        "budget": _num(raw, "isoflop_budget", positive=True, missing=True),
        "planned_epochs": _num(raw, "planned_epochs", positive=True, missing=True),
        "data": _text(raw, "data"),
        "C_nonembed": _num(raw, "gflops_nonembed", positive=True) * 1e9,
        "loss": _num(raw, "loss", positive=True),
    })
    frame.attrs.update({"fixes": [], "dropped": {}})
    return frame


_TIDY: dict[str, Callable[..., pd.DataFrame]] = {
    "chinchilla_epoch": _chinchilla_epoch,
    "datablations": _datablations,
    "datablations_repetition": _datablations_repetition,
    "obsscaling": _obsscaling,
    "revisiting_nsl": _revisiting_nsl,
    "porian_rsld": _porian_rsld,
    "routing_moe": _routing_moe,
    "gemstones": _gemstones,
    "bnsl_4digit_addition": _bnsl_4digit_addition,
    "chinchilla_model_configs": _chinchilla_model_configs,
    "misfitting": _misfitting,
    "steplaw_lr_bs": _steplaw_lr_bs,
    "xlstm_isoflop_partial": _xlstm_isoflop_partial,
    "protein_lm_scaling": _protein_lm_scaling,
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
    frame = _TIDY[name](*_read_checked(name, verify))
    attrs = {"fixes": [], "dropped": {}, **frame.attrs}
    attrs.update({"name": name, "citation": entry["citation"], "origin": entry["origin"],
                  "license": entry["license"]})
    frame.attrs = attrs
    return frame


def highest_loss_excluded(frame: pd.DataFrame, k: int, target: str = "loss") -> pd.DataFrame:
    """Drop the ``k`` runs with the highest target (Epoch's Chinchilla protocol drops 5)."""
    order = np.argsort(frame[target].to_numpy())
    return frame.iloc[np.sort(order[: len(frame) - k])].reset_index(drop=True)
