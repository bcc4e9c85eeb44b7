"""What an experiment writes into its folder: the table (CSV and Markdown), the curves (tidy CSV), the figure.

    results.csv / results.md   one row per optimizer: best lr (and the AdamW lr of the non-matrix
                               parameters), final validation loss over the seeds (mean, sample std,
                               min, max), its excess over the loss floor, wall time per step
    grid.csv                   every grid run: optimizer, lr, tuning loss
    curves.csv                 optimizer, seed, split (train / val), step, loss: the data of the figure
    loss_curves.png            training loss (running mean over ``smooth`` steps), validation loss, and the
                               validation loss above the floor, against the step; log y; one colour per
                               optimizer (Okabe-Ito, safe for the common colour-vision deficiencies),
                               the band spans the seeds (min to max), the line is their mean
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from geomrelax.store import write_csv

__all__ = ["write_report"]

# Okabe & Ito (2008), one colour per optimizer in OPTIMIZERS order (adamw black; each soft variant next to its base)
PALETTE = ("#000000", "#E69F00", "#D55E00", "#0072B2", "#009E73", "#CC79A7", "#56B4E9")
TABLE_COLUMNS = ("optimizer", "lr", "aux_adamw_lr", "lr_at_grid_edge", "seeds", "final_val_mean", "final_val_std",
                 "final_val_min", "final_val_max", "excess_over_floor", "ms_per_step", "ms_per_opt_step")


def _fmt(v, digits=4):
    if v is None:
        return "-"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.{digits}g}" if abs(v) < 1e-2 or abs(v) >= 1e3 else f"{v:.{digits}f}"
    return str(v)


def _lr(v):
    return "-" if v is None else f"{v:g}"


def table_rows(res) -> list:
    rows = []
    for s in res.summaries:
        mean = s.stat("mean")
        rows.append({"optimizer": s.name, "lr": s.best_lr, "aux_adamw_lr": s.aux_lr, "lr_at_grid_edge": s.at_grid_edge,
                     "seeds": len(s.runs), "final_val_mean": mean, "final_val_std": s.stat("std"),
                     "final_val_min": s.stat("min"), "final_val_max": s.stat("max"),
                     "excess_over_floor": mean - res.floor, "ms_per_step": s.timing("ms_per_step"),
                     "ms_per_opt_step": s.timing("ms_per_opt_step")})
    return rows


def _markdown(res, rows) -> str:
    cfg = res.cfg
    lines = [
        f"Source: {res.source_description}; sequences of {cfg.seq_len} predicted tokens.",
        f"Loss floor (Bayes-optimal predictor, exact): {res.floor:.4f} nats/token; on the validation set: "
        f"{res.val_bayes_loss:.4f}. Unigram entropy (best context-free predictor): {res.unigram_entropy:.4f}.",
        f"Model: {cfg.n_layers} block(s), d_model {cfg.d_model}, {cfg.n_heads} heads, {res.n_params:,} parameters. "
        f"Budget: {cfg.steps} steps of {cfg.batch} sequences (grid runs: {cfg.grid_steps} steps), lr schedule "
        f"'{cfg.lr_schedule}' with {cfg.warmup_frac:.0%} warm-up; soft transitions over the last "
        f"{cfg.transition_frac:.0%}. Seeds {res.seeds}, device {res.device}.",
        "",
        "| optimizer | lr | AdamW lr (rest) | final val loss (mean ± std) | min .. max | above floor | ms/step | "
        "ms/opt step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        edge = " (grid edge)" if r["lr_at_grid_edge"] else ""
        lines.append(f"| {r['optimizer']} | {_lr(r['lr'])}{edge} | {_lr(r['aux_adamw_lr'])} | "
                     f"{_fmt(r['final_val_mean'])} ± {r['final_val_std']:.2g} | {_fmt(r['final_val_min'])} .. "
                     f"{_fmt(r['final_val_max'])} | {_fmt(r['excess_over_floor'])} | {_fmt(r['ms_per_step'], 3)} | "
                     f"{_fmt(r['ms_per_opt_step'], 3)} |")
    by_name = {s.name: s for s in res.summaries}
    pairs = [(by_name[f"soft{b}"], by_name[b]) for b in ("signum", "muon") if b in by_name and f"soft{b}" in by_name]
    if pairs:
        lines += ["", "Soft variant minus its base, same seed (same initial weights and batches; negative: the soft "
                  "variant ends lower):", ""]
        for soft, base in pairs:
            diffs = [float(soft.runs[k]["final_val"]) - float(base.runs[k]["final_val"])
                     for k in soft.runs if k in base.runs]
            lines.append(f"- {soft.name} - {base.name}: " + ", ".join(f"{d:+.4f}" for d in diffs))
    lines += ["", "Learning-rate grid (loss on the tuning set after the grid run; inf: diverged):", ""]
    lines.append("| optimizer | " + " | ".join("lr / loss" for _ in range(max(len(s.grid) for s in res.summaries)))
                 + " |")
    lines.append("|---|" + "---|" * max(len(s.grid) for s in res.summaries))
    for s in res.summaries:
        lines.append(f"| {s.name} | " + " | ".join(f"{lr:g}: {_fmt(loss)}" for lr, loss in s.grid) + " |")
    return "\n".join(lines) + "\n"


def _running_mean(x, k):
    x = np.asarray(x, dtype=float)
    if len(x) == 0 or k <= 1:
        return x
    c = np.cumsum(np.insert(x, 0, 0.0))
    n = np.minimum(np.arange(1, len(x) + 1), k)  # a shorter window at the start
    return (c[1:] - c[np.arange(1, len(x) + 1) - n]) / n


def _curve_rows(res):
    for s in res.summaries:
        for seed, r in s.runs.items():
            for i, v in enumerate(r["train_loss"]):
                yield {"optimizer": s.name, "seed": seed, "split": "train", "step": i + 1, "loss": float(v)}
            for st, v in zip(r["val_steps"], r["val_loss"]):
                yield {"optimizer": s.name, "seed": seed, "split": "val", "step": int(st), "loss": float(v)}


def _band(ax, steps, curves, color, label, ls="-"):
    """Mean line and min..max band over seeds (curves cut to the shortest, e.g. a diverged seed)."""
    n = min(len(c) for c in curves)
    if n == 0:
        return
    arr = np.array([c[:n] for c in curves])
    ax.plot(steps[:n], arr.mean(0), color=color, label=label, lw=1.4, ls=ls)
    if len(curves) > 1:
        ax.fill_between(steps[:n], arr.min(0), arr.max(0), color=color, alpha=0.2, lw=0)


def plot(res, path: Path, smooth: int) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for i, s in enumerate(res.summaries):
        if not s.runs:
            continue
        color = PALETTE[i % len(PALETTE)]
        # a soft variant follows its base optimizer step for step until its transition: dashes keep both visible
        ls = "--" if s.name.startswith("soft") else "-"
        runs = list(s.runs.values())
        train = [_running_mean(r["train_loss"], smooth) for r in runs]
        _band(axes[0], np.arange(1, res.cfg.steps + 1), train, color, s.name, ls)
        val_steps = np.asarray(runs[0]["val_steps"])
        val = [np.asarray(r["val_loss"], dtype=float) for r in runs]
        _band(axes[1], val_steps, val, color, s.name, ls)
        _band(axes[2], val_steps, [np.maximum(v - res.floor, 1e-6) for v in val], color, s.name, ls)
    for ax in axes[:2]:
        ax.axhline(res.floor, color="0.3", ls="--", lw=1, label=f"loss floor {res.floor:.3f}")
        ax.axhline(res.unigram_entropy, color="0.5", ls=":", lw=1, label=f"unigram entropy {res.unigram_entropy:.3f}")
    axes[0].set_title(f"training loss (running mean over {smooth} steps)")
    axes[1].set_title("validation loss")
    axes[2].set_title("validation loss above the floor")
    for ax in axes:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 3.0, 5.0)))  # labelled; 4, 6.. would crowd
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%.2g"))
        ax.set_xlabel("step")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("cross-entropy (nats/token)")
    axes[1].legend(fontsize=8, frameon=False)
    fig.suptitle(f"{res.cfg.n_layers}-layer GPT, d={res.cfg.d_model}, {res.cfg.steps} steps x {res.cfg.batch} seqs, "
                 f"seeds {res.seeds} (band: min..max over seeds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(res, out) -> dict:
    """Write the files of the module docstring into ``out``; returns their paths by name."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = table_rows(res)
    paths = {"csv": out / "results.csv", "md": out / "results.md", "grid": out / "grid.csv",
             "curves": out / "curves.csv", "png": out / "loss_curves.png"}
    write_csv(paths["csv"], rows, TABLE_COLUMNS)
    paths["md"].write_text(_markdown(res, rows))
    write_csv(paths["grid"], [{"optimizer": s.name, "lr": lr, "tune_loss": loss} for s in res.summaries
                               for lr, loss in s.grid], ("optimizer", "lr", "tune_loss"))
    write_csv(paths["curves"], _curve_rows(res), ("optimizer", "seed", "split", "step", "loss"))
    plot(res, paths["png"], smooth=max(1, res.cfg.steps // 30))
    return paths
