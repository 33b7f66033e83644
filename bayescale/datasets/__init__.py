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

Modules: ``registry`` (the data folder and ``registry.json``), ``files`` (locating, hashing,
reading), ``checks`` (value checks), ``loading`` (``load`` and the table of tidy functions), and
one module per data set, named like it, holding its ``tidy`` function.
"""

from __future__ import annotations

from .chinchilla_epoch import highest_loss_excluded
from .loading import load, obsscaling_long
from .registry import EXTERNAL_ENV, available, data_dir, describe, external_dir, info

__all__ = ["available", "info", "describe", "load", "obsscaling_long", "data_dir",
           "external_dir", "highest_loss_excluded", "EXTERNAL_ENV"]
