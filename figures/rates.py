"""Measured rates beside the stated ones: stationarity against the horizon T with the fitted log-log slope,
and the gain of SignSGD over SGD against the noise density phi (data: :mod:`synthetic`'s sweeps and
comparison, reduced to tidy rows by the report).
"""

from __future__ import annotations

import math

from .convergence import _anchored, _curve, _label
from .style import OPTIMIZER_COLOURS, REFERENCE, color, groups, optimizer_color, pyplot, read_rows, save

RATE_COLUMNS = ("optimizer", "T", "seed", "value", "measure", "exponent", "lo", "hi", "claimed", "verdict")
GAIN_COLUMNS = ("phi", "d", "T", "gain_min", "gain_avg", "gain_pred_bounds", "gain_pred_noise")


def rate_fits(data, out):
    """One log-log panel per optimizer: stationarity at the horizon T against T (each seed a dot, the
    median a marker), the fitted slope as a solid line through the medians' centre of mass, and the
    claimed slope as a dashed line through the first median; the title gives the slope, its bootstrap
    interval, the claim and the verdict.

    data: tidy CSV (or rows) with columns optimizer, T, seed, value, measure, exponent, lo, hi, claimed,
    verdict (one fit per optimizer, repeated on its rows).
    """
    rows = read_rows(data, numeric=("T", "seed", "value", "exponent", "lo", "hi", "claimed"),
                     text=("optimizer", "measure", "verdict"))
    plt = pyplot()
    order = list(OPTIMIZER_COLOURS)
    opt = dict(sorted(groups(rows, "optimizer").items(),
                      key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    ncol = min(len(opt), 4)
    nrow = math.ceil(len(opt) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 3.2 * nrow + 0.5), squeeze=False, sharey=True)
    for i, (ax, (name, orows)) in enumerate(zip(axes.flat, opt.items())):
        c = optimizer_color(name, i)
        ax.plot([r["T"] for r in orows], [r["value"] for r in orows], linestyle="none", marker=".",
                color=c, alpha=0.4, markersize=4)
        x, _, med, _ = _curve(orows, "T")
        fit = orows[0]
        ax.plot(x, med, linestyle="none", marker="o", color=c, markersize=5, label="median over seeds")
        if x and math.isfinite(fit["exponent"]):
            lx = sum(math.log(v) for v in x) / len(x)
            ly = sum(math.log(v) for v in med) / len(med)
            ax.plot(x, _anchored(x, fit["exponent"], math.exp(lx), math.exp(ly)), color=c,
                    label=f"fit: slope {fit['exponent']:.2f}")
        if x and math.isfinite(fit["claimed"]):
            ax.plot(x, _anchored(x, fit["claimed"], x[0], med[0]), color=REFERENCE, linestyle="--",
                    linewidth=1.1, label=f"claimed: slope {fit['claimed']:.2f}")
        ax.set_title(f"{name}\nslope {fit['exponent']:.2f} [{fit['lo']:.2f}, {fit['hi']:.2f}], claimed "
                     f"{fit['claimed']:.2f}\nverdict: {fit['verdict']}", fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("horizon T (steps)")
        ax.legend(fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{_label(rows[0]['measure'])} at T")
    for ax in list(axes.flat)[len(opt):]:
        ax.set_visible(False)
    fig.suptitle("Rate fits: stationarity against the horizon (log-log slope, 95% seed-bootstrap interval)")
    fig.tight_layout()
    return save(fig, out, rows, RATE_COLUMNS, len(opt))


def noise_density_gain(data, out):
    """The gain of SignSGD over SGD (ratio of their best stationarity, SGD / SignSGD, each at its best
    step size) against the noise density phi = ||sigma||_1^2 / (d ||sigma||_2^2), beside the prediction
    from the bounds on the problem's constants and its noise-dominated limit phi^(-1/4).

    data: tidy CSV (or rows) with columns phi, d, T, gain_min (min_t ||grad f||_1), gain_avg (average over
    t), gain_pred_bounds, gain_pred_noise.
    """
    rows = sorted(read_rows(data, numeric=GAIN_COLUMNS), key=lambda r: r["phi"])
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    phi = [r["phi"] for r in rows]
    ax.plot(phi, [r["gain_min"] for r in rows], color=color(0), marker="o", label="measured: min_t ||grad f||_1")
    ax.plot(phi, [r["gain_avg"] for r in rows], color=color(1), marker="s", markersize=4,
            label="measured: (1/T) sum_t ||grad f||_1")
    ax.plot(phi, [r["gain_pred_bounds"] for r in rows], color=REFERENCE, linestyle="--",
            label="predicted: SGD lower bound / SignSGD bound")
    ax.plot(phi, [r["gain_pred_noise"] for r in rows], color=REFERENCE, linestyle=":",
            label="noise-dominated limit phi^(-1/4)")
    ax.axhline(1.0, color="0.6", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("noise density phi = ||sigma||_1^2 / (d ||sigma||_2^2)")
    ax.set_ylabel("gain of SignSGD over SGD (SGD / SignSGD)")
    d, T = rows[0]["d"], rows[0]["T"]
    ax.set_title(f"SignSGD against SGD (d = {d:g}, T = {T:g}; > 1: SignSGD better)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, out, rows, GAIN_COLUMNS, 4)
