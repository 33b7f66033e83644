"""RNSL held-out split, hierarchical power law by curve, in law and in curve coordinates.

    python benchmarks/coordinates_backtest.py DOMAIN COORDS   # BB|LM|NMT|IC, law|curve

Fits ``power_law:x`` with E, A, alpha by curve on the paper's fitting part of each curve
(thinned to 60 log-spaced runs per curve, 20 for IC, as benchmarks/calibration_cases.py), scores
the paper's held-out part (coverage of central intervals of a new observation, RMSE of log
values, log predictive density), and prints one JSON line. Results of BB, LM, NMT x law, curve:
``benchmarks/results/coordinates_backtest.{jsonl,md}``.
"""

import json
import sys
import time
import warnings

import pandas as pd
from calibration_cases import thin_log

import bayescale as bs
from bayescale.calibrate import backtest


def main() -> None:
    warnings.simplefilter("ignore")
    domain, coords = sys.argv[1], sys.argv[2]
    rnsl = bs.datasets.load("revisiting_nsl")
    rnsl = rnsl[(rnsl["y"] > 0) & (rnsl["domain"] == domain)].rename(columns={"y": "loss"})
    fitpart = thin_log(rnsl[~rnsl["heldout"]], "curve", "x", 20 if domain == "IC" else 60)
    data = pd.concat([fitpart, rnsl[rnsl["heldout"]]])[["x", "loss", "curve", "heldout"]]
    model = bs.Model("power_law:x", hierarchy={p: "curve" for p in ("E", "A", "alpha")},
                     coordinates=coords)
    start = time.time()
    bt = backtest(model, data, holdout="column:heldout", baseline=False, seed=0)
    print(json.dumps({"domain": domain, "coords": coords, "s": round(time.time() - start),
                      **bt.table().loc["bayescale"].to_dict()}))


if __name__ == "__main__":
    main()
