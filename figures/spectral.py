"""Error of the SoftMuon spectral maps against the exact smoothed polar map.

S_tau(u) = U diag(f(sigma)) W^T with f(s) = tau s / sqrt(1 + tau^2 s^2). The error along the singular
direction w_i is ||(Y - S) w_i||_2 / f(sigma_i) (relative), and over the whole matrix
||Y - S||_F / ||S||_F.
"""

from __future__ import annotations

import math

from .style import REFERENCE, color, groups, pyplot, read_rows, save

COLUMNS = ("panel", "method", "tau", "x", "error")
SPECTRUM, STEPS = "spectrum", "steps"


def spectral_map_errors(data, out):
    """Left: relative error along each singular direction against sigma_i / sigma_max, one line per
    method. Right: Frobenius relative error against the number of iterations, one line per method;
    a method with no iterations (the float32 SVD) is a horizontal line.

    data: tidy CSV (or rows) with columns panel ('spectrum' or 'steps'), method, tau, x (sigma_i /
    sigma_max, or the number of steps; NaN for a method without steps), error (NaN where the method
    returned NaN: drawn as a gap and named in the legend). Writes out.png/.pdf/.csv.
    """
    rows = read_rows(data, numeric=("tau", "x", "error"), text=("panel", "method"))
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    methods = list(groups(rows, "method"))
    mcolor = {m: color(i) for i, m in enumerate(methods)}
    series = set()
    for (panel, method, tau), srows in groups(rows, "panel", "method", "tau").items():
        srows = sorted(srows, key=lambda r: r["x"])
        x = [r["x"] for r in srows]
        y = [max(r["error"], 1e-17) for r in srows]  # an exact 0 would vanish on the log axis
        n_nan = sum(math.isnan(v) for v in y)
        label = f"{method}" + (f" ({n_nan} NaN)" if n_nan else "")
        series.add((panel, method, tau))
        if panel == SPECTRUM:
            ax1.plot(x, y, color=mcolor[method], label=label, marker="." if len(x) < 40 else None)
        elif all(math.isnan(v) for v in x):
            ax2.axhline(y[0], color=mcolor[method], linestyle="--", label=label)
        else:
            ax2.plot(x, y, color=mcolor[method], marker="o", markersize=3, label=label)
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("singular value sigma_i / sigma_max")
    ax1.set_ylabel("relative error ||(Y - S) w_i||_2 / f(sigma_i)")
    taus = sorted({r["tau"] for r in rows})
    at = ", ".join(f"{t:g}" for t in taus)
    ax1.set_title(f"Error over the spectrum (tau = {at})")
    ax1.axhline(1.0, color=REFERENCE, linewidth=0.8, linestyle=":")
    ax2.set_yscale("log")
    ax2.set_xlabel("iterations")
    ax2.set_ylabel("relative error ||Y - S||_F / ||S||_F")
    ax2.set_title(f"Error against the number of iterations (tau = {at})")
    handles = {}
    for ax in (ax1, ax2):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.tight_layout()
    fig.legend(list(handles.values()), list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(len(handles), 4))
    return save(fig, out, rows, COLUMNS, len(series))
