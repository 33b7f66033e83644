"""The README's quick start runs as written."""

import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"


@pytest.mark.slow
def test_quick_start_runs(tmp_path, monkeypatch):
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert len(block.splitlines()) <= 22
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "chinchilla.nc").exists()
    assert namespace["same"].posterior["alpha"].equals(namespace["fit"].posterior["alpha"])
