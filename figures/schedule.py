"""The SoftSignum temperature schedule and the fraction of saturated coordinates over the transition.

At transition step j the step is psi(tau_j u); a coordinate is saturated (sign-like) when
|psi(tau_j u_i)| >= 1 - eps, i.e. |u_i| >= psi^{-1}(1 - eps)/tau_j. The schedule picks tau_j so that,
under the Cauchy model fitted to u at the start of the transition, a fraction 1 - j/K is saturated.
"""

from __future__ import annotations

from .style import REFERENCE, color, pyplot, read_rows, save

COLUMNS = ("j", "tau", "tau_official", "saturated_at_fit", "saturated_live", "cauchy_model")


def temperature_schedule(data, out):
    """Two panels against the transition step j: tau_j (log scale), and the saturated fraction.

    data: tidy CSV (or rows) with columns j, tau (the schedule without upper clamp), tau_official (the
    same fit clamped at the official tmax = 20), saturated_at_fit (fraction of the momentum entries at
    the fit that tau_j saturates), saturated_live (the same on the momentum of step j of the run),
    cauchy_model (1 - j/K, what the schedule aims at). Writes out.png/.pdf/.csv.
    """
    rows = sorted(read_rows(data, numeric=COLUMNS), key=lambda r: r["j"])
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.0, 3.4))
    j = [r["j"] for r in rows]
    ax1.plot(j, [r["tau"] for r in rows], color=color(0), label="schedule, no upper clamp")
    ax1.plot(j, [r["tau_official"] for r in rows], color=color(1), linestyle="--",
             label="schedule clamped at tmax = 20 (official)")
    ax1.set_yscale("log")
    ax1.set_xlabel("transition step j")
    ax1.set_ylabel("temperature tau_j")
    ax1.set_title("Temperature schedule")
    ax1.legend()
    ax2.plot(j, [r["cauchy_model"] for r in rows], color=REFERENCE, linestyle=":", label="Cauchy model 1 - j/K")
    ax2.plot(j, [r["saturated_at_fit"] for r in rows], color=color(0), label="momentum at the fit")
    ax2.plot(j, [r["saturated_live"] for r in rows], color=color(2), label="momentum of step j (run)")
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_xlabel("transition step j")
    ax2.set_ylabel("saturated fraction |psi(tau_j u_i)| >= 1 - eps")
    ax2.set_title("Saturated coordinates")
    ax2.legend()
    fig.tight_layout()
    return save(fig, out, rows, COLUMNS, 5)
