"""Convergence on the synthetic problems: how stationarity depends on the temperature tau and on the
dimension d (data: runs written by :func:`synthetic.sweep`, reduced to tidy rows by the report).

Stationarity is the measure named in the data's ``measure`` column, e.g. min_l1 = min over the steps so
far of ||grad f(x_t)||_1, the quantity the sign-method bounds control. Seeds are summarised by their
median (the line) and their interquartile range (the band).
"""

from __future__ import annotations

import math

import numpy as np

from .style import REFERENCE, groups, optimizer_color, pyplot, read_rows, save

TAU_COLUMNS = ("optimizer", "tau", "seed", "step", "value", "measure")
DIM_COLUMNS = ("optimizer", "d", "seed", "value", "measure", "exponent", "lo", "hi", "claimed")
LIMITS = {"signum": ("Signum (tau = inf)", "--"), "sgd": ("SGD (tau -> 0 limit)", ":")}
MEASURE_LABEL = {"min_l1": "min_t ||grad f(x_t)||_1", "min_l2": "min_t ||grad f(x_t)||_2",
                 "grad_l1": "||grad f(x_t)||_1", "avg_l1": "(1/t) sum_t ||grad f(x_t)||_1",
                 "min_nuc": "min_t ||grad f(X_t)||_nuclear"}


def _label(measure: str) -> str:
    return MEASURE_LABEL.get(measure, measure)


def _quartiles(values):
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    q = np.quantile(v, [0.25, 0.5, 0.75])
    return float(q[0]), float(q[1]), float(q[2])


def _curve(rows, x: str):
    """(x, q25, median, q75) over the seeds at each x, x increasing."""
    out = []
    for xv, xrows in sorted(groups(rows, x).items()):
        out.append((xv, *_quartiles(r["value"] for r in xrows)))
    return [list(c) for c in zip(*out)] if out else [[], [], [], []]


def tau_convergence(data, out):
    """Left: stationarity against the step for each tau (SoftSignum; colour = tau, see the colour bar) with Signum and
    SGD, its two limits, in black. Right: stationarity at the last step against tau, with the two limits
    as horizontal lines: the interpolation between SGD and Signum.

    data: tidy CSV (or rows) with columns optimizer ('softsignum', 'signum', 'sgd', ...), tau, seed,
    step, value, measure. Writes out.png/.pdf/.csv; n_series counts the taus plus the limits drawn.
    """
    rows = read_rows(data, numeric=("tau", "seed", "step", "value"), text=("optimizer", "measure"))
    measure = rows[0]["measure"]
    plt = pyplot()
    import matplotlib

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.0, 3.8))
    soft = [r for r in rows if r["optimizer"] not in LIMITS]
    taus = sorted({r["tau"] for r in soft})
    # an ordered family: a perceptually uniform, colour-blind-safe map (viridis) on log tau, with a colour bar
    norm = matplotlib.colors.LogNorm(min(taus), max(taus) if max(taus) > min(taus) else 10 * min(taus))
    cmap = matplotlib.colors.ListedColormap(matplotlib.colormaps["viridis"](np.linspace(0, 0.9, 256)))
    n_series = 0
    for tau in taus:
        trows = [r for r in soft if r["tau"] == tau and r["step"] > 0]
        x, q25, med, q75 = _curve(trows, "step")
        ax1.plot(x, med, color=cmap(norm(tau)))
        n_series += 1
    if taus:
        bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax1, pad=0.02)
        bar.set_label("SoftSignum temperature tau")
    last = max(r["step"] for r in rows)
    x, q25, med, q75 = _curve([r for r in soft if r["step"] == last], "tau")
    ax2.plot(x, med, color=optimizer_color("softsignum", 0), marker="o", markersize=3,
             label="SoftSignum (median over seeds)")
    ax2.fill_between(x, q25, q75, color=optimizer_color("softsignum", 0), alpha=0.25, linewidth=0,
                     label="interquartile range")
    for name, (label, style) in LIMITS.items():
        lrows = [r for r in rows if r["optimizer"] == name]
        if not lrows:
            continue
        n_series += 1
        x1, _, m1, _ = _curve([r for r in lrows if r["step"] > 0], "step")
        ax1.plot(x1, m1, color=REFERENCE, linestyle=style, linewidth=1.8, label=label)
        final = _quartiles(r["value"] for r in lrows if r["step"] == last)[1]
        ax2.axhline(final, color=REFERENCE, linestyle=style, linewidth=1.4, label=label)
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("step t")
    ax1.set_ylabel(_label(measure))
    ax1.set_title("Convergence for each temperature (median over seeds)")
    ax1.legend(fontsize=7)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("temperature tau")
    ax2.set_ylabel(f"{_label(measure)} at t = {last:g}")
    ax2.set_title("Final stationarity against tau")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, out, rows, TAU_COLUMNS, n_series)


def _fit_label(name, r) -> str:
    text = f"{name}: slope {r['exponent']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}]"
    if math.isfinite(r["claimed"]):
        text += f", predicted {r['claimed']:.2f}"
    return text


def _anchored(x, slope, x0, y0):
    """The line of the given log-log slope through (x0, y0)."""
    return [y0 * (xi / x0) ** slope for xi in x]


def dimension_scaling(data, out):
    """Stationarity at the horizon against the dimension d, one colour per optimizer (median and
    interquartile band over seeds), with the predicted d-scaling (the bound's exponent on this problem's
    constants) as a dashed line of the same colour through the smallest d.

    data: tidy CSV (or rows) with columns optimizer, d, seed, value, measure, exponent, lo, hi (the
    fitted log-log slope and its interval), claimed (the predicted slope; NaN when there is none).
    """
    rows = read_rows(data, numeric=("d", "seed", "value", "exponent", "lo", "hi", "claimed"),
                     text=("optimizer", "measure"))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (name, orows) in enumerate(groups(rows, "optimizer").items()):
        x, q25, med, q75 = _curve(orows, "d")
        c = optimizer_color(name, i)
        ax.plot(x, med, color=c, marker="o", markersize=4, label=_fit_label(name, orows[0]))
        ax.fill_between(x, q25, q75, color=c, alpha=0.2, linewidth=0)
        claimed = orows[0]["claimed"]
        if math.isfinite(claimed) and x:
            ax.plot(x, _anchored(x, claimed, x[0], med[0]), color=c, linestyle="--", linewidth=1.1)
    ax.plot([], [], color=REFERENCE, linestyle="--", linewidth=1.1, label="predicted d-scaling (dashed)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("dimension d")
    ax.set_ylabel(f"{_label(rows[0]['measure'])} at the horizon")
    ax.set_title("Stationarity against the dimension")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, out, rows, DIM_COLUMNS, len(groups(rows, "optimizer")))
