"""The model specification: law + hierarchy + likelihood + priors, printable before any fit."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from .coordinates import (
    COORDINATE_SYSTEMS,
    coordinates,
    curve_coordinate_names,
    curve_coordinates_possible,
)
from .hierarchy import by_name, parse_hierarchy, sd_name
from .laws import Law, Param, get_law
from .likelihoods import (
    LIKELIHOODS,
    MEASUREMENT_ERROR,
    Likelihood,
    MeasurementError,
    get_likelihood,
)
from .priors import DataScale, Prior

if TYPE_CHECKING:
    from .fit import Fit

__all__ = ["Model"]

SCHEMA_VERSION = 1


class Model:
    """A hierarchical scaling-law model.

    Parameters
    ----------
    law : a law name (``"chinchilla"``, ``"power_law:C"``, ``"kaplan"``) or a :class:`Law`.
    hierarchy : ``{param: column | [columns]}``: parameters that vary by group (partial
        pooling); ``"a/b"`` nests b in a. Unlisted parameters are global.
        Likelihood parameters (``sigma``) may vary by group too.
    likelihood : ``"studentt"`` (default, robust) or ``"normal"``, both on log y.
    priors : ``{param: Prior}`` on the sampling scale (log for positive parameters; for a
        coefficient such as ``A`` the log of its term at the data's reference input), or
        ``{hyperparameter: Prior}`` for a group spread, e.g. ``"log_E_sd_family"``.
    fixed : ``{param: value}`` on the natural scale (e.g. ``{"nu": 4}``), or a hyperparameter
        fixed on its own scale (e.g. ``{"log_E_sd_family": 5.0}`` for no pooling). A law or
        likelihood parameter may instead take each run's value from a data column, a known
        constant per run or per group: ``{"floor": "chance"}`` (a benchmark's chance level);
        fitting and prediction data then need that column.
    target : the column holding the observed metric (``"loss"``).
    columns : ``{model name: data column}``, e.g. ``{"N": "Model Size", "loss": "val_loss"}``.
    min_group_size : fewest runs a group may have.
    centered : group effects centred (True), non-centred (False), or chosen per grouping
        column from the fit's draws (None: non-centred first, a curve's level centred; see
        ``fit``).
    coordinates : what the hierarchy's populations are placed on: ``"law"`` (the parameters'
        sampling-scale values), ``"curve"`` (a curve's level, shares and slopes at the data's
        reference inputs; laws that are a floor plus power terms, with the floor and every
        term varying by the same columns) or ``"auto"`` (curve where possible, unless priors
        or fixed values are set on those parameters); see :mod:`bayescale.coordinates`.
    measurement_error : each run's known evaluation noise, added to the learned noise in
        quadrature: a column of standard errors of the target on its own scale
        (``"loss_se"``), or the bounds of a 95% interval (``("loss_lo", "loss_hi")``; another
        level as a third element, ``("loss_lo", "loss_hi", 0.9)``). Likelihoods ``studentt``,
        ``normal`` and ``normal_known``; see :mod:`bayescale.likelihoods` for the math and
        for predictions (which include it only where their rows have the column).
    """

    def __init__(self, law: str | Law = "chinchilla", *,
                 hierarchy: Mapping[str, str | Sequence[str] | None] | None = None,
                 likelihood: str | Likelihood = "studentt",
                 priors: Mapping[str, Prior] | None = None,
                 fixed: Mapping[str, float | str] | None = None,
                 target: str = "loss",
                 columns: Mapping[str, str] | None = None,
                 min_group_size: int = 2,
                 centered: bool | None = None,
                 coordinates: str = "auto",
                 measurement_error: str | Sequence[Any] | MeasurementError | None = None
                 ) -> None:
        self.law = get_law(law)
        self.likelihood = get_likelihood(likelihood)
        self.measurement_error = MeasurementError.parse(measurement_error)
        if self.measurement_error is not None and not self.likelihood.measurement_error:
            able = sorted(k for k, v in LIKELIHOODS.items() if v.measurement_error)
            raise ValueError(
                f"likelihood {self.likelihood.name!r} does not take a known measurement error; "
                f"the likelihoods that do: {', '.join(able)}. (The bounded likelihoods model a "
                "proportion's noise themselves: a bootstrap over a benchmark's items measures "
                "the binomial noise already in them, and noise beyond it is kappa's.)")
        if self.measurement_error is not None and \
                set(self.measurement_error.columns) & set(self.likelihood.columns):
            raise ValueError(
                f"measurement_error={self.measurement_error.to_spec()!r} names a column the "
                f"likelihood {self.likelihood.name!r} already uses as known noise "
                f"({list(self.likelihood.columns)}); counting it twice would double it")
        clash = set(self.law.params) & set(self.likelihood.aux)
        if clash:
            raise ValueError(f"law {self.law.name} uses reserved parameter names {sorted(clash)}")
        self.hierarchy = parse_hierarchy(hierarchy, self.params)
        self.target = target
        self.columns = dict(columns or {})
        self.min_group_size = int(min_group_size)
        self.centered = centered
        # "log_E_sd_family/model" and "log_E_sd_family:model" name the same spread
        self.fixed: dict[str, float | str] = {
            k.replace("/", ":"): v if isinstance(v, str) else float(v)
            for k, v in (fixed or {}).items()}
        self.priors = {k.replace("/", ":"): v for k, v in (priors or {}).items()}
        if coordinates not in COORDINATE_SYSTEMS:
            raise ValueError(f"coordinates must be one of {COORDINATE_SYSTEMS}, got "
                             f"{coordinates!r}")
        why = curve_coordinates_possible(self.law, self.hierarchy, [*self.priors, *self.fixed])
        if coordinates == "curve" and why:
            raise ValueError(f"coordinates='curve' is not possible: {why}")
        self.coordinates = "law" if coordinates == "law" or why else "curve"
        self._check_names()

    # ------------------------------------------------------------------ structure
    @property
    def params(self) -> dict[str, Param]:
        """Law parameters followed by the likelihood's auxiliary parameters."""
        return {**self.law.params, **self.likelihood.aux}

    @property
    def extra_names(self) -> tuple[str, ...]:
        """Keys of the per-run values the likelihood reads (``extra``): its columns, and
        ``"measurement_error"`` (observed-scale standard errors) when the model has one."""
        return (*self.likelihood.columns,
                *((MEASUREMENT_ERROR,) if self.measurement_error is not None else ()))

    @property
    def fixed_columns(self) -> dict[str, str]:
        """``{param: column}`` of the parameters whose value each run takes from a column."""
        return {k: v for k, v in self.fixed.items() if isinstance(v, str)}

    @property
    def grouping_columns(self) -> tuple[str, ...]:
        cols: list[str] = []
        for columns in self.hierarchy.values():
            cols += [c for c in columns if c not in cols]
        return tuple(cols)

    def sampling_parameters(self) -> list[str]:
        """The model's scalar parameters on the sampling scale (``log_E``, ``log_alpha``,
        ``log_sigma``, group spreads such as ``log_E_sd_family``), fixed ones left out; the
        sampler's auxiliary coordinates (zero-sum splits) are not among them."""
        names = [c.name for c in coordinates(self).values() if c.fixed is None]
        return names + [h for h in self.hyperparameters() if h not in self.fixed]

    def variable_names(self) -> list[str]:
        """Posterior variables a user reads: parameters (natural and sampling scale), their
        values by group (``E_by_family``) and the group spreads."""
        by_group = [by_name(p, c) for p, cols in self.hierarchy.items() if p not in self.fixed
                    for c in cols]
        natural = [n for n in self.params if n not in self.fixed]
        return list(dict.fromkeys(natural + self.sampling_parameters() + by_group))

    def hyperparameters(self) -> dict[str, tuple[str, str]]:
        """``{sd variable name: (coordinate key, column)}`` for every group spread (the
        coordinate key is the parameter's name in law coordinates)."""
        return {sd_name(c.name, col): (c.key, col) for c in coordinates(self).values()
                for col in c.columns}

    def prior_names(self) -> list[str]:
        """Names a prior can be set on: the hierarchy's coordinates (the parameters in law
        coordinates) and the group spreads."""
        return [k for k, c in coordinates(self).items() if c.fixed is None] + [
            h for h in self.hyperparameters() if h not in self.fixed]

    def _check_names(self) -> None:
        curve = curve_coordinate_names(self.law) if self.coordinates == "curve" else []
        valid = list(self.params) + curve + list(self.hyperparameters())
        for kind, names in (("priors", self.priors), ("fixed", self.fixed)):
            for name in names:
                if name not in valid:
                    raise ValueError(f"unknown parameter {name!r} in {kind}; valid names are "
                                     f"{valid}")
        for name, prior in self.priors.items():
            if not isinstance(prior, Prior):
                raise TypeError(f"priors[{name!r}] must be a bayescale.Prior, got {prior!r}")
            if name in self.hyperparameters() and not prior.positive:
                raise ValueError(f"priors[{name!r}] is a group spread and needs a positive "
                                 f"distribution (HalfNormal, Gamma, ...), got {prior.dist}")
        for name, value in self.fixed.items():
            if name in curve:
                raise ValueError(f"fixed[{name!r}]: a curve coordinate cannot be fixed; fix a "
                                 "law parameter with coordinates='law'")
            if name in self.hierarchy:
                raise ValueError(f"parameter {name!r} cannot be both fixed and varying by "
                                 f"{', '.join(self.hierarchy[name])}")
            if isinstance(value, str):
                self._check_fixed_column(name, value)
                continue
            par = self.params.get(name)
            support = (par.fixed_support or par.support) if par is not None else "positive"
            inside = {"positive": value > 0, "unit": 0 < value < 1,
                      "unit_low": 0 <= value < 1}.get(support, True)
            if not inside:
                raise ValueError(f"fixed[{name!r}] = {value} is outside its support ({support})")
            if name in self.params and self.params[name].reference is not None:
                raise ValueError(f"fixed[{name!r}]: coefficients sampled at a reference input "
                                 "cannot be fixed; fix their exponent or use a custom law")

    def _check_fixed_column(self, name: str, column: str) -> None:
        if name not in self.params:
            raise ValueError(f"fixed[{name!r}] = {column!r}: only a law or likelihood parameter "
                             "can take its values from a data column; fix a group spread to a "
                             "number")
        users = [p for p, par in self.params.items()
                 if par.reference is not None and par.reference[1] == name]
        if users:
            raise ValueError(f"fixed[{name!r}] = {column!r}: coefficients {users} are sampled at "
                             f"a reference input with exponent {name!r}, which must be one "
                             "number; fix it to a number or use a custom law")
        if column in (*self.law.inputs, self.target):
            raise ValueError(f"fixed[{name!r}] = {column!r} names the "
                             f"{'target' if column == self.target else 'law input'} column; "
                             "a fixed value's column holds known constants")

    def prior_for(self, name: str, scale: DataScale) -> Prior:
        """The prior used for a parameter's location or a hyperparameter (user's or default)."""
        if name in self.priors:
            return self.priors[name]
        if name in self.params:
            return self.params[name].default_prior(scale)
        key, _ = self.hyperparameters()[name]
        return coordinates(self)[key].spread_prior

    # ------------------------------------------------------------------ fitting
    def fit(self, data: pd.DataFrame, **kwargs: Any) -> Fit:
        """Fit by NUTS; see :func:`bayescale.fit.fit` for the sampler options."""
        from .fit import fit

        return fit(self, data, **kwargs)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "law": self.law.name,
            "law_options": dict(self.law.options),
            "likelihood": self.likelihood.name,
            "hierarchy": {k: list(v) for k, v in self.hierarchy.items()},
            "priors": {k: v.to_dict() for k, v in self.priors.items()},
            "fixed": self.fixed,
            "target": self.target,
            "columns": self.columns,
            "min_group_size": self.min_group_size,
            "centered": self.centered,
            "coordinates": self.coordinates,
            "measurement_error": (None if self.measurement_error is None
                                  else self.measurement_error.to_spec()),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], law: Law | None = None,
                  likelihood: Likelihood | None = None) -> Model:
        """The model of :meth:`to_dict`; ``law`` and ``likelihood`` objects stand in for
        names that are not registered here (another process, a user's own)."""
        if d.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"saved model schema {d.get('schema')} is not supported "
                             f"(this bayescale reads schema {SCHEMA_VERSION})")
        if law is None:
            try:
                law = get_law(d["law"], **d.get("law_options", {}))
            except ValueError as err:
                raise ValueError(f"{err}. A fit of a user-defined law loads with "
                                 "bayescale.load(path, law=my_law) or after "
                                 "bayescale.register_law(my_law).") from None
        return cls(law, hierarchy=d["hierarchy"], likelihood=likelihood or d["likelihood"],
                   priors={k: Prior.from_dict(v) for k, v in d["priors"].items()},
                   fixed=d["fixed"], target=d["target"], columns=d["columns"],
                   min_group_size=d["min_group_size"], centered=d["centered"],
                   # files written before curve coordinates existed are in law coordinates
                   coordinates=d.get("coordinates", "law"),
                   measurement_error=d.get("measurement_error"))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def __repr__(self) -> str:
        lines = [f"bayescale.Model  {self.law.formula}   [{self.law.name}; {self.law.source}]",
                 f"  likelihood: {self.likelihood.description}; target column {self.target!r}"]
        me = self.measurement_error
        if me is not None:
            what = (f"standard errors in column {me.se!r}" if me.se is not None else
                    f"{100 * me.level:g}% interval bounds in columns {me.lo!r}, {me.hi!r}")
            lines.append(f"  known measurement error: {what}, added in quadrature")
        lines.append("  parameters (priors on the sampling scale; * = data-scaled default):")
        for name, par in self.params.items():
            sname = par.sampling_name(name)
            if name in self.fixed_columns:
                desc = f"fixed per run = column {self.fixed[name]!r}"
            elif name in self.fixed:
                desc = f"fixed = {self.fixed[name]:g}"
            elif name not in coordinates(self):
                desc = (f"{sname} from the curve coordinates below; varies by "
                        f"{', '.join(self.hierarchy[name])}")
            else:
                prior = self.priors.get(name, par.prior)
                desc = f"{sname} ~ {prior if isinstance(prior, Prior) else 'data-scaled*'}"
                if name in self.hierarchy:
                    desc += f"; varies by {', '.join(self.hierarchy[name])}"
            ref = ""
            if par.reference is not None:
                ref = f" (sampled at reference {par.reference[0]})"
            lines.append(f"    {name:<8} {par.description}{ref}: {desc}")
        if self.coordinates == "curve":
            lines.append("  hierarchy in curve coordinates (level, shares, slopes at the "
                         "reference inputs; bayescale.coordinates):")
            for coord in coordinates(self).values():
                if coord.key not in self.params:
                    prior = self.priors.get(coord.key)
                    lines.append(f"    {coord.name} ~ {prior if prior else 'data-scaled*'}; "
                                 f"varies by {', '.join(coord.columns)}")
        for hname in self.hyperparameters():
            value = (f"fixed = {self.fixed[hname]:g}" if hname in self.fixed
                     else f"~ {self.prior_for(hname, DataScale(1.0, 1.0, 1.0))}")
            lines.append(f"    {hname} {value}")
        return "\n".join(lines)
