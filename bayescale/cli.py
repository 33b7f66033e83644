"""Command line: ``bayescale replicate|fit|summary|predict|laws|datasets``.

A thin wrapper: every command calls the same functions as the Python API.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

EXIT_USAGE = 2


def _number_or_column(value: str) -> float | str:
    """``--fix`` value: a number, or the name of the data column holding each run's value."""
    try:
        return float(value)
    except ValueError:
        return value.strip()


def _parse_mapping(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"{what} must look like NAME=VALUE, got {item!r}")
        out[key] = value
    return out


def _sampler_args(p: argparse.ArgumentParser, draws: int = 1000) -> None:
    g = p.add_argument_group("sampling")
    g.add_argument("--draws", type=int, default=draws, help="draws per chain (default %(default)s)")
    g.add_argument("--tune", type=int, default=1000, help="tuning steps per chain")
    g.add_argument("--chains", type=int, default=4)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--sampler", default="auto",
                   choices=["auto", "numpyro", "nutpie", "pymc", "blackjax"])
    g.add_argument("--target-accept", type=float, default=0.9)
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _read_csv(path: str, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """A CSV; grouping columns are read as text, so labels keep their identity (``1.10``
    and ``1.1`` stay two groups)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        import pandas as pd

        return pd.read_csv(path, dtype={c: str for c in text_columns})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read {path} as CSV: {err}") from None


def _grouping_columns(model: Any) -> list[str]:
    """The data columns holding group labels (nested 'a/b' columns split into a and b)."""
    from .hierarchy import data_columns

    return [model.columns.get(c, c) for c in sorted(data_columns(model.grouping_columns))]


def _print_json(value: Any) -> None:
    """Strict JSON (NaN and infinities become null)."""
    print(json.dumps(_json_safe(value), indent=2, allow_nan=False))


def _json_safe(value: Any) -> Any:
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _print_frame(df: pd.DataFrame) -> None:
    import pandas as pd

    with pd.option_context("display.max_columns", None, "display.width", 200,
                           "display.float_format", "{:.5g}".format):
        print(df.to_string())


# ---------------------------------------------------------------------------- commands
def cmd_replicate(args: argparse.Namespace) -> int:
    from .replications import replicate

    kwargs: dict[str, Any] = {"draws": args.draws, "tune": args.tune, "chains": args.chains,
                              "sampler": args.sampler, "progressbar": not args.no_progress,
                              "target_accept": args.target_accept}
    if args.seed is not None:
        kwargs["seed"] = args.seed
    result = replicate(args.name, **kwargs)
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result.to_text())
    return 0 if result.passed else 1


def _model_from_args(args: argparse.Namespace) -> Any:
    from .model import Model

    vary = [v.strip() for v in (args.vary or "").split(",") if v.strip()]
    by = [b.strip() for b in (args.by or "").split(",") if b.strip()]
    if vary and not by:
        raise ValueError("--vary needs --by COLUMN (the grouping column the parameters vary by)")
    if by and not vary:
        raise ValueError("--by needs --vary PARAM[,PARAM] (which parameters vary by group)")
    hierarchy: dict[str, list[str]] = {p: by for p in vary}
    if args.noise_by:
        hierarchy["sigma"] = [args.noise_by]
    fixed = {k: _number_or_column(v) for k, v in _parse_mapping(args.fix, "--fix").items()}
    return Model(args.law, hierarchy=hierarchy, likelihood=args.likelihood, target=args.target,
                 columns=_parse_mapping(args.column, "--column"), fixed=fixed,
                 min_group_size=args.min_group_size)


def _sampling(args: argparse.Namespace) -> dict[str, Any]:
    return {"draws": args.draws, "tune": args.tune, "chains": args.chains,
            "sampler": args.sampler, "target_accept": args.target_accept}


def cmd_fit(args: argparse.Namespace) -> int:
    from .fit import check_sampling_args
    from .io import check_writable

    out = check_writable(args.out, overwrite=args.force)   # before the fit, not after it
    model = _model_from_args(args)
    check_sampling_args(**{k: v for k, v in _sampling(args).items() if k != "sampler"},
                        seed=args.seed)
    data = _read_csv(args.runs, _grouping_columns(model))
    fit = model.fit(data, seed=args.seed, progressbar=not args.no_progress, **_sampling(args))
    # learned once here and saved with the fit: every later `predict` uses the same risk
    # (without it, each predict process would refit the leave-future-out folds)
    risk = None if args.no_extrapolation else fit.extrapolation_risk()
    fit.save(out, overwrite=args.force)
    print(repr(fit))
    _print_frame(fit.summary(ci_prob=args.ci_prob))
    if risk is not None:
        print(f"extrapolation risk per e-fold of scale beyond the data ({risk.folds} "
              f"leave-future-out folds; prior: {risk.prior.source}):")
        _print_frame(risk.summary())
    print(f"saved to {out}")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from .calibrate import backtest

    model = _model_from_args(args)
    result = backtest(model, _read_csv(args.runs, _grouping_columns(model)), holdout=args.holdout,
                      axis=args.axis, baseline=not args.no_baseline, bootstrap=args.bootstrap,
                      seed=args.seed if args.seed is not None else 0,
                      fit_kwargs=_sampling(args), progressbar=not args.no_progress)
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result)
        for note in result.notes:
            print(f"note: {note}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from .loading import load

    fit = load(args.fit)
    table = fit.summary(ci_prob=args.ci_prob)
    if args.json:
        _print_json({"model": fit.model.to_dict(), "diagnostics": fit.diagnostics.__dict__,
                     "problems": fit.diagnostics.problems(),
                     "parameters": table.to_dict(orient="index")})
    else:
        print(repr(fit))
        print(fit.model)
        _print_frame(table)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .loading import load

    fit = load(args.fit)
    data = _read_csv(args.new, _grouping_columns(fit.model))
    groups = fit.model.grouping_columns
    for spec in args.group or ():
        col, sep, name = spec.partition("=")
        if not sep:
            if len(groups) != 1:
                raise ValueError(f"this fit has grouping columns {list(groups)}; say which with "
                                 f"--group COLUMN=NAME")
            col, name = groups[0], spec
        if col not in groups:
            raise ValueError(f"--group {spec}: {col!r} is not a grouping column of this fit "
                             f"({list(groups)})")
        data[col] = name
    if args.new_group:
        for col in groups:
            if col not in data.columns:
                data[col] = f"new {col}"
    probs = [float(p) for p in args.ci_prob.split(",")]
    table = fit.predict(data, ci_prob=probs, new_groups=args.new_group, seed=args.seed,
                        extrapolation=not args.no_extrapolation)
    if args.json:
        _print_json(table.to_dict(orient="records"))
    else:
        _print_frame(table)
    return 0


def cmd_laws(args: argparse.Namespace) -> int:
    from .laws import available_laws, get_law

    for name in available_laws():
        law = get_law(name)
        print(f"{name:<12} {law.formula}   ({law.source})")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from .datasets import describe

    if args.name:
        print(describe(args.name))
    else:
        _print_frame(describe()[["name", "rows", "shipped", "title"]])
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayescale",
                                     description="Bayesian hierarchical scaling-law fits")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("replicate", help="refit a published scaling law and compare")
    p.add_argument("name", help="chinchilla, datablations, obsscaling or "
                                 "obsscaling-capabilities")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _sampler_args(p)
    p.set_defaults(func=cmd_replicate)

    p = sub.add_parser("fit", help="fit a law to your runs (CSV) and save the posterior")
    p.add_argument("runs", help="CSV with one row per training run")
    _model_args(p)
    p.add_argument("--out", required=True, help="output file: .nc (netCDF) or .zarr")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.add_argument("--ci-prob", type=float, default=0.95)
    p.add_argument("--no-extrapolation", action="store_true",
                   help="do not learn the extrapolation risk now (leave-future-out refits); "
                        "a prediction beyond the data learns it then, in its own process")
    _sampler_args(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("backtest", help="hold out the largest runs or whole groups, fit the "
                       "rest, score calibration against the Huber/bootstrap baseline")
    p.add_argument("runs", help="CSV with one row per training run")
    _model_args(p)
    p.add_argument("--holdout", default="largest:3",
                   help="largest:K (per group, by --axis) or group:NAME[,NAME] or group:*")
    p.add_argument("--axis", default=None, help="column ranking runs for largest:K "
                   "(default: compute, N*D or C)")
    p.add_argument("--bootstrap", type=int, default=200, help="baseline bootstrap refits")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--json", action="store_true")
    _sampler_args(p)
    p.set_defaults(func=cmd_backtest)
    _other_commands(sub)
    return parser


def _model_args(p: argparse.ArgumentParser) -> None:
    from .likelihoods import LIKELIHOODS

    p.add_argument("--law", default="chinchilla", help="law name, e.g. chinchilla, power_law:C")
    p.add_argument("--vary", help="comma-separated law parameters that vary by group, e.g. E,A")
    p.add_argument("--by", help="grouping column(s) for --vary, comma-separated (crossed); "
                                "'a/b' nests b in a")
    p.add_argument("--noise-by", help="let the noise scale vary by this grouping column")
    p.add_argument("--likelihood", default="studentt", choices=sorted(LIKELIHOODS),
                   help="observation model; binomial/beta_binomial need a 'trials' column, "
                        "normal_known an 'se' column (map them with --column)")
    p.add_argument("--target", default="loss", help="column with the observed metric")
    p.add_argument("--column", action="append", metavar="NAME=COLUMN",
                   help="map a model name to a CSV column, e.g. N=params (repeatable)")
    p.add_argument("--fix", action="append", metavar="PARAM=VALUE",
                   help="fix a parameter on the natural scale, e.g. nu=4, or to each run's "
                        "value in a data column, e.g. floor=chance (repeatable)")
    p.add_argument("--min-group-size", type=int, default=2)


def _other_commands(sub: Any) -> None:
    p = sub.add_parser("summary", help="posterior summary of a saved fit")
    p.add_argument("fit")
    p.add_argument("--ci-prob", type=float, default=0.95)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("predict", help="posterior predictive at new inputs (CSV)")
    p.add_argument("fit")
    p.add_argument("new", help="CSV with the law's inputs (and grouping columns)")
    p.add_argument("--group", action="append", metavar="[COLUMN=]NAME",
                   help="predict every row for this known group")
    p.add_argument("--new-group", action="store_true",
                   help="allow groups the fit has not seen (drawn from the population)")
    p.add_argument("--ci-prob", default="0.5,0.9,0.95", help="comma-separated probabilities")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-extrapolation", action="store_true",
                   help="intervals from noise and parameters only, without the risk of the "
                        "law being wrong beyond the data")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    sub.add_parser("laws", help="list the laws").set_defaults(func=cmd_laws)
    p = sub.add_parser("datasets", help="list the data sets, or describe one")
    p.add_argument("name", nargs="?", help="a data set to describe (provenance, columns)")
    p.set_defaults(func=cmd_datasets)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; every error is one line on stderr and a non-zero exit status (2: bad
    input or usage, 1: anything else, 130: interrupted by Ctrl-C, at any moment: the
    imports run after the interrupt handling is in place)."""
    return _interruptible(lambda: _run(argv))


def _run(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)   # imports PyMC (the likelihood choices)
    except SystemExit as exit_:   # --help, or a usage error already printed by argparse
        return exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    from ._validate import DataError
    from .fit import SamplingWarning

    warnings.simplefilter("default", SamplingWarning)
    try:
        return args.func(args)
    except (DataError, ValueError, KeyError, TypeError, FileExistsError, FileNotFoundError,
            IsADirectoryError, NotADirectoryError, PermissionError, ImportError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        _error(f"{msg}")
        return EXIT_USAGE
    except BrokenPipeError:
        with contextlib.suppress(OSError):   # the reader went away (e.g. `| head`)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except MemoryError:
        _error("out of memory; use fewer draws or fewer rows at a time")
        return 1
    except Exception as err:  # noqa: BLE001 - the CLI's contract: one line, never a traceback
        _error(f"{type(err).__name__}: {err}")
        return 1


def _error(message: str) -> None:
    text = " ".join(str(message).split()) or "unknown error"
    print(f"bayescale: error: {text}", file=sys.stderr)


def _interruptible(work: Any) -> int:
    """Run ``work`` in a worker thread so that Ctrl-C is acted on at once, even while a
    compiled sampler holds the worker: temporary files are removed and the process exits
    with status 130 without a traceback."""
    result: dict[str, int] = {}

    def target() -> None:
        result["code"] = work()

    worker = threading.Thread(target=target, name="bayescale-cli", daemon=True)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        from .io import discard_temporaries

        discard_temporaries()
        print("bayescale: interrupted", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)   # the worker may be inside compiled code: do not wait for it
    return result.get("code", 1)


if __name__ == "__main__":
    sys.exit(main())
