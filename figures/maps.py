"""The soft maps: grad V*(tau s) of each regularizer, for several temperatures tau, with its two limits.

For a separable V(x) = sum_i v(x_i) the relaxed LMO acts coordinate-wise, d_tau(m)_i = -(v*)'(tau m_i),
so one curve s -> (v*)'(tau s) per tau shows the whole optimizer step. As tau -> inf it tends to the
hard LMO of the domain (sign(s) on [-1, 1]: Signum); as tau -> 0 it is tau s / v''(0) to first order
(SGD with step lr tau / v''(0)).
"""

from __future__ import annotations

import math

from .style import REFERENCE, color, groups, pyplot, read_rows, save

COLUMNS = ("regularizer", "curve", "tau", "s", "d")
SIGN_LIMIT = "sign limit (tau -> inf)"
IDENTITY_LIMIT = "identity limit (tau -> 0)"


def soft_maps(data, out):
    """Draw grad V*(tau s) against s, one panel per regularizer, one line per tau; limits in black.

    data: tidy CSV (or rows) with columns regularizer, curve, tau, s, d, where curve is 'tau=<value>'
    for a map, or SIGN_LIMIT / IDENTITY_LIMIT for the limits (tau = inf / the smallest tau).
    Writes out.png, out.pdf, out.csv; returns FigureFiles (n_series: distinct curves over all panels).
    """
    rows = read_rows(data, numeric=("tau", "s", "d"), text=("regularizer", "curve"))
    plt = pyplot()
    panels = groups(rows, "regularizer")
    ncol = min(3, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol, 2.6 * nrow), squeeze=False, sharex=True)
    taus = sorted({r["tau"] for r in rows if r["curve"] not in (SIGN_LIMIT, IDENTITY_LIMIT)})
    tau_color = {t: color(i) for i, t in enumerate(taus)}
    curves = set()
    for ax, (name, prow) in zip(axes.flat, panels.items()):
        for curve, crow in groups(prow, "curve").items():
            crow = sorted(crow, key=lambda r: r["s"])
            s = [r["s"] for r in crow]
            d = [r["d"] for r in crow]
            curves.add(curve)
            if curve == SIGN_LIMIT:
                ax.plot(s, d, color=REFERENCE, linestyle="--", linewidth=1.1, label=curve)
            elif curve == IDENTITY_LIMIT:
                ax.plot(s, d, color=REFERENCE, linestyle=":", linewidth=1.1, label=curve)
            else:
                ax.plot(s, d, color=tau_color[crow[0]["tau"]], label=f"tau = {crow[0]['tau']:g}")
        ax.set_title(name)
        ax.set_ylim(-1.3, 1.3)
        ax.axhline(0, color="0.6", linewidth=0.5)
    for ax in axes[-1]:
        ax.set_xlabel("momentum coordinate s")
    for ax in axes[:, 0]:
        ax.set_ylabel("step direction grad V*(tau s)")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles, labels = {}, {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    labels = sorted(handles, key=lambda lab: (lab in (SIGN_LIMIT, IDENTITY_LIMIT), _tau_of(lab), lab))
    fig.legend([handles[lab] for lab in labels], labels, loc="lower center", ncol=min(len(labels), 4),
               bbox_to_anchor=(0.5, -0.02 - 0.03 * math.ceil(len(labels) / 4)))
    fig.suptitle("Soft maps of the built-in regularizers: the step is grad V*(tau m) coordinate-wise")
    fig.tight_layout()
    return save(fig, out, rows, COLUMNS, len(curves))


def _tau_of(label: str) -> float:
    try:
        return float(label.split("=")[1])
    except (IndexError, ValueError):
        return math.inf
