"""Process-level set-up for the JAX backend, done before JAX is imported.

numpyro runs chains in parallel only over JAX devices; on a CPU there is one device unless
``--xla_force_host_platform_device_count`` is set before JAX starts (numpyro's
``set_host_device_count`` does the same). Measured on 2 cores, 4 chains of the Chinchilla
refit: parallel 8.7 s, vectorized 17.3 s. A flag the user already set is left alone.
"""

from __future__ import annotations

import os
import sys

HOST_DEVICES = 4


def configure_host_devices(count: int = HOST_DEVICES) -> bool:
    """Ask XLA for ``count`` CPU devices, unless JAX is already imported or the user chose."""
    if "jax" in sys.modules:
        return False
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return False
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
    return True
