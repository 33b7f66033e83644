"""Every notebook runs top to bottom; a cell that errors fails the build."""

import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(Path(__file__).parent.parent / "notebooks"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path):
    from execute import execute

    execute(path, save=False)
