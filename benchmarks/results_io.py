"""Writing the benchmarks' result tables: whole or not at all."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd


def write_text(text: str, path: str | Path) -> Path:
    """Write ``text`` to ``path`` atomically: to a temporary file in the same folder, then
    ``os.replace`` (an interrupted run leaves the previous file, never half of one)."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            handle.write(text)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return path


def write_csv(frame: pd.DataFrame, path: str | Path, **to_csv: Any) -> Path:
    """Write ``frame`` to ``path`` atomically (:func:`write_text`)."""
    return write_text(frame.to_csv(**{"index": False, **to_csv}), path)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file, one per non-blank line."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def append_jsonl(record: dict[str, Any], path: str | Path) -> list[dict[str, Any]]:
    """Add one JSON line to ``path`` atomically (the old lines and the new one rewritten
    together); returns every record in the file."""
    path = Path(path)
    records = read_jsonl(path) if path.exists() else []
    records.append(record)
    write_text("".join(json.dumps(r) + "\n" for r in records), path)
    return records
