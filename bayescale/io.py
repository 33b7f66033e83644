"""Files of fitted models: netCDF (``.nc``) or zarr (``.zarr``), written atomically.

Guarantees:

* a save writes to a unique temporary file (or folder) beside the target and replaces the
  target in one step (``os.replace`` for a file; for a zarr folder the old store is moved
  aside, the new one moved in, and only then the old one removed), so a crash or Ctrl-C at
  any moment leaves either the old fit or the new one at the path, never neither;
* ``overwrite=True`` only ever replaces a bayescale fit: any other file or folder at the path
  (a folder of your files, ``..``) is refused, and the check is repeated just before the
  replacement; with ``overwrite=False`` the final step fails if anything appeared at the path
  meanwhile (two concurrent saves cannot both report success);
* loading opens the file lazily, refuses one that declares more than ``max_bytes`` of arrays
  before reading any of them, and checks the stored metadata (see :func:`read_tree`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import xarray as xr

__all__ = ["ATTR", "is_bayescale_fit", "write_tree", "read_tree", "FitFileError",
           "check_writable", "MAX_LOAD_BYTES"]

ATTR = "bayescale"                 # root attribute holding the JSON metadata of a fit
MAX_LOAD_BYTES = 8 * 2**30         # refuse files declaring more array data than this
_TMP_SUFFIX = ".bayescale-tmp"
_ASIDE_SUFFIX = ".bayescale-old"

# Temporary paths being written by this process: removed by :func:`discard_temporaries`
# (the CLI calls it when interrupted, before it exits).
_IN_PROGRESS: set[Path] = set()


class FitFileError(ValueError):
    """A file that is not a readable bayescale fit, or one that does not match the model."""


def _fmt(path: Path) -> str:
    return "zarr" if path.suffix == ".zarr" else "netcdf"


def is_bayescale_fit(path: str | Path) -> bool:
    """Whether ``path`` is a fit bayescale saved (its root carries the ``bayescale``
    attribute); reads only the root metadata."""
    path = Path(path)
    try:
        if path.is_dir():
            meta = path / "zarr.json"
            if meta.is_file():
                return ATTR in json.loads(meta.read_text()).get("attributes", {})
            legacy = path / ".zattrs"   # zarr format 2
            return legacy.is_file() and ATTR in json.loads(legacy.read_text())
        if path.is_file():
            import h5py

            with h5py.File(path, "r") as handle:
                return ATTR in handle.attrs
    except (OSError, ValueError):
        return False
    return False


def check_writable(path: str | Path, *, overwrite: bool) -> Path:
    """Raise a clear error now if a fit cannot be saved at ``path`` (so that the CLI fails
    before sampling, not after)."""
    path = Path(path)
    if path.suffix not in (".nc", ".zarr"):
        raise ValueError(f"{path}: a fit is saved as .nc (netCDF) or .zarr; got suffix "
                         f"{path.suffix or '(none)'!r}")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot save to {path}: folder {parent} is not writable")
    _check_replaceable(path, overwrite=overwrite)
    return path


def _check_replaceable(path: Path, *, overwrite: bool) -> None:
    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (CLI: --force) to replace "
                              "it")
    if path.is_symlink() or not is_bayescale_fit(path):
        kind = "folder" if path.is_dir() else "file"
        raise FileExistsError(f"{path} exists and is not a bayescale fit ({kind}); overwrite "
                              "only replaces fits bayescale saved, never other files or "
                              "folders: choose another path")
    if _fmt(path) == "zarr" and not path.is_dir() or _fmt(path) == "netcdf" and path.is_dir():
        raise FileExistsError(f"{path} holds a fit in another format than its suffix says; "
                              "remove it yourself or choose another path")


@contextlib.contextmanager
def _temporary(path: Path) -> Iterator[Path]:
    """A unique temporary file (netCDF) or folder (zarr) beside ``path``, removed unless it
    was moved into place."""
    parent = path.absolute().parent
    prefix = f".{path.name}."
    if _fmt(path) == "zarr":
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=_TMP_SUFFIX, dir=parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=_TMP_SUFFIX, dir=parent)
        os.close(fd)
        tmp = Path(name)
    _IN_PROGRESS.add(tmp)
    try:
        yield tmp
    finally:
        _IN_PROGRESS.discard(tmp)
        _remove_own(tmp)


def _remove_own(tmp: Path) -> None:
    """Remove a temporary path this module created (only ever one of ours)."""
    if not tmp.name.endswith((_TMP_SUFFIX, _ASIDE_SUFFIX)):
        raise RuntimeError(f"refusing to remove {tmp}: not a bayescale temporary path")
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    elif tmp.exists() or tmp.is_symlink():
        with contextlib.suppress(OSError):
            tmp.unlink()


def discard_temporaries() -> None:
    """Remove the temporary files of saves still in progress (called on interrupt)."""
    for tmp in list(_IN_PROGRESS):
        _remove_own(tmp)
        _IN_PROGRESS.discard(tmp)


def write_tree(tree: xr.DataTree, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``tree`` to ``path`` atomically (see the module docstring)."""
    path = check_writable(path, overwrite=overwrite)
    with _temporary(path) as tmp:
        if _fmt(path) == "zarr":
            tree.to_zarr(tmp, consolidated=False, mode="w")
        else:
            tree.to_netcdf(tmp, engine="h5netcdf")
        _check_replaceable(path, overwrite=overwrite)   # again: the world may have changed
        if _fmt(path) == "zarr":
            _replace_folder(tmp, path, overwrite=overwrite)
        elif overwrite:
            os.replace(tmp, path)
        else:
            _create_exclusive(tmp, path)
    return path


def _create_exclusive(tmp: Path, path: Path) -> None:
    """Put the file ``tmp`` at ``path`` only if nothing is there (atomic check and create)."""
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise FileExistsError(f"{path} appeared while saving; not replaced") from None
    except OSError:   # a file system without hard links: claim the name, then replace it
        pass
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        raise FileExistsError(f"{path} appeared while saving; not replaced") from None
    os.replace(tmp, path)


def _replace_folder(tmp: Path, path: Path, *, overwrite: bool) -> None:
    """Move the store ``tmp`` to ``path``; an old store there is moved aside first and
    removed only once the new one is in place (restored if the move fails)."""
    if not overwrite or not path.exists():
        try:
            os.rename(tmp, path)         # refuses a non-empty folder at path
        except OSError as err:
            raise FileExistsError(f"{path} appeared while saving; not replaced ({err})") \
                from None
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=_ASIDE_SUFFIX,
                                  dir=path.absolute().parent))
    aside.rmdir()
    os.rename(path, aside)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(aside, path)
        raise
    _remove_own(aside)


def _declared_bytes(tree: xr.DataTree) -> int:
    return sum(int(var.nbytes) for node in tree.subtree for var in node.dataset.variables
               .values())


def read_tree(path: str | Path, *, max_bytes: int = MAX_LOAD_BYTES) -> tuple[xr.DataTree,
                                                                             dict[str, Any]]:
    """Open a saved fit lazily, check its size and metadata, then load it into memory.

    Returns the tree and its decoded ``bayescale`` metadata. Raises :class:`FitFileError`
    for a file that is not a bayescale fit, declares more than ``max_bytes`` of arrays
    (a corrupted or hostile file), or whose metadata is unreadable.
    """
    path = Path(path)
    if not path.exists():
        aside = sorted(path.absolute().parent.glob(f".{path.name}.*{_ASIDE_SUFFIX}"))
        if aside:
            raise FileNotFoundError(f"no saved fit at {path}: a save that replaced it was "
                                    f"interrupted; the previous fit is kept at {aside[-1]} "
                                    "(rename it back to use it)")
        raise FileNotFoundError(f"no saved fit at {path}")
    if not is_bayescale_fit(path):
        raise FitFileError(f"{path} is not a bayescale fit (no '{ATTR}' attribute at its "
                           "root)")
    try:
        if path.is_dir():
            tree = xr.open_datatree(path, engine="zarr", consolidated=False)
        else:
            tree = xr.open_datatree(path, engine="h5netcdf", phony_dims="sort")
    except (OSError, ValueError, KeyError) as err:
        raise FitFileError(f"{path}: unreadable fit file ({type(err).__name__}: {err})") \
            from None
    try:
        size = _declared_bytes(tree)
        if size > max_bytes:
            raise FitFileError(f"{path} declares {size / 2**30:.1f} GiB of arrays, more than "
                               f"max_bytes={max_bytes / 2**30:.1f} GiB; a fit this large is "
                               "unusual (corrupted file?): pass a larger max_bytes to load it")
        try:
            meta = json.loads(tree.attrs[ATTR])
        except (TypeError, ValueError) as err:
            raise FitFileError(f"{path}: the '{ATTR}' metadata is not valid JSON ({err})") \
                from None
        if not isinstance(meta, dict):
            raise FitFileError(f"{path}: the '{ATTR}' metadata is not a JSON object")
        tree = tree.load()
    finally:
        tree.close()
    return tree, meta
