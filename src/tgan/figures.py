"""Figures people judge a run by: the PSD histogram, particle outlines on each image, the image stream.

Matplotlib is imported inside the functions with the Agg backend, so the workflow needs no display.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from skimage.segmentation import find_boundaries

from .compare import summary_line
from .files import atomic
from .images import read_image, read_mask
from .psd import UNDER_RESOLVED_PX, histogram_band

# Outline colours (RGB): particles in the statistics, and those cut by the border (left out of them).
COUNTED_COLOUR = (255, 221, 0)
BORDER_COLOUR = (0, 170, 255)
# Regions left out of the PSD (burned-in scale bars and labels): tinted and outlined in this colour.
IGNORED_COLOUR = (255, 0, 160)
IGNORED_TINT = 0.35
# the frame of an overlay whose image is doubtful (the lowest fifth of its stack by the quality estimate)
DOUBTFUL_COLOUR = (230, 30, 30)
IMAGE_STREAM_COLUMNS = ["real image", "rough mask", "synthetic mask", "gen1", "gen2", "segmentation"]
# One colour per stack of a comparison: Paul Tol's bright scheme, which colour-blind readers tell apart too.
STACK_COLOURS = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb"]
# A comparison's histogram has at most this many bins: numpy's `auto` gives hundreds for thousands of particles
# with a long tail, and overlaid step lines of hundreds of bins cannot be told apart.
MAX_COMPARE_BINS = 40


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def histogram(particles: pd.DataFrame, summary: pd.Series, path: str | os.PathLike, title: str,
              replicates: int = 1000, seed: int = 0) -> None:
    """Histogram of equivalent diameters with its 95 % bootstrap band, the D50's interval, the fitted
    log-normal and the statistics printed on it.

    particles: those in the statistics (bars weighted by their counting `weight`); summary: their row of
    summary.csv. In nm when every image is calibrated, else in px. The band (`psd.histogram_band`) resamples
    images and particles as the summary's intervals do.
    """
    plt = _pyplot()
    unit = "nm" if np.isfinite(summary["diameter_nm_mean"]) else "px"
    d = particles[f"diameter_{unit}"].to_numpy(float)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    if d.size:
        weights = particles["weight"].to_numpy(float)
        edges = np.histogram_bin_edges(d, bins="auto")
        ax.hist(d, bins=edges, weights=weights, color="#4477aa", edgecolor="white", alpha=0.8, zorder=2,
                label="particles")
        if d.size > 1:  # the band behind the bars: above a bar it shows whole, through a bar faintly
            lo, hi = histogram_band(particles, unit, edges, replicates, seed)
            ax.fill_between(edges, np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post", color="#ee7733",
                            alpha=0.45, lw=0, zorder=1, label="95 % interval per bin (bootstrap)")
        d50, d50_lo, d50_hi = (summary[f"diameter_{unit}_d50{end}"] for end in ("", "_lo", "_hi"))
        if np.isfinite(d50_lo):
            ax.axvspan(d50_lo, d50_hi, color="#009988", alpha=0.2, lw=0, zorder=0)
        ax.axvline(d50, color="#009988", lw=1.5, zorder=3, label="D50 and its 95 % interval")
        mu, sigma = summary[f"lognormal_mu_{unit}"], summary["lognormal_sigma"]
        if np.isfinite(mu) and np.isfinite(sigma):
            x = np.linspace(max(edges[0], 1e-9), edges[-1], 300)
            pdf = stats.lognorm.pdf(x, sigma, 0, np.exp(mu)) * weights.sum() * (edges[1] - edges[0])
            ax.plot(x, pdf, color="#cc3311", lw=2, zorder=4, label=f"log-normal fit (μ {mu:.3f}, σ {sigma:.3f})")
        ax.legend(loc="upper right", fontsize=8)

        def figure(name):
            value, lo, hi = (summary[f"{name}{end}"] for end in ("", "_lo", "_hi"))
            return f"{value:.2f} [{lo:.2f}, {hi:.2f}]"

        need = summary["count_needed_d50"]
        text = "\n".join([
            f"n = {int(summary['count'])} (border: {int(summary['border_count'])}; "
            f"under {UNDER_RESOLVED_PX:.0f} px: {int(summary['under_resolved_count'])})",
            f"±5 % D50 needs n ≥ {need:.0f}" if np.isfinite(need) else "too few for a D50 interval",
            f"mean = {figure(f'diameter_{unit}_mean')} {unit}",
            f"std = {figure(f'diameter_{unit}_std')} {unit}",
            f"D10 = {figure(f'diameter_{unit}_d10')} {unit}",
            f"D50 = {figure(f'diameter_{unit}_d50')} {unit}",
            f"D90 = {figure(f'diameter_{unit}_d90')} {unit}",
            f"D50 by volume = {figure(f'diameter_{unit}_d50_volume')} {unit}",
            f"KS D = {summary['lognormal_ks']:.3f}, p = {summary['lognormal_p']:.2g}",
            "[ ]: 95 % bootstrap interval",
        ])
        ax.text(0.98, 0.62, text, transform=ax.transAxes, ha="right", va="top", fontsize=8,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "#999999"})
    ax.set_xlabel(f"equivalent circular diameter ({unit})")
    ax.set_ylabel("particles")
    ax.set_title(f"{title}: particle-size distribution" + ("" if unit == "nm" else " (uncalibrated)"))
    fig.tight_layout()
    with atomic(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def compare_figure(particles: dict[str, pd.DataFrame], table: pd.DataFrame, path: str | os.PathLike, title: str,
                   replicates: int = 1000, seed: int = 0) -> None:
    """The stacks of a comparison overlaid (table: `compare.compare_stacks`; particles: each stack's particles.csv).

    Left, each stack's diameter histogram as the share of its particles per bin, so that stacks of different counts
    compare, with the 95 % bootstrap band of each bin (`psd.histogram_band`: images resampled as for the stack's
    intervals) and its D50 with its interval; right, the cumulative distributions, where growth shows as the whole
    curve moving right, with each D50 and its interval at 0.5. Beneath, each stack's line of the log
    (`compare.summary_line`: the shift, its interval, the test and the verdict).
    """
    plt = _pyplot()
    unit = table["unit"].iloc[0]
    used = {stack: p[p["weight"] > 0] for stack, p in particles.items()}
    pooled = np.concatenate([u[f"diameter_{unit}"].to_numpy(float) for u in used.values()])
    lines = [summary_line(row) for _, row in table.iterrows()]
    fig, (hist_ax, cdf_ax) = plt.subplots(1, 2, figsize=(13, 5 + 0.18 * len(lines)), dpi=120)
    edges = np.histogram_bin_edges(pooled, bins="auto") if pooled.size else np.array([0.0, 1.0])
    if len(edges) > MAX_COMPARE_BINS + 1:
        edges = np.linspace(edges[0], edges[-1], MAX_COMPARE_BINS + 1)
    for k, row in enumerate(table.itertuples(index=False)):
        colour = STACK_COLOURS[k % len(STACK_COLOURS)]
        d, w = used[row.stack][f"diameter_{unit}"].to_numpy(float), used[row.stack]["weight"].to_numpy(float)
        if d.size == 0:
            continue
        total = w.sum()
        hist_ax.stairs(np.histogram(d, edges, weights=w)[0] / total, edges, color=colour, lw=1.8,
                       label=f"{row.stack} (n = {row.count})")
        if d.size > 1:
            lo, hi = histogram_band(used[row.stack], unit, edges, replicates, seed)
            hist_ax.fill_between(edges, np.append(lo, lo[-1]) / total, np.append(hi, hi[-1]) / total, step="post",
                                 color=colour, alpha=0.25, lw=0)
        hist_ax.axvline(row.d50, color=colour, ls="--", lw=1.2)
        if np.isfinite(row.d50_lo):
            hist_ax.axvspan(row.d50_lo, row.d50_hi, color=colour, alpha=0.12, lw=0)
            cdf_ax.errorbar(row.d50, 0.5, xerr=[[row.d50 - row.d50_lo], [row.d50_hi - row.d50]], fmt="o",
                            color=colour, capsize=4)
        order = np.argsort(d, kind="stable")
        cdf_ax.step(np.concatenate([[d[order][0]], d[order]]), np.concatenate([[0.0], np.cumsum(w[order]) / total]),
                    where="post", color=colour, lw=1.5, label=row.stack)
    hist_ax.set_ylabel("share of the stack's particles per bin")
    hist_ax.legend(title="band: 95 % per bin; dashed: D50 and its interval", title_fontsize=8, fontsize=8)
    cdf_ax.set_ylabel("cumulative share of particles")
    cdf_ax.axhline(0.5, color="#999999", lw=0.6)
    cdf_ax.legend(fontsize=8, loc="lower right")
    for ax in (hist_ax, cdf_ax):
        ax.set_xlabel(f"equivalent circular diameter ({unit})")
    fig.suptitle(title)
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=7.5, family="monospace", va="bottom")
    fig.tight_layout(rect=(0, (0.04 + 0.2 * len(lines)) / fig.get_figheight(), 1, 1))
    with atomic(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def overlay(image: np.ndarray, labels: np.ndarray, border_ids: list[int],
            ignored: np.ndarray | None = None, doubtful: bool = False) -> np.ndarray:
    """RGB uint8 image with every particle's outline drawn on the grey image, at the image's own pixels.

    Each particle is outlined on its own, so the cuts of the watershed between touching particles
    show; particles cut by the border get their own colour. Ignored pixels (burned-in annotations,
    left out of the PSD) are tinted and outlined, so that one sees what was not measured. A doubtful
    image gets a red frame (a hundredth of its short side, at least 3 px), so that it stands out in a
    folder of thumbnails: the user looks at those first.
    """
    rgb = np.repeat((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=-1)
    if ignored is not None and ignored.any():
        tinted = (1 - IGNORED_TINT) * rgb[ignored] + IGNORED_TINT * np.array(IGNORED_COLOUR)
        rgb[ignored] = (tinted + 0.5).astype(np.uint8)
        rgb[find_boundaries(ignored, mode="inner") & ignored] = IGNORED_COLOUR
    outline = find_boundaries(labels, mode="inner")
    border = outline & np.isin(labels, border_ids)
    rgb[outline & ~border] = COUNTED_COLOUR
    rgb[border] = BORDER_COLOUR
    if doubtful:
        w = max(3, min(image.shape) // 100)
        for frame in (np.s_[:w], np.s_[-w:], np.s_[:, :w], np.s_[:, -w:]):
            rgb[frame] = DOUBTFUL_COLOUR
    return rgb


def image_stream_examples(morphology: dict[str, str], rough_masks: str | os.PathLike,
                          synthetic_masks: str | os.PathLike, gen1: str | os.PathLike,
                          gen2: str | os.PathLike | None, segmentation: str | os.PathLike,
                          n: int = 3) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The first n images of the morphology subset (the only ones with a rough mask), each with the
    n-th virtual pair: (row label, {column name: image or mask}). A generation left out by the fallback ladder
    (an empty folder), or never made (gen2 None: the CycleGAN switched off), shows as blank panels."""
    synthetic = sorted(Path(synthetic_masks).glob("*.png"))
    rows = []
    for (name, image), pair in zip(sorted(morphology.items())[:n], synthetic):
        mask = read_mask(pair)
        generated = {g: read_image(Path(folder) / pair.name) if folder and (Path(folder) / pair.name).is_file()
                     else np.full(mask.shape, np.nan) for g, folder in (("gen1", gen1), ("gen2", gen2))}
        panels = {"real image": read_image(image), "rough mask": read_mask(Path(rough_masks) / f"{name}.png"),
                  "synthetic mask": mask, **generated,
                  "segmentation": read_mask(Path(segmentation) / f"{name}.png")}
        rows.append((f"{name} / virtual {pair.stem}", panels))
    return rows


def image_stream(rows: list[tuple[str, dict[str, np.ndarray]]], path: str | os.PathLike, title: str) -> None:
    """The method's image stream side by side, one example per row (the paper's Figure 2 b–f).

    rows: (row label, {column name (IMAGE_STREAM_COLUMNS): image or mask}). The real image, its rough
    mask and its segmentation belong together; the synthetic mask, gen1 and gen2 of a row are one
    virtual pair.
    """
    plt = _pyplot()
    n_cols = len(IMAGE_STREAM_COLUMNS)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(2.4 * n_cols, 2.5 * len(rows) + 0.4), dpi=110,
                             squeeze=False)
    for i, (row_label, panels) in enumerate(rows):
        for j, name in enumerate(IMAGE_STREAM_COLUMNS):
            ax = axes[i, j]
            ax.imshow(panels[name], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=10)
            if j == 0:
                ax.set_ylabel(row_label, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


# Bar-chart panels of the evaluation: scores in [0, 1] (higher is better), and PSD errors in %.
SCORE_METRICS = ["pixel_accuracy", "mean_iou", "iou_particles", "dice", "object_precision", "object_recall",
                 "object_f1", "box_recall", "centroid_precision", "ks_statistic"]
ERROR_METRICS = ["count_error_pct", "mean_diameter_error_pct"]


def metrics_chart(table: pd.DataFrame, path: str | os.PathLike, title: str) -> None:
    """Grouped bars of the methods' scores (metrics.csv): scores on the left, PSD errors on the right.
    Metrics the ground truth does not give (pixel scores for YOLO boxes) are left out."""
    plt = _pyplot()
    wide = table.pivot(index="metric", columns="method", values="value")
    methods = list(table["method"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), dpi=120, gridspec_kw={"width_ratios": [3, 1]})
    for ax, names, label in ((axes[0], SCORE_METRICS, "score (KS: lower is better)"),
                             (axes[1], ERROR_METRICS, "error % (prediction - truth)")):
        names = [n for n in names if n in wide.index]
        x = np.arange(len(names))
        width = 0.8 / len(methods)
        for i, method in enumerate(methods):
            ax.bar(x + (i - (len(methods) - 1) / 2) * width, wide.loc[names, method].to_numpy(float), width,
                   label=method)
        ax.set_xticks(x, [n.replace("_", " ") for n in names], rotation=30, ha="right")
        ax.set_ylabel(label)
        ax.axhline(0, color="black", linewidth=0.6)
    axes[0].set_ylim(0, 1.2)
    axes[0].legend(fontsize=8, ncol=len(methods), loc="upper center")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
