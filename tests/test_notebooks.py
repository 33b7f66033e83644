"""Every notebook runs top to bottom in quick mode (fewer draws); a cell that errors fails the
build. The saved notebooks are executed in full mode by ``notebooks/execute.py``."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "notebooks"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, monkeypatch):
    from execute import execute

    # The kernel inherits this environment: quick mode, and this checkout's bayescale first.
    monkeypatch.setenv("BAYESCALE_QUICK", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    execute(path, save=False)


def test_notebooks_have_a_quick_mode():
    """Each notebook reads BAYESCALE_QUICK in its first code cell (the test above relies on
    it to stay fast)."""
    import nbformat

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert 'os.environ.get("BAYESCALE_QUICK") == "1"' in first.source, path.name
