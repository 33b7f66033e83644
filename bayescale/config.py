"""JAX settings for bayescale's fits, applied at the first fit that uses JAX (or by
:func:`configure`), never at import and never through environment variables.

* CPU devices: numpyro runs chains in parallel only over JAX devices, and a CPU is one device
  unless JAX is told otherwise before its first computation (``jax_num_cpu_devices``).
  Measured on 2 cores, 4 chains of the Chinchilla refit: parallel 8.7 s, vectorised 17.3 s.
* Persistent compilation cache: a numpyro fit of a small model is bound by XLA compilation
  (Chinchilla refit: 8.9 s for the whole ``pm.sample``, 8.9 s with 10 draws); JAX's cache keeps
  compiled programs on disk, so a later process fitting the same model skips compilation
  (7.2 s -> 4.0 s for ``pm.sample``). Kept in ``$BAYESCALE_CACHE_DIR`` (default
  ``~/.cache/bayescale/jax``); ``BAYESCALE_JAX_CACHE=0`` turns it off.

Settings the user made (``XLA_FLAGS`` with a device count, ``JAX_NUM_CPU_DEVICES``, a JAX
cache directory) are left alone. When JAX already ran before bayescale could set the device
count, a warning says so and chains run vectorised on the devices there are.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

__all__ = ["configure", "compilation_cache_dir", "HOST_DEVICES"]

HOST_DEVICES = 4
_STATE: dict[str, Any] = {"configured": False}


def compilation_cache_dir() -> Path:
    root = os.environ.get("BAYESCALE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bayescale")
    return Path(root) / "jax"


def _backends_started() -> bool:
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):   # pragma: no cover - private API moved
        return True


def _user_chose_devices() -> bool:
    return ("xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")
            or "JAX_NUM_CPU_DEVICES" in os.environ)


def configure(*, host_devices: int | None = HOST_DEVICES,
              compilation_cache: bool | str | Path = True) -> dict[str, Any]:
    """Configure JAX for bayescale: ``host_devices`` CPU devices (None: leave JAX's choice)
    and the persistent compilation cache (True: bayescale's folder, a path: that folder,
    False: off). Call it before any JAX computation to change the defaults; bayescale's first
    JAX fit calls it with the defaults otherwise. Returns what was applied."""
    import jax

    applied: dict[str, Any] = {"host_devices": None, "compilation_cache": None}
    if host_devices is not None and not _user_chose_devices():
        if _backends_started():
            if jax.local_device_count() < host_devices and jax.default_backend() == "cpu":
                warnings.warn(f"JAX ran before bayescale could ask for {host_devices} CPU "
                              f"devices; chains run vectorised on {jax.local_device_count()} "
                              "device(s). Call bayescale.configure() right after importing "
                              "JAX, or set XLA_FLAGS=--xla_force_host_platform_device_count=4.",
                              RuntimeWarning, stacklevel=3)
        else:
            jax.config.update("jax_num_cpu_devices", int(host_devices))
            applied["host_devices"] = int(host_devices)
    want_cache = compilation_cache is not False and os.environ.get("BAYESCALE_JAX_CACHE",
                                                                   "1") != "0"
    if want_cache and not jax.config.jax_compilation_cache_dir \
            and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        folder = (compilation_cache_dir() if compilation_cache is True
                  else Path(compilation_cache))
        jax.config.update("jax_compilation_cache_dir", str(folder))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        jax.config.update("jax_compilation_cache_max_size", 2**30)
        applied["compilation_cache"] = str(folder)
    _STATE["configured"] = True
    return applied


def configure_once() -> None:
    """:func:`configure` with the defaults, unless it already ran (the first JAX fit)."""
    if not _STATE["configured"]:
        configure()
