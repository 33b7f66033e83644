"""Figures: each has its data (the numbers the library computes), labelled log axes and a
legend. Fits are the session fixtures; one tiny backtest is shared by the calibration plots."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402

import bayescale as bs  # noqa: E402
from bayescale import plots  # noqa: E402
from bayescale.simulate import simulate_runs  # noqa: E402

from .conftest import seed_for


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def tiny_backtest():
    """Two families of a one-input power law, the 4 largest runs of each held out."""
    sim = simulate_runs("power_law:C", population={"E": 1.8, "A": 500.0, "alpha": 0.15},
                        group_sizes={"a": 16, "b": 16}, spreads={"E": 0.1},
                        ranges={"C": (1e16, 1e21)}, sigma=0.01, seed=seed_for(3))
    model = bs.Model("power_law:C", hierarchy={"E": "family"})
    return bs.backtest(model, sim.runs, holdout="largest:4", baseline=True, bootstrap=20,
                       starts=4, fit_kwargs={"draws": 200, "tune": 200, "chains": 2})


def by_gid(ax, prefix, kind=None):
    found = [a for a in (*ax.lines, *ax.collections)
             if (a.get_gid() or "").startswith(prefix)]
    exact = [a for a in found if a.get_gid() == prefix]
    found = exact or found   # "coverage bayescale" is also the start of another method's gid
    return [a for a in found if kind is None or isinstance(a, kind)]


def legend_texts(ax):
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def assert_labelled(ax, xscale="log", yscale=None):
    assert ax.get_xlabel() and ax.get_ylabel()
    assert ax.get_xscale() == xscale
    if yscale is not None:
        assert ax.get_yscale() == yscale


def band_vertices(collection):
    vertices = np.concatenate([p.vertices for p in collection.get_paths()])
    assert len(vertices) > 0 and np.isfinite(vertices).all()
    return vertices


def band_limits(collection, x):
    """Lower and upper edge of a fill_between band at each ``x`` (from its polygon)."""
    vertices = band_vertices(collection)
    lo = [vertices[np.isclose(vertices[:, 0], xi), 1].min() for xi in x]
    hi = [vertices[np.isclose(vertices[:, 0], xi), 1].max() for xi in x]
    return np.array(lo), np.array(hi)


def test_plot_fit_intervals_at_each_run(pooled_fit, simulation):
    runs = simulation.runs
    fig = plots.plot_fit(pooled_fit, runs)
    (ax,) = fig.axes
    assert_labelled(ax, "log", "log")
    assert ax.get_xlabel() == "N (log scale)" and "(log scale)" in ax.get_ylabel()
    points = by_gid(ax, "runs", PathCollection)
    assert sum(len(p.get_offsets()) for p in points) == len(runs)
    texts = legend_texts(ax)
    for family, size in runs["family"].value_counts().items():
        assert f"{family} ({size} runs)" in texts
    assert {"curve 50% interval", "curve 90% interval",
            "new observation 90% interval"} <= set(texts)
    # The intervals sit on the data: most runs fall inside their own 90% observation interval.
    inside = []
    for family, sub in runs.groupby("family"):
        (obs,) = by_gid(ax, f"obs_band {family}", LineCollection)
        segments = np.array(obs.get_segments())            # (runs, 2 ends, xy)
        assert len(segments) == len(sub) and np.isfinite(segments).all()
        (pts,) = by_gid(ax, f"runs {family}", PathCollection)
        y = pts.get_offsets()[:, 1]
        inside += list((segments[:, 0, 1] <= y) & (y <= segments[:, 1, 1]))
    assert np.mean(inside) > 0.8


def test_plot_fit_curves_extrapolated(pooled_fit, simulation):
    runs = simulation.runs
    fig = plots.plot_fit(pooled_fit, runs, groups=["fam0", "sparse"], new_group=True,
                         fixed={"D": lambda n: 20 * n}, extrapolate_to=1e12)
    (ax,) = fig.axes
    assert_labelled(ax, "log", "log")
    points = by_gid(ax, "runs", PathCollection)
    assert sum(len(p.get_offsets()) for p in points) == 40 + 4
    medians = by_gid(ax, "median")
    assert len(medians) == 3  # fam0, sparse, a new family
    for line in medians:
        x, y = line.get_data()
        assert np.isclose(x.max(), 1e12) and np.isfinite(y).all() and np.all(np.diff(y) < 0)
    for band in by_gid(ax, "curve_band 90"):
        band_vertices(band)
    # The median curve of fam0 lies inside its own 50% band, which lies inside the 90% band.
    (b50,), (b90,) = by_gid(ax, "curve_band 50 fam0"), by_gid(ax, "curve_band 90 fam0")
    (med,) = by_gid(ax, "median fam0")
    x, y = med.get_data()
    (lo50, hi50), (lo90, hi90) = band_limits(b50, x), band_limits(b90, x)
    assert np.all(lo90 <= lo50) and np.all(lo50 <= y) and np.all(y <= hi50)
    assert np.all(hi50 <= hi90) and np.all(lo90 < hi90)
    assert {"fam0 (40 runs)", "sparse (4 runs)", "new family (population)",
            "largest observed N"} <= set(legend_texts(ax))
    with pytest.raises(ValueError, match="fixed="):
        plots.plot_fit(pooled_fit, runs, extrapolate_to=1e12)
    with pytest.raises(ValueError, match="not in the data"):
        plots.plot_fit(pooled_fit, runs, groups=["nope"])


def test_plot_isoflop(pooled_fit, simulation):
    runs = simulation.runs
    budgets = [1e19, 1e20, 1e21]
    fig = plots.plot_isoflop(pooled_fit, budgets, data=runs, ci_prob=0.9)
    (ax,) = fig.axes
    assert_labelled(ax, "log")
    opt = pooled_fit.compute_optimal(budgets, groups="population", ci_prob=0.9, seed=seed_for(0))
    log_c = np.log10(6 * runs["N"] * runs["D"])
    for c, n_star in zip(budgets, opt["N_opt_median"], strict=True):
        (marker,) = by_gid(ax, f"optimum {c:g}")
        assert np.isclose(marker.get_xdata()[0], n_star)
        (median,) = by_gid(ax, f"median {c:g}")
        n, loss = median.get_data()
        # The median IsoFLOP curve has its minimum near the posterior N* (within the grid step).
        assert abs(np.log(n[np.argmin(loss)] / n_star)) < 0.25
        assert np.allclose(n * (c / (6 * n)) * 6, c)
        band_vertices(by_gid(ax, f"curve_band {c:g}")[0])
        near = int((np.abs(log_c - np.log10(c)) <= 0.15).sum())
        shown = by_gid(ax, f"runs {c:g}", PathCollection)
        assert sum(len(p.get_offsets()) for p in shown) == near
    texts = legend_texts(ax)
    assert "C = 1e+20 FLOP" in texts and any(t.startswith("compute-optimal N*") for t in texts)


def test_plot_frontier(pooled_fit):
    compute = np.geomspace(1e18, 1e24, 7)
    fig = plots.plot_frontier(pooled_fit, compute, ci_prob=(0.5, 0.9))
    assert len(fig.axes) == 2
    table = pooled_fit.compute_optimal(compute, groups="population", ci_prob=(0.5, 0.9),
                                       seed=seed_for(0))
    for ax, q in zip(fig.axes, ("N_opt", "tokens_per_parameter"), strict=True):
        assert_labelled(ax, "log", "log")
        (median,) = by_gid(ax, "median population")
        np.testing.assert_allclose(median.get_ydata(), table[f"{q}_median"])
        assert len(by_gid(ax, "band")) == 2
        assert {"population (median)", "50% interval", "90% interval"} <= set(legend_texts(ax))


def test_plot_forest_shows_counts_and_population(pooled_fit):
    fig = plots.plot_forest(pooled_fit, "E", "family", ci_prob=0.9)
    (ax,) = fig.axes
    assert ax.get_xlabel() and ax.get_ylabel() == "family"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert {"fam0 (n=40)", "sparse (n=4)", "new family"} <= set(labels)
    (groups,) = by_gid(ax, "groups")
    expected = pooled_fit.posterior["E_by_family"].median(("chain", "draw")).values
    np.testing.assert_allclose(groups.get_xdata(), expected)
    (pop,) = by_gid(ax, "population")
    assert np.isclose(pop.get_xdata()[0], float(pooled_fit.posterior["E"].median()))
    assert "population E (median)" in legend_texts(ax)
    # Drawn into the user's axes: the same figure comes back.
    fig2, ax2 = plt.subplots()
    assert plots.plot_forest(pooled_fit, "A", "family", ax=ax2) is fig2
    with pytest.raises(ValueError, match="does not vary by"):
        plots.plot_forest(pooled_fit, "B", "family")


def test_plot_calibration_matches_backtest(tiny_backtest):
    fig = plots.plot_calibration(tiny_backtest)
    (ax,) = fig.axes
    assert_labelled(ax, "linear", "linear")
    table = tiny_backtest.table()
    for method in ("bayescale", "baseline"):
        (line,) = by_gid(ax, f"coverage {method}")
        np.testing.assert_allclose(line.get_xdata(), tiny_backtest.probs)
        np.testing.assert_allclose(
            line.get_ydata(), [table.loc[method, f"coverage_{100 * p:g}"]
                               for p in tiny_backtest.probs])
    band = band_vertices(by_gid(ax, "binomial_band")[0])
    assert band[:, 1].min() >= 0 and band[:, 1].max() <= 1
    texts = legend_texts(ax)
    assert "bayescale (8 held-out runs)" in texts and "nominal = empirical" in texts
    with pytest.raises(ValueError, match="no scores"):
        plots.plot_calibration(tiny_backtest, methods=["other"])


def test_plot_pit_histograms(tiny_backtest):
    fig = plots.plot_pit(tiny_backtest, bins=5)
    methods = ("bayescale", "bayescale (no extrapolation term)", "baseline")
    assert len(fig.axes) == 3
    for ax, method in zip(fig.axes, methods, strict=True):
        counts, _ = np.histogram(tiny_backtest.pit(method), bins=np.linspace(0, 1, 6))
        heights = [p.get_height() for p in ax.patches if p.get_width() < 1]
        np.testing.assert_allclose(heights, counts)
        uniform = [ln for ln in ax.lines if np.allclose(ln.get_ydata(), 8 / 5)]
        assert uniform
        assert ax.get_xlabel() and ax.get_title() == method
        assert "uniform (calibrated)" in legend_texts(ax)
    assert fig.axes[0].get_ylabel()


def test_plot_crossover(pooled_fit):
    result = bs.crossover(pooled_fit, {"family": "fam0"}, {"family": "sparse"}, along="N",
                          grid=np.geomspace(1e6, 1e12, 60), fixed={"D": lambda n: 20 * n},
                          seed=seed_for(1))
    assert result.draws.size > 0
    fig = plots.plot_crossover(result, title="fam0 vs sparse")
    (ax,) = fig.axes
    assert_labelled(ax, "log")
    assert sum(p.get_height() for p in ax.patches) == result.draws.size
    assert f"= {result.prob_cross:.2f}" in ax.get_title()
    assert any(t.startswith("median") for t in legend_texts(ax))


def test_plot_fit_heldout_runs(pooled_fit, simulation):
    runs = simulation.runs
    big = runs["N"] > runs.groupby("family")["N"].transform("quantile", 0.8)
    held = runs[big & (runs["family"] == "fam0")]
    # Curves: the held-out runs are open markers in their group's colour, and the curves reach
    # the largest of them.
    fig = plots.plot_fit(pooled_fit, runs[~big], groups=["fam0", "fam1"], heldout=held,
                         fixed={"D": lambda n: 20 * n})
    (ax,) = fig.axes
    (pts,) = by_gid(ax, "heldout fam0", PathCollection)
    np.testing.assert_allclose(pts.get_offsets()[:, 0], held["N"])
    np.testing.assert_allclose(pts.get_offsets()[:, 1], held["loss"])
    (runs0,) = by_gid(ax, "runs fam0", PathCollection)
    np.testing.assert_allclose(pts.get_edgecolor()[0][:3], runs0.get_facecolor()[0][:3])
    assert not by_gid(ax, "heldout fam1")
    (med,) = by_gid(ax, "median fam0")
    assert np.isclose(med.get_xdata().max(), held["N"].max())
    texts = legend_texts(ax)
    assert f"held-out runs, not fitted ({len(held)})" in texts and "largest fitted N" in texts
    # Intervals at each run: the held-out runs get their own observation intervals.
    fig = plots.plot_fit(pooled_fit, runs[~big], groups=["fam0"], heldout=held)
    (ax,) = fig.axes
    (band,) = by_gid(ax, "heldout_obs_band fam0", LineCollection)
    assert len(band.get_segments()) == len(held)
    # A held-out group the data lacks is drawn only with the new group's curve.
    other = runs[runs["family"] == "sparse"]
    with pytest.raises(ValueError, match="new_group=True"):
        plots.plot_fit(pooled_fit, runs[runs["family"] != "sparse"], heldout=other,
                       fixed={"D": lambda n: 20 * n})
    fig = plots.plot_fit(pooled_fit, runs[runs["family"] != "sparse"], groups=["fam0"],
                         heldout=other, new_group=True, fixed={"D": lambda n: 20 * n})
    (pts,) = by_gid(fig.axes[0], "heldout new family (population)", PathCollection)
    assert len(pts.get_offsets()) == len(other)


def test_plot_shrinkage_selects_groups(pooled_fit, unpooled_fit):
    fits = {"partial pooling": pooled_fit, "no pooling": unpooled_fit}
    fig = plots.plot_shrinkage(fits, "E", "family", groups=["sparse", "fam0"])
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["sparse", "fam0"]
    (bars,) = [c for c in ax.containers if "partial" in c.get_label()]
    expected = pooled_fit.posterior["E_by_family"].median(("chain", "draw"))
    np.testing.assert_allclose(bars.lines[0].get_ydata(),
                               expected.sel(family=["sparse", "fam0"]).values)
    with pytest.raises(ValueError, match="not levels"):
        plots.plot_shrinkage(fits, "E", "family", groups=["nope"])
