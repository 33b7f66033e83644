"""NUTS by numpyro on a PyMC model, with a structured mass matrix.

The mass matrix is dense over the model's population-level (scalar) parameters and diagonal
over its group effects. A dense metric learns the correlations of locations, spreads and noise
(Chinchilla refit: min bulk ESS 2460 dense vs 1370 diagonal), but over group effects it is a
single linear map fitted to a posterior that is not linear (funnels between a spread and its
effects): on simulated 3-family fits with every law parameter varying it gave 1-5 divergent
transitions per fit where the structured metric gave 0, with 1.5-2x the bulk ESS.

PyMC's own numpyro route passes the parameters as a list, which numpyro's structured mass
matrix cannot address by name; here they are a dict keyed by PyMC's value-variable names.
The result is the same DataTree as ``pm.sample(nuts_sampler="numpyro")`` (posterior on the
natural scale with deterministics, sample_stats without ``energy``, observed_data,
constant_data).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

__all__ = ["sample_numpyro", "continue_chains", "ChainEnd", "WarmStart", "warm_start_of",
           "population_value_names", "Program", "program_for", "coordinate_lengths"]

MAX_TREE_DEPTH = 10   # numpyro's and Stan's default: at most 2^10 - 1 leapfrog steps per draw

#: warm-up trees are at most this deep (at most 255 leapfrog steps per iteration). In the first
#: warm-up window the metric is the identity and the step size fits the posterior's narrowest
#: direction, so trees run to the full depth: on the Chinchilla fit the 1,000 warm-up
#: iterations took 3.5 s of 4.7 s and the 1,000 draws (27.6 steps each) 1.1 s. Warm-up draws
#: only feed the step-size and metric estimates, and the chains' way to the posterior's bulk.
#: Depth 6 (63 steps) saved more on Chinchilla (4.7-5.5 s -> 3.0-3.4 s, min bulk ESS
#: unchanged, 3 seeds) but was too short for that way on RNSL language modelling (seed 1:
#: R-hat 1.55 and 1.26 after a refit, where depth 10 and depth 8 are clean at the first
#: attempt, R-hat 1.003 and 1.004). Draws keep :data:`MAX_TREE_DEPTH`.
WARMUP_MAX_TREE_DEPTH = 8


def population_value_names(pm_model: Any) -> list[str]:
    """Value variables of the scalar free RVs (locations, spreads, noise): the dense block."""
    dims = pm_model.named_vars_to_dims
    return [pm_model.rvs_to_values[rv].name for rv in pm_model.free_RVs
            if not dims.get(rv.name)]


def _initial_points(pm_model: Any, chains: int, seed: int, logp: Any,
                    names: list[str]) -> dict[str, np.ndarray]:
    """One jittered support point per chain (PyMC's default start), redrawn while the log
    density there is not finite."""
    from pymc.initial_point import make_initial_point_fn

    init_fn = make_initial_point_fn(model=pm_model, jitter_rvs=set(pm_model.free_RVs),
                                    return_transformed=True)
    rng = np.random.default_rng(seed)
    points = []
    for _ in range(chains):
        for _attempt in range(100):
            point = init_fn(int(rng.integers(2**31)))
            if np.isfinite(float(logp(*(point[n] for n in names))[0])):
                break
        else:
            raise RuntimeError("no finite starting point in 100 tries: the model's log "
                               "density is not finite near its priors' centres")
        points.append(point)
    return {n: np.stack([np.asarray(p[n], dtype=float) for p in points]) for n in names}


#: share of the kernel's limit on memory mappings (``vm.max_map_count``) above which JAX's
#: in-memory compiled programs are released after a fit
MAP_SHARE_LIMIT = 0.4


def memory_map_use() -> float | None:
    """This process's memory mappings as a share of the kernel's limit (Linux; else None)."""
    try:
        with open("/proc/sys/vm/max_map_count") as handle:
            limit = int(handle.read())
        with open("/proc/self/maps", "rb") as handle:
            used = sum(1 for _ in handle)
    except (OSError, ValueError):
        return None
    return used / limit


def release_compiled_programs() -> bool:
    """Drop JAX's in-memory compiled programs when the process's memory mappings near the
    kernel's limit. Each numpyro fit of a new model structure keeps its XLA executables,
    about 2,600 mappings on the CPU (measured: 4,340 -> 7,000 -> 9,650 over three fits,
    back to 1,500 after ``jax.clear_caches()``); at Linux's default limit of 65,530 a process
    that fits some 25 structures crashes inside XLA (seen: SIGSEGV in
    ``executable.serialize()``, SIGABRT in compilation). A later fit of a released structure
    compiles again (or loads it from the persistent cache)."""
    use = memory_map_use()
    if use is None or use < MAP_SHARE_LIMIT:
        return False
    import jax

    jax.clear_caches()
    return True


@dataclass
class Program:
    """The JAX functions of one model structure, with the model's data as arguments.

    Every number that comes from the data or a prior is a ``pm.Data`` variable of the PyMC
    model (:func:`bayescale.build.model_data`). Here they are inputs of the JAX functions, not
    constants baked into them, so a model of the same structure (another data set, fold,
    simulation, seed or refit; :func:`bayescale.build.structure_key`) runs the programs XLA
    compiled before: JAX keeps them per argument shape and the persistent cache keeps them on
    disk for the next process."""

    value_names: list[str]
    data_names: list[str]
    output_names: list[str]
    log_density: Any     # (*values, *data) -> [log p]
    natural: Any         # jitted: (chain, draw) arrays of values, data -> natural-scale values
    runners: dict[Any, Any] = field(default_factory=dict)  # by RunnerSettings

    reusable: bool = True  # False: a shared variable of unknown name is a constant here

    def data_of(self, pm_model: Any) -> tuple[np.ndarray, ...]:
        """This model's values of the data inputs, in the programs' order."""
        return tuple(np.asarray(pm_model.named_vars[n].get_value(borrow=True))
                     for n in self.data_names)


def coordinate_lengths(pm_model: Any) -> dict[str, int]:
    """The lengths of the model's coordinates (runs, groups): constants of its programs (they
    may set shapes, which XLA needs known), so part of what a cached program is reused for."""
    return {name: int(length.get_value() if hasattr(length, "get_value") else length.eval())
            for name, length in pm_model.dim_lengths.items()}


def build_program(pm_model: Any) -> Program:
    """Jaxify ``pm_model``'s log density and natural-scale values with its shared (data)
    variables turned into inputs."""
    import jax
    from pymc.sampling.jax import get_jaxified_graph
    from pymc.util import get_default_varnames
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.replace import clone_replace
    from pytensor.graph.traversal import graph_inputs

    value_vars = pm_model.value_vars
    outputs = list(get_default_varnames(pm_model.unobserved_value_vars,
                                        include_transformed=False))
    graphs = [pm_model.logp(), *outputs]
    every = {v for v in graph_inputs(graphs) if isinstance(v, SharedVariable)}
    lengths = {id(v) for v in pm_model.dim_lengths.values()}
    shared = sorted((v for v in every if v.name and pm_model.named_vars.get(v.name) is v),
                    key=lambda v: v.name)
    inputs = [v.type(name=v.name) for v in shared]
    replaced = clone_replace(graphs, replace=dict(zip(shared, inputs, strict=True)))
    log_density = get_jaxified_graph(inputs=[*value_vars, *inputs], outputs=replaced[:1])
    natural = get_jaxified_graph(inputs=[*value_vars, *inputs], outputs=replaced[1:])

    def natural_draws(values: tuple[Any, ...], data: tuple[Any, ...]) -> Any:
        per_draw = jax.vmap(jax.vmap(lambda *v: natural(*v, *data)))
        return per_draw(*values)

    return Program(value_names=[v.name for v in value_vars],
                   data_names=[v.name for v in shared],
                   output_names=[v.name for v in outputs],
                   log_density=jax.jit(log_density), natural=jax.jit(natural_draws),
                   reusable=all(id(v) in lengths for v in every.difference(shared)))


#: the fields of numpyro's NUTS state that a run returns for :func:`continue_chains` (the
#: position, the iteration count, the adapted step size and mass matrix, the random key); the
#: rest is recomputed at the position or is per-draw output
RESUMED_FIELDS = ("i", "z", "adapt_state", "rng_key")


def _chain_runner(program: Program, *, tune: int, draws: int, chain_method: str,
                  target_accept: float, dense_mass: bool | list[tuple[str, ...]],
                  resume: bool = False, max_tree_depth: int = MAX_TREE_DEPTH,
                  adapt_metric: bool = True) -> Any:
    """One jitted function ``(keys, starts, data, metric) -> (draws, statistics, ends)``
    running NUTS (numpyro's kernel, its defaults: dual-averaging step size and windowed
    mass-matrix adaptation over ``tune`` steps, from step size 1 and the identity) on every
    chain; ``adapt_metric=False``: from ``metric = (step size, inverse mass matrix)``
    (shared by the chains), the mass matrix kept through warm-up (:class:`WarmStart`;
    otherwise ``metric`` is None); chains are mapped over devices
    (``parallel``) or vectorised on one. ``starts``: initial points, or (``resume``) the
    :data:`RESUMED_FIELDS` of earlier runs' last states, which then run ``draws`` more
    iterations without adaptation (numpyro adapts only while the iteration count is below
    ``tune``, and a resumed count is past it). A draw takes at most
    ``2**max_tree_depth - 1`` leapfrog steps, a warm-up iteration at most
    ``2**min(WARMUP_MAX_TREE_DEPTH, max_tree_depth) - 1``."""
    import jax
    from numpyro.infer.hmc import hmc

    names = program.value_names
    log_density = program.log_density

    def potential_for(data: tuple[Any, ...]) -> Any:
        def potential(params: dict[str, Any]) -> Any:
            return -log_density(*(params[n] for n in names), *data)[0]
        return potential

    def one_chain(key: Any, start: Any, data: tuple[Any, ...], metric: Any) -> Any:
        init_kernel, sample_kernel = hmc(potential_fn_gen=potential_for, algo="NUTS")
        given = {}
        if not adapt_metric:
            step_size, inverse_mass_matrix = metric
            if isinstance(inverse_mass_matrix, dict):  # (numpyro fills in the dict it is given)
                inverse_mass_matrix = dict(inverse_mass_matrix)
            given = {"step_size": step_size, "inverse_mass_matrix": inverse_mass_matrix,
                     "adapt_mass_matrix": False}
        state = init_kernel(start["z"] if resume else start, tune, dense_mass=dense_mass,
                            **given,
                            target_accept_prob=target_accept, trajectory_length=None,
                            max_tree_depth=(min(WARMUP_MAX_TREE_DEPTH, max_tree_depth),
                                            max_tree_depth),
                            model_args=(data,), rng_key=key)
        if resume:   # gradient and potential were just recomputed at the same position
            state = state._replace(**start)
        skipped = 0 if resume else tune

        # The state's total energy is not recorded (so no BFMI): returning it from the
        # device-mapped loop made XLA's CPU program drive the adapted step size to ~1e-15 on
        # every chain of one law-library fit (data_constrained), which the same loop without
        # it, or vectorised, samples well. (Hence also only RESUMED_FIELDS of the last state.)
        def record(s: Any) -> Any:
            return (s.z, {"lp": s.potential_energy, "step_size": s.adapt_state.step_size,
                          "n_steps": s.num_steps, "acceptance_rate": s.accept_prob,
                          "diverging": s.diverging})

        # One loop over warm-up and draws (one copy of the NUTS kernel in the program, so it
        # is traced and compiled once); warm-up states are written to slot 0, which the first
        # draw overwrites.
        def step(i: Any, carry: Any) -> Any:
            s, kept = carry
            s = sample_kernel(s, model_args=(data,))
            slot = jax.numpy.maximum(i - skipped, 0)
            return s, jax.tree.map(lambda buffer, v: buffer.at[slot].set(v), kept, record(s))

        empty = jax.tree.map(lambda v: jax.numpy.zeros((draws, *jax.numpy.shape(v)),
                                                       jax.numpy.result_type(v)), record(state))
        last, kept = jax.lax.fori_loop(0, skipped + draws, step, (state, empty))
        return (*kept, {f: getattr(last, f) for f in RESUMED_FIELDS})

    if chain_method == "parallel":
        return jax.pmap(one_chain, in_axes=(0, 0, None, None))
    return jax.jit(jax.vmap(one_chain, in_axes=(0, 0, None, None)))


# Programs by the model's structure key (bayescale.build.structure_key), most recent last.
_PROGRAMS: OrderedDict[str, Program] = OrderedDict()
_PROGRAMS_MAX = 8
_PROGRAMS_LOCK = threading.Lock()
program_stats = {"built": 0, "reused": 0}


def program_for(pm_model: Any, structure: str | None) -> Program:
    """The cached :class:`Program` of ``structure`` and the model's coordinate lengths
    (built from ``pm_model`` on first use); ``structure=None``: built afresh, not cached."""
    if structure is None:
        return build_program(pm_model)
    structure = f"{structure} {sorted(coordinate_lengths(pm_model).items())}"
    with _PROGRAMS_LOCK:
        if structure in _PROGRAMS:
            _PROGRAMS.move_to_end(structure)
            program_stats["reused"] += 1
            return _PROGRAMS[structure]
    program = build_program(pm_model)
    if not program.reusable:   # some number of this model is a constant in the program
        return program
    with _PROGRAMS_LOCK:
        program = _PROGRAMS.setdefault(structure, program)
        program_stats["built"] += 1
        while len(_PROGRAMS) > _PROGRAMS_MAX:
            _PROGRAMS.popitem(last=False)
    return program


#: an adapted step size below this (unconstrained, standardised scale) moves no chain
COLLAPSED_STEP_SIZE = 1e-8


def step_size_collapsed(step_size: Any) -> bool:
    """Whether any chain's adapted step size (``(chain, draw)`` array) fell below
    :data:`COLLAPSED_STEP_SIZE`."""
    return bool(np.min(np.asarray(step_size)) < COLLAPSED_STEP_SIZE)


class RunnerSettings(NamedTuple):
    """What a chain runner is compiled for, besides its program (a hashable cache key)."""

    tune: int
    draws: int
    chain_method: str
    target_accept: float
    dense_mass: bool | tuple[tuple[str, ...], ...]
    resume: bool = False
    max_tree_depth: int = MAX_TREE_DEPTH
    adapt_metric: bool = True


def _runner(program: Program, settings: RunnerSettings) -> Any:
    """The program's jitted chain runner for ``settings``, made on first use."""
    with _PROGRAMS_LOCK:
        runner = program.runners.get(settings)
    if runner is None:
        dense_mass = settings.dense_mass
        runner = _chain_runner(program, tune=settings.tune, draws=settings.draws,
                               chain_method=settings.chain_method,
                               target_accept=settings.target_accept,
                               dense_mass=dense_mass if isinstance(dense_mass, bool)
                               else list(dense_mass), resume=settings.resume,
                               max_tree_depth=settings.max_tree_depth,
                               adapt_metric=settings.adapt_metric)
        with _PROGRAMS_LOCK:
            runner = program.runners.setdefault(settings, runner)
    return runner


@dataclass
class ChainEnd:
    """Where the chains of :func:`sample_numpyro` stopped: their last states (position,
    adapted step size and mass matrix, random key) and every draw so far, so that
    :func:`continue_chains` can run them longer without a new warm-up."""

    pm_model: Any
    program: Program
    data: tuple[np.ndarray, ...]       # the program's data inputs (Program.data_of)
    settings: RunnerSettings
    states: Any                        # RESUMED_FIELDS, one leading chain axis
    raw: dict[str, np.ndarray]         # unconstrained draws so far, (chain, draw, ...)
    stats: dict[str, np.ndarray]       # their sampler statistics, (chain, draw)
    warm_start: bool = False           # started from an earlier fit (WarmStart)

    @property
    def chains(self) -> int:
        return int(self.stats["lp"].shape[0])

    @property
    def draws(self) -> int:
        return int(self.stats["lp"].shape[1])


class WarmStart(NamedTuple):
    """Where a refit of the same structure starts (:func:`warm_start_of` an earlier fit):
    the earlier chains' last positions, their median adapted step size and mean inverse mass
    matrix (numpyro's layout: one array, or a dict of blocks keyed by tuples of value names),
    for mass matrix ``dense_mass``.

    The refit's warm-up keeps this mass matrix and adapts only the step size. Measured on
    Chinchilla bootstrap refits (leapfrog steps of 1,000 warm-up iterations, 2 chains each):
    61,000 from PyMC's jittered start with numpyro's identity metric re-estimated in windows;
    25,000 from the earlier positions with the earlier metric kept (the draws: 27,500). The
    early windows' metric estimates, from 25-100 draws, are what makes a cold warm-up long;
    starting from the earlier metric but re-estimating it still took 47,000. Any fixed
    metric leaves the posterior invariant, so only efficiency rests on the earlier fit being
    alike; the usual checks (R-hat from chains started at 4 different points, ESS) hold."""

    step_size: Any
    inverse_mass_matrix: Any
    positions: dict[str, np.ndarray]   # unconstrained, one row per earlier chain
    dense_mass: bool | tuple[tuple[str, ...], ...]

    @property
    def value_shapes(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """``(name, shape)`` of each value, read from the positions."""
        return _value_shapes(self.positions)

    def fits(self, value_shapes: tuple[tuple[str, tuple[int, ...]], ...],
             dense_mass: bool | tuple[tuple[str, ...], ...]) -> bool:
        """Whether this can start a run of values of ``value_shapes`` with mass matrix
        ``dense_mass``."""
        return self.dense_mass == dense_mass and self.value_shapes == value_shapes

    def starts(self, chains: int) -> dict[str, np.ndarray]:
        """``chains`` starting points: the earlier chains' last positions, cycled."""
        rows = np.arange(chains) % len(next(iter(self.positions.values())))
        return {n: np.asarray(v)[rows] for n, v in self.positions.items()}


def _value_shapes(starts: dict[str, Any]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``(name, shape)`` of each value, from starting points with a leading chain axis."""
    return tuple(sorted((n, tuple(np.shape(v)[1:])) for n, v in starts.items()))


def warm_start_of(end: ChainEnd) -> WarmStart:
    """A :class:`WarmStart` for a later fit of the same structure from ``end``'s chains:
    their last positions, median adapted step size and mean inverse mass matrix (a chain
    whose warm-up went astray counts for 1/chains)."""
    import jax

    adapt = end.states["adapt_state"]
    positions = {n: np.asarray(v) for n, v in end.states["z"].items()}
    return WarmStart(np.float64(np.median(np.asarray(adapt.step_size))),
                     jax.tree.map(lambda m: np.asarray(m).mean(axis=0),
                                  adapt.inverse_mass_matrix),
                     positions, end.settings.dense_mass)


def sample_numpyro(pm_model: Any, *, draws: int, tune: int, chains: int, seed: int | None,
                   target_accept: float, dense: bool | Collection[str],
                   chain_method: str, progressbar: bool, structure: str | None = None,
                   max_tree_depth: int = MAX_TREE_DEPTH, warm_start: WarmStart | None = None
                   ) -> tuple[xr.DataTree, ChainEnd]:
    """Run numpyro's NUTS on ``pm_model``; ``dense``: True (one dense metric), False
    (diagonal), or the value-variable names that share a dense block (others diagonal).
    ``structure``: the model's :func:`bayescale.build.structure_key`; fits with the same key
    share compiled programs (see :class:`Program`). ``max_tree_depth``: at most
    ``2**max_tree_depth - 1`` leapfrog steps per draw. ``warm_start``: start from an earlier fit's
    chains and metric (:class:`WarmStart`; ignored when it does not fit this model), instead
    of PyMC's jittered start and numpyro's step size 1 and identity; the posterior's
    ``warm_start`` attribute says which. ``progressbar`` is accepted for the common
    interface; the chains run as one compiled program, without a bar. Returns the draws and
    where the chains ended (for :func:`continue_chains`)."""
    import jax

    del progressbar
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
    program = program_for(pm_model, structure)
    names = program.value_names
    data = program.data_of(pm_model)
    init = _initial_points(pm_model, chains, seed,
                           lambda *values: program.log_density(*values, *data), names)
    if isinstance(dense, bool):
        dense_mass: bool | list[tuple[str, ...]] = dense
    else:
        block = tuple(n for n in names if n in set(dense))
        dense_mass = [block] if block else False
    settings = RunnerSettings(tune, draws, chain_method, float(target_accept),
                              dense_mass if isinstance(dense_mass, bool) else tuple(dense_mass),
                              max_tree_depth=int(max_tree_depth))
    earlier = (warm_start is not None
               and warm_start.fits(_value_shapes(init), settings.dense_mass))
    if earlier:
        settings = settings._replace(adapt_metric=False)
        init = warm_start.starts(chains)
        start_metric = (warm_start.step_size, warm_start.inverse_mass_matrix)
    else:
        start_metric = None
    start = time.perf_counter()
    keys = jax.random.split(jax.random.PRNGKey(seed), chains)
    raw, extra, states = _runner(program, settings)(keys, init, data, start_metric)
    if chain_method == "parallel" and step_size_collapsed(extra["step_size"]):
        # A guard against the collapse described in _chain_runner: the same kernel, keys,
        # starting points and data, chains vectorised on one device.
        settings = settings._replace(chain_method="vectorized")
        raw, extra, states = _runner(program, settings)(keys, init, data, start_metric)
    end = ChainEnd(pm_model=pm_model, program=program, data=data, settings=settings,
                   states=states, raw={n: np.asarray(raw[n]) for n in names},
                   stats={k: np.asarray(v) for k, v in extra.items()},
                   warm_start=earlier)
    return _tree(end, seconds=time.perf_counter() - start), end


def continue_chains(end: ChainEnd, draws: int) -> tuple[xr.DataTree, ChainEnd]:
    """Run the chains that stopped at ``end`` for ``draws`` more iterations each, from their
    last states with the step size and mass matrix their warm-up adapted (no adaptation, no
    new warm-up: the chains are already in their stationary phase, so the earlier draws stay
    valid). Returns all draws (earlier, then new) and the new end."""
    import jax

    # Resumed chains are past warm-up, so whether it adapted the metric makes no difference:
    # one resumed runner serves warm-started and cold chains (the states carry the step size
    # and mass matrix, and the keys).
    settings = end.settings._replace(draws=draws, resume=True, adapt_metric=True)
    start = time.perf_counter()
    keys = jax.random.split(jax.random.PRNGKey(0), end.chains)  # unused: states carry keys
    raw, extra, states = _runner(end.program, settings)(keys, end.states, end.data, None)
    joined = ChainEnd(
        pm_model=end.pm_model, program=end.program, data=end.data, settings=end.settings,
        warm_start=end.warm_start,
        states=states,
        raw={n: np.concatenate([end.raw[n], np.asarray(raw[n])], axis=1) for n in end.raw},
        stats={k: np.concatenate([end.stats[k], np.asarray(v)], axis=1)
               for k, v in extra.items()})
    return _tree(joined, seconds=time.perf_counter() - start), joined


def _tree(end: ChainEnd, *, seconds: float) -> xr.DataTree:
    """The DataTree of ``end``'s draws (as ``pm.sample(nuts_sampler="numpyro")`` makes it)."""
    from arviz_base import from_dict
    from pymc.backends.arviz import (
        coords_and_dims_for_inferencedata,
        find_constants,
        find_observations,
    )

    program, pm_model = end.program, end.pm_model
    start = time.perf_counter()
    values = program.natural(tuple(end.raw[n] for n in program.value_names), end.data)
    posterior = {n: np.asarray(v) for n, v in zip(program.output_names, values, strict=True)}
    seconds += time.perf_counter() - start
    release_compiled_programs()

    stats = dict(end.stats)
    stats["tree_depth"] = (np.log2(stats["n_steps"]).astype(int) + 1)
    stats["reached_max_treedepth"] = stats["n_steps"] >= 2**end.settings.max_tree_depth - 1
    groups: dict[str, Any] = {"posterior": posterior, "sample_stats": stats}
    observed = find_observations(pm_model)
    if observed:
        groups["observed_data"] = observed
    constant = find_constants(pm_model)
    if constant:
        groups["constant_data"] = constant
    coords, dims = coords_and_dims_for_inferencedata(pm_model)
    return from_dict(groups, coords=coords, dims=dims, sample_dims=["chain", "draw"],
                     attrs={"posterior": {"sampling_time": seconds,
                                          "tuning_steps": end.settings.tune,
                                          "inference_library": "numpyro",
                                          "warm_start": int(end.warm_start),
                                          "chain_method": end.settings.chain_method}})
