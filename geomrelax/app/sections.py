"""The report's sections, in page order, and the two that need only the core: the regularizers with
their soft maps, and the identity checks (verify) of every built-in and spectral lift.

Importing this module registers every section with :func:`geomrelax.app.report.register_section`.
The sections on measurements of the optimizers live in :mod:`geomrelax.app.measurements`, those on
the synthetic experiments in :mod:`geomrelax.app.experiments`, the claims in :mod:`geomrelax.app.claims`.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ..regularizers import BUILTIN_NAMES, regularizer
from ..store import write_csv
from ..verify import VERIFY_VERSION, fingerprint, resolve, verify
from . import claims, experiments, measurements
from .render import TableView
from .report import Item, Section, builtin_table, register_section

MAPS_VERSION = 1  # bump when the map data change shape: stored items are then recomputed


# -- regularizers and their soft maps ------------------------------------------------------------
def _map_rows(taus, n_s: int) -> list:
    """grad V*(tau s) on s in [-3, 3] for each built-in and tau, plus the sign and identity limits.

    Each point is evaluated as a 1-vector (shape (n, 1)), so the non-separable ball_quadratic gives its
    one-dimensional section y / max(1, |y|) like the others.
    """
    from figures.maps import IDENTITY_LIMIT, SIGN_LIMIT

    s = np.linspace(-3.0, 3.0, n_s)
    rows = []
    for name in BUILTIN_NAMES:
        V = regularizer(name)
        for tau in taus:
            d = np.asarray(V.grad_conj((tau * s)[:, None]))[:, 0]
            rows += [{"regularizer": name, "curve": f"tau={tau:g}", "tau": tau, "s": si, "d": di}
                     for si, di in zip(s, d)]
        if V.bounded:  # the hard LMO exists: grad V*(tau s) -> sign(s), the box's vertex
            d = np.asarray(V.grad_conj((1e12 * s)[:, None]))[:, 0]
            rows += [{"regularizer": name, "curve": SIGN_LIMIT, "tau": float("inf"), "s": si, "d": di}
                     for si, di in zip(s, d)]
        if V.hess0:  # first order at tau -> 0: tau s / v''(0), drawn for the smallest tau
            t = min(taus)
            rows += [{"regularizer": name, "curve": IDENTITY_LIMIT, "tau": t, "s": si, "d": t * si / V.hess0}
                     for si in s if abs(t * si / V.hess0) <= 1.3]
    return rows


def _regularizer_items(opts) -> list:
    taus = opts.pick([0.5, 2.0, 10.0], [0.3, 1.0, 3.0, 10.0], [0.1, 0.3, 1.0, 3.0, 10.0, 30.0])
    n_s = opts.pick(121, 401, 1201)
    config = {"taus": taus, "n_s": n_s, "version": MAPS_VERSION,
              "fingerprints": {n: fingerprint(regularizer(n)) for n in BUILTIN_NAMES}}

    def run(folder):
        from figures.maps import COLUMNS

        write_csv(folder / "maps.csv", _map_rows(taus, n_s), COLUMNS)
        return {"passed": True, "summary": f"{len(BUILTIN_NAMES)} regularizers x {len(taus)} temperatures",
                "files": ["maps.csv"], "catalogue": builtin_table()}

    return [Item("regularizers", "maps", config, run, with_dir=True)]


def _present_regularizers(records, p) -> None:
    from figures.maps import soft_maps

    rec = records[0]
    cat = rec.result["catalogue"]
    p.table(TableView("The built-in regularizers", ["name", "V", "domain", "mu (norm)", "v''(0)", "hard LMO",
                                                   "spectral lift"],
                      [[r["name"], r["formula"], r["domain"], f"{r['mu']:g} ({r['norm']})",
                        "-" if r["hess0"] is None else f"{r['hess0']:g}", "yes" if r["hard_lmo"] else "no",
                        "yes" if r["spectral_lift"] else "no"] for r in cat]))
    p.figure("soft_maps", "Soft maps grad V*(tau s)",
             "Each built-in regularizer's step direction as a function of one momentum coordinate s, for "
             "several temperatures tau. Large tau approaches the sign (Signum, dashed); small tau approaches "
             "the scaled identity tau s / v''(0) (SGD, dotted). The Euclidean map is the identity for every "
             "tau and leaves the plotted range.",
             lambda out: soft_maps(rec.item_dir / "maps.csv", out))


# -- verify ----------------------------------------------------------------------------------------
def _crosscheck_available() -> bool:
    return importlib.util.find_spec("geomrelax.crosscheck") is not None


def _verify_items(opts) -> list:
    """verify() on every built-in and on every spectral lift that Lewis' theorem allows."""
    n_points = opts.n_points or opts.pick(8, 64, 256)
    cc = opts.pick(False, True, True) if opts.crosscheck is None else opts.crosscheck
    cc = cc and _crosscheck_available()
    search = opts.pick(False, True, True) if opts.search is None else opts.search
    items = []
    for spectral in (False, True):
        for name in BUILTIN_NAMES:
            if spectral and not regularizer(name).absolutely_symmetric:
                continue
            V = resolve(name, spectral=spectral)
            config = {"regularizer": name, "spectral": spectral, "seed": opts.seed, "n_points": n_points,
                      "crosscheck": cc, "search": search, "verify_version": VERIFY_VERSION,
                      "fingerprint": fingerprint(V)}

            def run(name=name, spectral=spectral):
                rep = verify(name, spectral=spectral, seed=opts.seed, n_points=n_points, crosscheck=cc,
                             search=search)
                c = rep.counts()
                failed = ", ".join(r.name for r in rep.failures)
                summary = f"{c['pass']} pass, {c['fail']} fail, {c['skipped']} skipped" + (
                    f" (failed: {failed})" if failed else "")
                return {**rep.to_dict(), "summary": summary}

            items.append(Item("verify", f"spectral({name})" if spectral else name, config, run))
    return items


def _present_verify(records, p) -> None:
    rows, cls = [], []
    for rec in records:
        res = rec.result
        checks = res.get("results", [])
        n = {k: sum(1 for c in checks if c.get("status") == k) for k in ("pass", "fail", "skipped")}
        failed = [str(c.get("name", "?")) for c in checks if c.get("status") == "fail"]
        rows.append([rec.name, n["pass"], n["fail"], n["skipped"], ", ".join(failed) or "-"])
        cls.append("pass" if res.get("passed") else "fail")
    p.table(TableView("Identity checks per regularizer", ["regularizer", "pass", "fail", "skipped", "failed checks"],
                      rows, note="Fenchel-Young, inverse gradients, biconjugate, strong convexity / smoothness, "
                                 "tau limits, bounded updates, the cvxpy cross-check and (spectral) Lewis "
                                 "conjugacy, each on random, boundary and adversarially searched points.",
                      row_class=cls))


# -- the page, in order ----------------------------------------------------------------------------
def _register() -> None:
    register_section(Section(
        "regularizers", "Regularizers and their soft maps", _regularizer_items,
        "A strongly convex regularizer V on a set D containing 0 turns the hard linear minimization oracle "
        "into a soft one: the step is d_tau(m) = grad V*(-tau m), which tends to the hard LMO (sign, polar "
        "factor) as tau grows and to a scaled gradient step as tau shrinks.", _present_regularizers))
    for sec in (*claims.SECTIONS, *experiments.SECTIONS, *measurements.SECTIONS):
        register_section(sec)
    register_section(Section(
        "verify", "Identity checks of every built-in and its spectral lift", _verify_items,
        "Every identity a regularizer must satisfy, checked numerically on each built-in and on its "
        "spectral lift sum_i v(sigma_i(X)) where Lewis' theorem applies.", _present_verify))


_register()
