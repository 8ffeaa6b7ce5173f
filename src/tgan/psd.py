"""Particle-size distributions from segmentation masks: particles, their measures, summaries.

A catalysis researcher compares mean diameters in nm across samples, so every length is given in
px and, when the image is calibrated, in nm (column names carry the unit; nm columns are NaN for
uncalibrated images). Touching particles are split by a distance-transform watershed; particles
cut by the image border are flagged and, by default, left out of the statistics because their
size is unknown. Burned-in scale bars and labels (the `ignore` regions import_image records) are
not particles: the mask is cleared there, and a particle that reaches into such a region is treated
like one cut by the border.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage, stats
from scipy.spatial import ConvexHull
from scipy.spatial.distance import pdist
from skimage.measure import label, regionprops
from skimage.morphology import local_maxima, reconstruction
from skimage.segmentation import watershed

from .annotations import ignore_mask
from .images import read_image, read_mask
from .options import PSDOptions

ALL_IMAGES = "ALL"
LENGTHS = ["diameter", "major_axis", "minor_axis", "feret_min", "feret_max"]
PARTICLE_COLUMNS = ["stack", "image", "particle_id", "centroid_x_px", "centroid_y_px", "pixel_size_nm",
                    "area_px2", "area_nm2",
                    *[f"{length}_{unit}" for length in LENGTHS for unit in ("px", "nm")],
                    "aspect_ratio", "circularity", "solidity", "mean_intensity", "touches_border"]
# The four corners of a pixel around its centre: Feret diameters are taken on the pixel outline, as
# ImageJ does, so that a w x h block of pixels measures exactly w and sqrt(w² + h²).
PIXEL_CORNERS = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])


def particle_labels(mask: np.ndarray, options: PSDOptions = PSDOptions()) -> np.ndarray:
    """Instance labels of a binary mask (8-connected particles), split as `options` say
    (split_touching, neck_depth_px, neck_depth_ratio).

    With split_touching, a connected blob is cut into several particles by a watershed of its
    distance transform, seeded at the maxima that stand at least the neck depth above the neck
    between them: two touching round particles meet at a narrow neck, whereas the ridge of a single
    elongated or ragged particle only ripples. The ripples grow with the particles (the outline of a
    60 px particle is wavy by a few px, and each wave would become a particle of its own), so the
    neck depth is the larger of neck_depth_px and neck_depth_ratio times the image's typical particle
    radius (`typical_radius`): the same split at every magnification. A blob too thin to hold a
    seed is kept whole.
    """
    if not options.split_touching:
        return label(mask, connectivity=2)
    distance = ndimage.distance_transform_edt(mask)
    ratio = options.neck_depth_ratio
    depth = max(options.neck_depth_px, ratio * typical_radius(mask, distance) if ratio else 0.0)
    seeds = label(local_maxima(reconstruction(distance - depth, distance, method="dilation")) & mask,
                  connectivity=2)
    labels = watershed(-distance, seeds, mask=mask, connectivity=2)
    # A blob thinner than the neck depth has no maximum that stands out (the background's plateau
    # reaches up to it), so it got no seed: it is one particle, not none.
    unseeded = label(mask & (labels == 0), connectivity=2)
    return np.where(unseeded > 0, unseeded + labels.max(), labels)


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at which half the total weight lies in items of larger values. 0 without items."""
    if len(values) == 0:
        return 0.0
    order = np.argsort(values)
    weight = np.cumsum(np.asarray(weights, float)[order])
    return float(np.asarray(values)[order][np.searchsorted(weight, weight[-1] / 2)])


def typical_radius(mask: np.ndarray, distance: np.ndarray) -> float:
    """The radius of the largest disc inside the blob that holds the median foreground pixel (the blobs'
    inscribed radii, weighted by area: the particle scale, which specks of noise, however many, do not pull
    down as they pull down a plain median). 0 for an empty mask."""
    blobs = label(mask, connectivity=2)
    n = int(blobs.max())
    if n == 0:
        return 0.0
    radii = np.asarray(ndimage.maximum(distance, blobs, np.arange(1, n + 1)))
    return weighted_median(radii, np.bincount(blobs.ravel())[1:])


def typical_diameter(regions, min_diameter_px: float) -> float:
    """The diameter-weighted median equivalent diameter of the particles of at least min_diameter_px: the
    diameter at which half the summed diameters lie in larger particles. Specks, small in diameter, hardly
    pull it down; weighted by area instead, a few large false blobs (support, 45-110 px on the STEM bench)
    pulled it up to their size and a fraction of it dropped the image's 10-px particles (Pt2: 180 -> 8).
    0 without particles."""
    diameters = np.array([r.equivalent_diameter_area for r in regions], float)
    diameters = diameters[diameters >= min_diameter_px]
    return weighted_median(diameters, diameters)


def feret_diameters(coords: np.ndarray) -> tuple[float, float]:
    """(min, max) caliper diameter of a set of pixels (row, col), on their pixel outline.

    The minimum width of a convex polygon lies across one of its edges (rotating calipers), so
    only the hull's edge directions need to be tried.
    """
    corners = (coords[:, None, :] + PIXEL_CORNERS[None]).reshape(-1, 2)
    hull = corners[ConvexHull(corners).vertices]
    edges = np.roll(hull, -1, axis=0) - hull
    normals = edges[:, ::-1] * np.array([1.0, -1.0]) / np.linalg.norm(edges, axis=1, keepdims=True)
    projections = hull @ normals.T
    return float((projections.max(axis=0) - projections.min(axis=0)).min()), float(pdist(hull).max())


def touches_border(bbox: tuple[int, int, int, int], shape: tuple[int, int]) -> bool:
    r0, c0, r1, c1 = bbox
    return r0 == 0 or c0 == 0 or r1 == shape[0] or c1 == shape[1]


def cut_zone(ignore: np.ndarray) -> np.ndarray:
    """Pixels on or next to an ignored annotation: a particle there is cut by it, like one at the border."""
    return ndimage.binary_dilation(ignore, structure=np.ones((3, 3)))


def find_particles(mask: np.ndarray, image: np.ndarray, pixel_size_nm: float | None, options: PSDOptions,
                   stack: str, image_name: str, ignore: np.ndarray | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """(instance labels, one row per particle) of one segmented image.

    Particles below the minimum size are noise: they leave the labels and the table (the minimum: the
    px one, the nm one on a calibrated image, and min_diameter_fraction of the image's typical
    diameter, which drops specks next to much larger particles). The image
    gives each particle's mean intensity (of the [0, 1] image the networks saw). ignore: pixels that
    are no part of the sample (burned-in annotations); a particle next to them is flagged as cut.
    """
    if mask.shape != image.shape:
        raise ValueError(f"{stack}/{image_name}: mask {mask.shape} and image {image.shape} differ in size")
    cut = np.zeros(mask.shape, bool)
    if ignore is not None and ignore.any():
        mask = mask & ~ignore
        cut = cut_zone(ignore)
    labels = particle_labels(mask, options)
    nm = pixel_size_nm if pixel_size_nm is not None else np.nan
    min_diameter_px = options.min_diameter_px
    if pixel_size_nm is not None:
        min_diameter_px = max(min_diameter_px, options.min_diameter_nm / pixel_size_nm)
    regions = regionprops(labels, intensity_image=image)
    if options.min_diameter_fraction > 0:
        min_diameter_px = max(min_diameter_px, options.min_diameter_fraction * typical_diameter(regions, min_diameter_px))
    rows, noise = [], []
    for r in regions:
        if r.equivalent_diameter_area < min_diameter_px:
            noise.append(r.label)
            continue
        feret_min, feret_max = feret_diameters(r.coords)
        px = {"diameter": r.equivalent_diameter_area, "major_axis": r.axis_major_length,
              "minor_axis": r.axis_minor_length, "feret_min": feret_min, "feret_max": feret_max}
        rows.append({
            "stack": stack, "image": image_name, "particle_id": r.label,
            "centroid_x_px": r.centroid[1], "centroid_y_px": r.centroid[0], "pixel_size_nm": nm,
            "area_px2": int(r.area), "area_nm2": r.area * nm ** 2,
            **{f"{k}_px": v for k, v in px.items()}, **{f"{k}_nm": v * nm for k, v in px.items()},
            "aspect_ratio": r.axis_major_length / r.axis_minor_length if r.axis_minor_length > 0 else np.nan,
            "circularity": 4 * np.pi * r.area / r.perimeter ** 2 if r.perimeter > 0 else np.nan,
            "solidity": r.solidity, "mean_intensity": r.intensity_mean,
            "touches_border": touches_border(r.bbox, mask.shape) or bool(cut[tuple(r.coords.T)].any()),
        })
    labels[np.isin(labels, noise)] = 0
    return labels, pd.DataFrame(rows, columns=PARTICLE_COLUMNS)


def measure(mask: np.ndarray, image: np.ndarray, calibration: dict, options: PSDOptions, stack: str,
            image_name: str) -> tuple[np.ndarray, pd.DataFrame]:
    """(instance labels, particle table) of one segmented image as its import record (`images.import_image`)
    says: with its pixel size, and its burned-in scale bars and labels left out. The psd and overlay rules
    and `tgan watch` all measure through here, so that they count the same particles."""
    return find_particles(mask, image, calibration["pixel_size_nm"], options, stack, image_name,
                          ignore_mask(image.shape, calibration))


def measure_image(mask_path: str | os.PathLike, image_path: str | os.PathLike, calibration_path: str | os.PathLike,
                  options: PSDOptions, stack: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, dict]:
    """(image, instance labels, particle table, calibration record) of one segmented image of a stack."""
    calibration = json.loads(Path(calibration_path).read_text())
    image = read_image(image_path)
    labels, table = measure(read_mask(mask_path), image, calibration, options, stack, Path(image_path).stem)
    return image, labels, table, calibration


def counted(particles: pd.DataFrame, exclude_border: bool) -> pd.DataFrame:
    """The particles that enter the statistics."""
    return particles[~particles["touches_border"].astype(bool)] if exclude_border else particles


def fit_lognormal(diameters: np.ndarray) -> dict[str, float]:
    """Maximum-likelihood log-normal fit (mu, sigma of ln d) and its Kolmogorov–Smirnov test.

    The KS p-value uses the fitted parameters, so it is optimistic: read it as a goodness-of-fit
    score, not a calibrated test. NaN below 3 particles.
    """
    d = np.asarray(diameters, float)
    if d.size < 3 or np.any(d <= 0):
        return {"mu": np.nan, "sigma": np.nan, "ks": np.nan, "p": np.nan}
    mu, sigma = np.log(d).mean(), np.log(d).std()
    ks = stats.kstest(d, "lognorm", args=(sigma, 0, np.exp(mu)))
    return {"mu": mu, "sigma": sigma, "ks": ks.statistic, "p": ks.pvalue}


def _diameter_stats(diameters: pd.Series, unit: str) -> dict[str, float]:
    d = diameters.dropna().to_numpy()
    if d.size != diameters.size or d.size == 0:  # uncalibrated images, or no particle
        return {f"diameter_{unit}_{k}": np.nan for k in ("mean", "std", "d10", "d50", "d90")} | \
            {f"lognormal_mu_{unit}": np.nan}
    d10, d50, d90 = np.percentile(d, [10, 50, 90])
    return {f"diameter_{unit}_mean": d.mean(), f"diameter_{unit}_std": d.std(ddof=1) if d.size > 1 else np.nan,
            f"diameter_{unit}_d10": d10, f"diameter_{unit}_d50": d50, f"diameter_{unit}_d90": d90,
            f"lognormal_mu_{unit}": fit_lognormal(d)["mu"]}


def _summary_row(particles: pd.DataFrame, fields: list[tuple[tuple[int, int], float | None]],
                 exclude_border: bool) -> dict[str, float]:
    """Statistics of the particles of some images; `fields` gives each image's (shape, pixel size nm).

    The number density counts a particle cut by the border as half a particle: it is shared with
    the neighbouring field of view, so counting it fully would overestimate the density and
    leaving it out would underestimate it.
    """
    used = counted(particles, exclude_border)
    border = int(particles["touches_border"].astype(bool).sum())
    field_px2 = sum(h * w for (h, w), _ in fields)
    sizes = [nm for _, nm in fields]
    calibrated = all(nm is not None for nm in sizes)
    field_um2 = sum(h * w * nm ** 2 for (h, w), nm in fields) * 1e-6 if calibrated else np.nan
    weight = len(particles) - 0.5 * border
    pixel_size = sizes[0] if calibrated and len(set(sizes)) == 1 else np.nan
    fit = fit_lognormal(used["diameter_px"].to_numpy())
    return {"count": len(used), "border_count": border, "pixel_size_nm": pixel_size,
            "field_px2": field_px2, "field_um2": field_um2,
            "density_per_px2": weight / field_px2, "density_per_um2": weight / field_um2,
            **_diameter_stats(used["diameter_px"], "px"), **_diameter_stats(used["diameter_nm"], "nm"),
            "lognormal_sigma": fit["sigma"], "lognormal_ks": fit["ks"], "lognormal_p": fit["p"]}


def summarise(particles: pd.DataFrame, fields: dict[str, tuple[tuple[int, int], float | None]], stack: str,
              exclude_border: bool = True) -> pd.DataFrame:
    """Per-image rows (images without particles included, count 0) and one row for the stack (ALL).

    fields: {image name: (image shape, pixel size in nm or None)}.
    """
    rows = [{"stack": stack, "image": name,
             **_summary_row(particles[particles["image"] == name], [field], exclude_border)}
            for name, field in fields.items()]
    rows.append({"stack": stack, "image": ALL_IMAGES,
                 **_summary_row(particles, list(fields.values()), exclude_border)})
    return pd.DataFrame(rows)


def with_calibration(summary: pd.DataFrame, records: dict[str, dict]) -> pd.DataFrame:
    """The summary with, per image, where its pixel size came from (`pixel_size_from`: file, config or
    none; `calibration`: which metadata) and the pixels left out as burned-in annotations; the ALL row
    gives the sources of the stack, joined by '; ' when they differ."""
    summary = summary.copy()
    for column in ("pixel_size_from", "calibration"):
        values = {name: record.get(column) or "" for name, record in records.items()}
        summary[column] = summary["image"].map(values)
        summary.loc[summary["image"] == ALL_IMAGES, column] = "; ".join(sorted(set(values.values()) - {""}))
    ignored = {name: int(ignore_mask(tuple(record["shape"]), record).sum())
               for name, record in records.items()}
    summary["ignored_px"] = summary["image"].map(ignored)
    summary.loc[summary["image"] == ALL_IMAGES, "ignored_px"] = sum(ignored.values())
    return summary
