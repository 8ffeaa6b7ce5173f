"""Particle-size distributions from binary masks: one row per particle, summaries, a histogram."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from skimage.measure import label, regionprops

PARTICLE_COLUMNS = ["image", "particle_id", "centroid_x_px", "centroid_y_px", "area_px",
                    "diameter_px", "major_axis_px", "minor_axis_px"]
ALL_IMAGES = "ALL"


def measure(mask: np.ndarray, image_name: str) -> pd.DataFrame:
    """One row per connected particle; diameter is the equivalent circular diameter."""
    rows = [
        {
            "image": image_name, "particle_id": r.label,
            "centroid_x_px": r.centroid[1], "centroid_y_px": r.centroid[0],
            "area_px": int(r.area), "diameter_px": r.equivalent_diameter_area,
            "major_axis_px": r.axis_major_length, "minor_axis_px": r.axis_minor_length,
        }
        for r in regionprops(label(mask, connectivity=2))
    ]
    return pd.DataFrame(rows, columns=PARTICLE_COLUMNS)


def _stats(diameters: pd.Series) -> dict[str, float]:
    return {"count": int(diameters.size), "diameter_px_mean": diameters.mean(),
            "diameter_px_median": diameters.median(), "diameter_px_std": diameters.std(ddof=1)}


def summarise(particles: pd.DataFrame, images: list[str]) -> pd.DataFrame:
    """Per-image rows (images without particles included, count 0) and one row for the stack."""
    rows = [{"image": name, **_stats(particles.loc[particles["image"] == name, "diameter_px"])} for name in images]
    rows.append({"image": ALL_IMAGES, **_stats(particles["diameter_px"])})
    return pd.DataFrame(rows)


def histogram(particles: pd.DataFrame, path: str | os.PathLike, title: str) -> None:
    """Histogram of equivalent diameters with the count and mean printed on it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = particles["diameter_px"].to_numpy()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    if d.size:
        ax.hist(d, bins=min(50, max(5, int(np.sqrt(d.size)))), color="#4477aa", edgecolor="white")
        ax.axvline(d.mean(), color="#cc3311", lw=1.5, label=f"mean {d.mean():.1f} px")
        ax.legend()
    ax.set_xlabel("equivalent circular diameter (px)")
    ax.set_ylabel("particles")
    ax.set_title(f"{title}: {d.size} particles")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
