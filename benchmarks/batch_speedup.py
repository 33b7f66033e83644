"""Many fits at once: ``bs.fit_many`` serially and on a Dask LocalCluster of 1 and 2 workers.

    python benchmarks/batch_speedup.py [--fits 8] [--out benchmarks/results]

The batch: the Chinchilla model (default settings: numpyro, 4 chains x 1000 draws) fitted to
``--fits`` bootstrap resamples of the 240 runs. Every set-up first runs the batch once to
start its workers and compile (XLA programs are then reused: same structure, same shapes),
then runs it again, timed. Reported: wall time of the timed batch, seconds per fit, speed-up
against 1 worker, and whether the tables equal the serial one (same seeds).

Writes ``batch_speedup.md`` and ``batch_speedup.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def jobs(n: int) -> dict:
    import bayescale as bs
    from bayescale.datasets import highest_loss_excluded
    from bayescale.replications.chinchilla import EXCLUDED_HIGHEST_LOSS

    runs = highest_loss_excluded(bs.datasets.load("chinchilla_epoch"), EXCLUDED_HIGHEST_LOSS)
    rng = np.random.default_rng(0)
    model = bs.Model("chinchilla")
    return {f"resample {i}": (model, runs.iloc[rng.integers(len(runs), size=len(runs))]
                              .reset_index(drop=True)) for i in range(n)}


def timed(batch: dict, executor=None) -> tuple[float, pd.DataFrame]:
    import bayescale as bs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bs.fit_many(batch, executor=executor, progressbar=False, seed=1)   # warm-up
        start = time.perf_counter()
        table = bs.fit_many(batch, executor=executor, progressbar=False, seed=1)
    return time.perf_counter() - start, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=8)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    import distributed

    from bayescale.report import frame_table

    batch = jobs(args.fits)
    rows = []
    serial_seconds, serial = timed(batch)
    rows.append({"set-up": "serial, this process", "workers": 0, "seconds": serial_seconds})
    numbers = [c for c in serial.columns if c not in ("seconds", "problems", "sampler")]
    for workers in (1, 2):
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            seconds, table = timed(batch, client.get_executor())
        same = table[numbers].equals(serial[numbers])
        rows.append({"set-up": f"Dask LocalCluster, {workers} worker(s)", "workers": workers,
                     "seconds": seconds, "same_as_serial": same})
    frame = pd.DataFrame(rows)
    frame["seconds_per_fit"] = frame["seconds"] / args.fits
    one = frame.loc[frame["workers"] == 1, "seconds"].iloc[0]
    frame["speed_up_vs_1_worker"] = one / frame["seconds"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "batch_speedup.json").write_text(json.dumps(
        {"fits": args.fits, "cpu_count": os.cpu_count(),
         "rows": frame.to_dict(orient="records")}, indent=2, default=str))
    text = (f"# fit_many: {args.fits} Chinchilla fits (bootstrap resamples), {os.cpu_count()} "
            "cores\n\nEach set-up ran the batch once to start and compile, then again, "
            "timed.\n\n" + frame_table(frame) + "\n")
    (out / "batch_speedup.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
