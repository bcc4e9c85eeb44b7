"""figures: one function per figure, reading results written by the core, :mod:`synthetic` and
:mod:`proofs_check`; figures compute nothing those could not.

Every figure function has the signature ``name(data, out) -> FigureFiles``: ``data`` is a tidy CSV
file (or a list of row dicts) in the columns the function documents, ``out`` a path (suffix optional)
under which it writes ``out.png``, ``out.pdf`` and ``out.csv`` (the rows it drew: handing that CSV back
redraws the figure). The report (``geomrelax report``) writes each figure's data and draws it under
``DIR/figures/``; ``geomrelax plot NAME --out FILE`` redraws one from there or from ``--data CSV``.

Matplotlib (Agg backend) is imported when a figure is drawn, not when this package is imported.
"""

from importlib import import_module

from .style import FigureDataError, FigureFiles

# figure name -> (module, function); the names are those of `geomrelax plot NAME`
FIGURES = {
    "soft_maps": ("figures.maps", "soft_maps"),
    "rate_fits": ("figures.rates", "rate_fits"),
    "tau_convergence": ("figures.convergence", "tau_convergence"),
    "dimension": ("figures.convergence", "dimension_scaling"),
    "noise_density": ("figures.rates", "noise_density_gain"),
    "temperature_schedule": ("figures.schedule", "temperature_schedule"),
    "spectral_map_errors": ("figures.spectral", "spectral_map_errors"),
    "claims": ("figures.claims", "claims_table"),
}


def figure_function(name: str):
    """The function drawing figure ``name`` (one of FIGURES)."""
    if name not in FIGURES:
        raise FigureDataError(f"unknown figure {name!r}; figures are {', '.join(sorted(FIGURES))}")
    module, func = FIGURES[name]
    return getattr(import_module(module), func)


__all__ = ["FIGURES", "FigureDataError", "FigureFiles", "figure_function"]
