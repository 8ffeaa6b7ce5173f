"""Particle-size distributions from segmentation masks: particles, their measures, summaries.

A catalysis researcher compares mean diameters in nm across samples, so every length is given in
px and, when the image is calibrated, in nm (column names carry the unit; nm columns are NaN for
uncalibrated images). One-pixel gaps inside the mask that the image shows as texture, not as gaps, are
closed first where its particles are large (`close_gaps`). Touching particles are split by a distance-transform
watershed, along the boundaries NPsSegNet predicts between them where it has that channel
(npssegnet.instances); particles cut by the image border are flagged; the counting rule (`PSDOptions.border`)
leaves them out (their size is unknown), counts them as seen, or leaves them out and weights every inner particle
by the inverse of the probability that a particle of its size lies wholly inside the field (Miles-Lantuejoul),
which undoes the bias of leaving cut particles out: a large particle is cut more often than a small one. Burned-in
scale bars and labels (the `ignore` regions import_image records) are not particles: the mask is cleared there,
and a particle that reaches into such a region is treated like one cut by the border.

Every figure of the summary comes with a 95 % bootstrap interval, so that a D50 of 40 particles does not
read like one of 4,000 (`bootstrap`).
"""

from __future__ import annotations

import json
import logging
import os
import zlib
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
from .images import read_boundary, read_image, read_mask
from .options import PSDOptions

ALL_IMAGES = "ALL"
LENGTHS = ["diameter", "major_axis", "minor_axis", "feret_min", "feret_max"]
PARTICLE_COLUMNS = ["stack", "image", "particle_id", "centroid_x_px", "centroid_y_px", "pixel_size_nm",
                    "area_px2", "area_nm2",
                    *[f"{length}_{unit}" for length in LENGTHS for unit in ("px", "nm")],
                    "aspect_ratio", "circularity", "solidity", "mean_intensity", "bbox_width_px", "bbox_height_px",
                    "touches_border", "under_resolved", "weight"]
# Below about 10 px across, a particle's outline is a handful of pixels: its diameter is uncertain by a pixel or
# more (10 % and up) and its shape measures are mostly pixel staircase. Such particles are flagged, and counted.
UNDER_RESOLVED_PX = 10.0
CONFIDENCE = 0.95  # of every interval in the summary
D50_PRECISION = 0.05  # the count sufficiency figure: particles for a D50 known to +-5 % at CONFIDENCE
# From this many images on, the stack's intervals resample whole images (`bootstrap_counts`).
MIN_IMAGES = 5
# The bootstrap draws at most this many particles at once (replicates x particles): 20,000 particles x 1,000
# replicates took 3.6 s and 280 MB (peak, the process) on 2 cores.
BOOTSTRAP_CHUNK = 2_000_000
log = logging.getLogger(__name__)
# The four corners of a pixel around its centre: Feret diameters are taken on the pixel outline, as
# ImageJ does, so that a w x h block of pixels measures exactly w and sqrt(w² + h²).
PIXEL_CORNERS = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])
# close_gaps takes the background's grey from the pixels this far from the closed mask (its outline's blur left out).
GAP_BACKGROUND_PX = 3


def particle_labels(mask: np.ndarray, options: PSDOptions = PSDOptions(),
                    boundary: np.ndarray | None = None) -> np.ndarray:
    """Instance labels of a binary mask (8-connected particles), split as `options` say
    (split_touching, neck_depth_px, neck_depth_ratio), and along the predicted `boundary` between touching
    particles when there is one.

    With split_touching, a connected blob is cut into several particles by a watershed of its
    distance transform, seeded at the maxima that stand at least the neck depth above the neck
    between them: two touching round particles meet at a narrow neck, whereas the ridge of a single
    elongated or ragged particle only ripples. The ripples grow with the particles (the outline of a
    60 px particle is wavy by a few px, and each wave would become a particle of its own), so the
    neck depth is the larger of neck_depth_px and neck_depth_ratio times the image's typical particle
    radius (`typical_radius`): the same split at every magnification. A blob too thin to hold a
    seed is kept whole.

    A predicted boundary (NPsSegNet's boundary channel) is taken out of the mask before the distance
    transform: two particles that it separates are two blobs there, each with its own seed, however little
    their outline narrows where they touch (pressed together, or overlapping in projection), and a boundary
    that only part-way cuts them still deepens the neck between their centres. The watershed then gives the
    boundary's pixels back to the particles on either side: the particles cover the mask, as without it.
    """
    if not options.split_touching:
        return label(mask, connectivity=2)
    cores = mask if boundary is None else mask & ~boundary
    distance = ndimage.distance_transform_edt(cores)
    ratio = options.neck_depth_ratio
    depth = max(options.neck_depth_px, ratio * typical_radius(cores, distance) if ratio else 0.0)
    seeds = label(local_maxima(reconstruction(distance - depth, distance, method="dilation")) & cores,
                  connectivity=2)
    labels = watershed(-distance, seeds, mask=mask, connectivity=2)
    # A blob thinner than the neck depth has no maximum that stands out (the background's plateau
    # reaches up to it), so it got no seed: it is one particle, not none.
    unseeded = label(mask & (labels == 0), connectivity=2)
    return np.where(unseeded > 0, unseeded + labels.max(), labels)


def close_gaps(mask: np.ndarray, image: np.ndarray, from_px: float) -> np.ndarray:
    """The mask with the one-pixel gaps and pinholes (those a 3 x 3 closing fills) that the image does not show as
    gaps closed, where the mask's typical particle (`typical_radius`, of the closed mask) is at least from_px across
    (0: never); else the mask as it is.

    Inside a textured particle (mesoporous silica, a crystal's fringes) NPsSegNet can draw a mesh of one-pixel lines,
    the texture mistaken for the space between small particles, and each mesh cell became a particle: on all 99
    EMPS test images five such images gave 1,327 of 1,350 extra particles (count +66 %). Between close-packed
    particles it draws the same lines where they do meet (a dense SEM or TEM raft, no neck for the watershed), so a
    gap is closed only where the image says it is texture: per blob of the closed mask, the gap pixels are on
    average no nearer the background's grey than the 90th percentile of the blob's own particle pixels (seen from
    the background: the bright pores of a dark particle). The size gate keeps gaps between particles of a few px
    (STEM: 5-15 px particles 1-2 px apart), where a pixel is a resolved gap and the image's contrast is a pixel's.
    Measured on the masks of a finished run: EMPS-99 label-free object F1 0.568 -> 0.693, count +66 % -> +13 %
    (closing every gap instead: 0.659, and a raft of 68 touching particles became one); STEM bench 0.433 -> 0.438."""
    if not from_px or not mask.any():
        return mask
    closed = ndimage.binary_closing(mask, np.ones((3, 3), bool)) | mask
    gaps = closed & ~mask
    outside = ~ndimage.binary_dilation(closed, iterations=GAP_BACKGROUND_PX)
    if (not gaps.any() or not outside.any()
            or 2 * typical_radius(closed, ndimage.distance_transform_edt(closed)) < from_px):
        return mask
    background = float(np.median(image[outside]))
    blobs = label(closed, connectivity=2)
    out = mask.copy()
    for i, box in enumerate(ndimage.find_objects(blobs), start=1):
        blob = blobs[box] == i
        gap = blob & gaps[box]
        if not gap.any():  # most blobs: nothing to close, and no median to take
            continue
        inside = image[box][blob & mask[box]]
        particle = float(np.median(inside))
        if particle == background:
            continue
        towards_background = (np.array([image[box][gap].mean(), *np.percentile(inside, [10, 90])]) - particle) \
            / (background - particle)
        if towards_background[0] <= towards_background[1:].max():
            out[box] |= gap
    return out


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


def border_weight(bbox: tuple[int, int, int, int], shape: tuple[int, int]) -> float:
    """Miles-Lantuejoul weight of a particle wholly inside the field: the inverse of the share of positions at
    which a particle of its bounding box (h x w px) lies wholly inside an H x W field. A particle on an edge
    pixel counts as cut, so the box fits at (H - h - 1)(W - w - 1) of the H W positions. Infinite (the particle
    could not have been seen whole) when the box spans the field."""
    r0, c0, r1, c1 = bbox
    inside = (shape[0] - (r1 - r0) - 1) * (shape[1] - (c1 - c0) - 1)
    return shape[0] * shape[1] / inside if inside > 0 else np.inf


def cut_zone(ignore: np.ndarray) -> np.ndarray:
    """Pixels on or next to an ignored annotation: a particle there is cut by it, like one at the border."""
    return ndimage.binary_dilation(ignore, structure=np.ones((3, 3)))


def find_particles(mask: np.ndarray, image: np.ndarray, pixel_size_nm: float | None, options: PSDOptions,
                   stack: str, image_name: str, ignore: np.ndarray | None = None,
                   boundary: np.ndarray | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """(instance labels, one row per particle) of one segmented image.

    One-pixel gaps the image does not show are closed first where the particles are large (`close_gaps`).
    Particles below the minimum size are noise: they leave the labels and the table (the minimum: the
    px one, the nm one on a calibrated image, and min_diameter_fraction of the image's typical
    diameter, which drops specks next to much larger particles). The image
    gives each particle's mean intensity (of the [0, 1] image the networks saw). ignore: pixels that
    are no part of the sample (burned-in annotations); a particle next to them is flagged as cut. boundary:
    where NPsSegNet predicts touching particles to meet (`particle_labels`), or None.
    `weight` is the particle's weight in the statistics under options.border: 0 for a cut particle (exclude,
    correct), 1, or its Miles-Lantuejoul weight (correct; `border_weight`).
    """
    if mask.shape != image.shape:
        raise ValueError(f"{stack}/{image_name}: mask {mask.shape} and image {image.shape} differ in size")
    cut = np.zeros(mask.shape, bool)
    mask = close_gaps(mask, image, options.close_gaps_from_px)
    if ignore is not None and ignore.any():
        mask = mask & ~ignore
        cut = cut_zone(ignore)
    labels = particle_labels(mask, options, boundary)
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
        cut_off = touches_border(r.bbox, mask.shape) or bool(cut[tuple(r.coords.T)].any())
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
            "bbox_width_px": r.bbox[3] - r.bbox[1], "bbox_height_px": r.bbox[2] - r.bbox[0],
            "touches_border": cut_off, "under_resolved": r.equivalent_diameter_area < UNDER_RESOLVED_PX,
            "weight": 1.0 if options.border == "include" else 0.0 if cut_off
            else border_weight(r.bbox, mask.shape) if options.border == "correct" else 1.0,
        })
    labels[np.isin(labels, noise)] = 0
    return labels, pd.DataFrame(rows, columns=PARTICLE_COLUMNS)


def measure(mask: np.ndarray, image: np.ndarray, calibration: dict, options: PSDOptions, stack: str,
            image_name: str, boundary: np.ndarray | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """(instance labels, particle table) of one segmented image as its import record (`images.import_image`)
    says: with its pixel size, and its burned-in scale bars and labels left out; touching particles split
    along the predicted `boundary` too, when there is one. The psd and overlay rules and `tgan watch` all
    measure through here, so that they count the same particles."""
    return find_particles(mask, image, calibration["pixel_size_nm"], options, stack, image_name,
                          ignore_mask(image.shape, calibration), boundary)


def measure_image(mask_path: str | os.PathLike, image_path: str | os.PathLike, calibration_path: str | os.PathLike,
                  options: PSDOptions, stack: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, dict]:
    """(image, instance labels, particle table, calibration record) of one segmented image of a stack (with the
    boundaries that segment predicted beside its mask, `images.boundary_path`, where there are any)."""
    calibration = json.loads(Path(calibration_path).read_text())
    image = read_image(image_path)
    labels, table = measure(read_mask(mask_path), image, calibration, options, stack, Path(image_path).stem,
                            read_boundary(mask_path))
    return image, labels, table, calibration


def counted(particles: pd.DataFrame, exclude_border: bool) -> pd.DataFrame:
    """The particles that enter the statistics."""
    return particles[~particles["touches_border"].astype(bool)] if exclude_border else particles


def fit_lognormal(diameters: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """Maximum-likelihood log-normal fit (mu, sigma of ln d) and its Kolmogorov–Smirnov test, of weighted
    particles when weights are given (edge correction).

    The KS p-value uses the fitted parameters, so it is optimistic: read it as a goodness-of-fit
    score, not a calibrated test; with unequal weights it takes the effective (Kish) number of particles.
    NaN below 3 particles.
    """
    d = np.asarray(diameters, float)
    w = np.ones_like(d) if weights is None else np.asarray(weights, float)
    if d.size < 3 or np.any(d <= 0):
        return {"mu": np.nan, "sigma": np.nan, "ks": np.nan, "p": np.nan}
    ln = np.log(d)
    mu = np.average(ln, weights=w)
    sigma = np.sqrt(np.average((ln - mu) ** 2, weights=w))
    order = np.argsort(d)
    cdf = stats.lognorm.cdf(d[order], sigma, 0, np.exp(mu))
    ecdf = np.cumsum(w[order]) / w.sum()
    ks = max((ecdf - cdf).max(), (cdf - (ecdf - w[order] / w.sum())).max())
    n = w.sum() ** 2 / (w ** 2).sum()
    return {"mu": mu, "sigma": sigma, "ks": ks, "p": float(stats.kstwo.sf(ks, max(int(round(n)), 1)))}


def particles_for_d50(sigma: float, precision: float = D50_PRECISION, confidence: float = CONFIDENCE) -> float:
    """Particles needed for a D50 known to +-precision (relative) at this confidence, for a log-normal
    population of this sigma: the sample median's standard error is D50 sigma sqrt(pi / 2) / sqrt(n)
    (1 / (2 f(D50) sqrt(n)) with the log-normal density f), so n = (z sigma sqrt(pi / 2) / precision)².
    It assumes independent particles: where images differ (the stack's interval is the honest one), more
    are needed."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    return float(np.ceil((z * sigma * np.sqrt(np.pi / 2) / precision) ** 2)) if np.isfinite(sigma) else np.nan


def bootstrap_counts(sizes: np.ndarray, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """(replicates, sum(sizes)) draw counts of each particle in each bootstrap replicate (particles in image
    order, sizes: particles per image).

    The particles of one image share its focus, thresholding and region of the sample, so they are not
    independent: resampling particles alone would leave the spread between images out of the intervals. From
    MIN_IMAGES images on, a replicate draws as many images as there are, with replacement, each with all its
    particles (the cluster bootstrap). Drawing particles again inside the drawn images (two-stage) counts the
    within-image noise twice: on homogeneous simulated stacks of 10 images its 95 % intervals for the mean
    covered the truth in 100 of 100 stacks of 2,000 particles. Below MIN_IMAGES images, too few for
    resampling images alone, the replicate is two-stage (conservative); with one image it is the plain
    bootstrap of its particles.
    """
    sizes = np.asarray(sizes, int)
    picks = rng.integers(0, len(sizes), (replicates, len(sizes)))
    if len(sizes) >= MIN_IMAGES:
        offsets = np.arange(replicates)[:, None] * len(sizes)
        multiplicity = np.bincount((picks + offsets).ravel(), minlength=picks.size).reshape(picks.shape)
        return np.repeat(multiplicity, sizes, axis=1)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    n = int(sizes.sum())
    per_pick = sizes[picks]
    replicate = np.repeat(np.arange(replicates), per_pick.sum(axis=1))
    image = np.repeat(picks.ravel(), per_pick.ravel())
    particle = starts[image] + (rng.random(image.size) * sizes[image]).astype(int)
    return np.bincount(replicate * n + particle, minlength=replicates * n).reshape(replicates, n)


def weighted_quantiles(counts: np.ndarray, values: np.ndarray, weights: np.ndarray,
                       quantiles: list[float]) -> np.ndarray:
    """(len(quantiles), rows) quantiles of each row's particles (values ascending), each drawn counts[row, i]
    times and weighing weights[i] per draw.

    Each draw holds its share of the row's total weight, and sits at the middle of it; between two draws
    the quantile is interpolated, below the first and above the last it is their value. With equal weights
    this is numpy.percentile's `hazen` method (its median is the usual one), and a particle that holds most
    of the weight (a large one, by volume) holds most of the quantiles. Vectorised over rows: the bootstrap's
    replicates are rows.
    """
    rows = np.arange(len(counts))
    n = values.size
    drawn = counts > 0
    mass = counts * weights
    cumulated = np.cumsum(mass, axis=1)
    start = np.where(drawn, cumulated - mass + weights / 2, np.inf)  # the middle of an item's first draw
    end = cumulated - weights / 2  # ... and of its last
    first = np.argmax(drawn, axis=1)
    # the first drawn particle after each position (n: none)
    following = np.minimum.accumulate(np.where(drawn, np.arange(n), n)[:, ::-1], axis=1)[:, ::-1]
    following = np.concatenate([following[:, 1:], np.full((len(counts), 1), n)], axis=1)
    out = []
    for q in quantiles:
        target = (q * cumulated[:, -1])[:, None]
        below = start <= target
        i = np.where(below.any(axis=1), n - 1 - np.argmax(below[:, ::-1], axis=1), first)
        j = following[rows, i]
        has_next = j < n
        j = np.where(has_next, j, i)
        gap = (weights[i] + weights[j]) / 2
        rise = np.where(has_next, np.clip((target[:, 0] - end[rows, i]) / gap, 0, 1), 0)
        out.append(values[i] + (values[j] - values[i]) * rise)
    return np.array(out)


def distribution_stats(counts: np.ndarray, values: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """The PSD figures of each row of draw counts over the particles (values: diameters; weights: their
    counting weights): number-weighted mean, std, D10, D50, D90; D50 of the area- and the volume-weighted
    distribution (weights d², d³: spheres); log-normal mu and sigma. One value per row; NaN for a row of
    fewer than 2 particles (1 for the D's and the mean)."""
    order = np.argsort(values, kind="stable")
    values, weights, counts = values[order], weights[order], counts[:, order]
    with np.errstate(invalid="ignore", divide="ignore"):
        drawn = counts.sum(axis=1)
        mass = counts * weights
        total = mass.sum(axis=1)
        mean = mass @ values / total
        var = (mass @ values ** 2 / total - mean ** 2) * drawn / (drawn - 1)
        ln = np.log(values)
        mu = mass @ ln / total
        sigma = np.sqrt(np.maximum(mass @ ln ** 2 / total - mu ** 2, 0))
        d10, d50, d90 = weighted_quantiles(counts, values, weights, [0.1, 0.5, 0.9])
        area, = weighted_quantiles(counts, values, weights * values ** 2, [0.5])
        volume, = weighted_quantiles(counts, values, weights * values ** 3, [0.5])
    return {"mean": mean, "std": np.sqrt(np.where(drawn > 1, np.maximum(var, 0), np.nan)),
            "d10": d10, "d50": d50, "d90": d90, "d50_area": area, "d50_volume": volume, "lognormal_mu": mu,
            "lognormal_sigma": np.where(drawn > 1, sigma, np.nan)}


def cluster_widening(images: int, confidence: float) -> float:
    """How much wider than the cluster bootstrap's percentile interval the stack's interval is drawn, about the
    estimate. Resampling K images, the bootstrap spreads a statistic as K image means would: by (K - 1) / K of
    its variance, and known from K - 1 degrees of freedom only; so, as a t interval of K cluster means would,
    the interval is widened by sqrt(K / (K - 1)) t(K - 1) / z: 1.22 for 10 images, 1.06 for 30, 1.58 for 5."""
    tail = 0.5 + confidence / 2
    return float(np.sqrt(images / (images - 1)) * stats.t.ppf(tail, images - 1) / stats.norm.ppf(tail))


def bootstrap_stats(sizes: np.ndarray, values: np.ndarray, weights: np.ndarray, replicates: int,
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
    """{figure: its `replicates` values}: `distribution_stats` over the bootstrap of `bootstrap_counts` (sizes:
    particles per image, values in image order), drawn in chunks of replicates (BOOTSTRAP_CHUNK)."""
    chunk = max(1, BOOTSTRAP_CHUNK // max(values.size, 1))
    samples: dict[str, list[np.ndarray]] = {}
    for start in range(0, replicates, chunk):
        stats_ = distribution_stats(bootstrap_counts(sizes, min(chunk, replicates - start), rng), values, weights)
        for key, value in stats_.items():
            samples.setdefault(key, []).append(value)
    return {key: np.concatenate(v) for key, v in samples.items()}


def widening(images: int) -> float:
    """How much wider than its bootstrap's percentile interval a figure of this many images is drawn, about the
    estimate: `cluster_widening` from MIN_IMAGES images on (where images are the resampled unit), else 1."""
    return cluster_widening(images, CONFIDENCE) if images >= MIN_IMAGES else 1.0


def intervals(sizes: np.ndarray, values: np.ndarray, weights: np.ndarray, replicates: int,
              rng: np.random.Generator, point: dict[str, float]) -> dict[str, tuple[float, float]]:
    """{figure: (lo, hi)}: the 95 % percentile intervals of `distribution_stats` (point: its values on the
    data) over the bootstrap of `bootstrap_counts` (`bootstrap_stats`), widened by `widening`.

    Percentile rather than BCa: D10/D50/D90 are quantiles, for which the jackknife that BCa takes its
    acceleration from is inconsistent, and with images as the resampled unit a jackknife would leave out
    whole images of a stack of ten; the percentile interval is transformation-respecting (the same in d
    and ln d) and stays inside the range of the data. The coverage it reaches is measured (tests and
    bench/psd_coverage.py).
    """
    tail = 50 * (1 - CONFIDENCE)
    widen = widening(len(sizes))
    out = {}
    for key, v in bootstrap_stats(sizes, values, weights, replicates, rng).items():
        lo, hi = np.nanpercentile(v, [tail, 100 - tail]) if np.isfinite(v).any() else (np.nan, np.nan)
        out[key] = (point[key] - widen * (point[key] - lo), point[key] + widen * (hi - point[key]))
    return out


def _diameter_stats(used: pd.DataFrame, unit: str, replicates: int, rng: np.random.Generator) -> dict[str, float]:
    """The figures of one unit's diameters with their intervals; NaN for uncalibrated images (nm) or no particle."""
    d = used[f"diameter_{unit}"].to_numpy(float)
    names = ["mean", "std", "d10", "d50", "d90", "d50_area", "d50_volume", "lognormal_mu"]
    column = {k: f"diameter_{unit}_{k}" for k in names} | {"lognormal_mu": f"lognormal_mu_{unit}"}
    if d.size == 0 or not np.isfinite(d).all():
        return {f"{column[k]}{end}": np.nan for k in names for end in ("", "_lo", "_hi")} | \
            ({f"lognormal_sigma{end}": np.nan for end in ("", "_lo", "_hi")} if unit == "px" else {})
    w = used["weight"].to_numpy(float)
    point = {k: float(v[0]) for k, v in distribution_stats(np.ones((1, d.size), int), d, w).items()}
    sizes = used.groupby("image", sort=False).size().to_numpy()
    ci = intervals(sizes, d, w, replicates, rng, point)
    row = {}
    for k in names:
        row |= {column[k]: point[k], f"{column[k]}_lo": ci[k][0], f"{column[k]}_hi": ci[k][1]}
    if unit == "px":  # sigma has no unit (it is that of ln d)
        row |= {"lognormal_sigma": point["lognormal_sigma"], "lognormal_sigma_lo": ci["lognormal_sigma"][0],
                "lognormal_sigma_hi": ci["lognormal_sigma"][1]}
    return row


def _summary_row(particles: pd.DataFrame, fields: list[tuple[tuple[int, int], float | None]], replicates: int,
                 rng: np.random.Generator) -> dict[str, float]:
    """Statistics of the particles of some images; `fields` gives each image's (shape, pixel size nm).

    The particles count with their `weight` (the counting rule of find_particles). The number density
    counts a particle cut by the border as half a particle: it is shared with the neighbouring field of
    view, so counting it fully would overestimate the density and leaving it out would underestimate it.
    """
    used = particles[particles["weight"] > 0].sort_values("image", kind="stable")
    border = int(particles["touches_border"].astype(bool).sum())
    field_px2 = sum(h * w for (h, w), _ in fields)
    sizes = [nm for _, nm in fields]
    calibrated = all(nm is not None for nm in sizes)
    field_um2 = sum(h * w * nm ** 2 for (h, w), nm in fields) * 1e-6 if calibrated else np.nan
    weight = len(particles) - 0.5 * border
    pixel_size = sizes[0] if calibrated and len(set(sizes)) == 1 else np.nan
    px = _diameter_stats(used, "px", replicates, rng)
    fit = fit_lognormal(used["diameter_px"].to_numpy(), used["weight"].to_numpy())
    return {"count": len(used), "count_needed_d50": particles_for_d50(px["lognormal_sigma"]),
            "border_count": border, "under_resolved_count": int(used["under_resolved"].astype(bool).sum()),
            "pixel_size_nm": pixel_size, "field_px2": field_px2, "field_um2": field_um2,
            "density_per_px2": weight / field_px2, "density_per_um2": weight / field_um2,
            **px, **_diameter_stats(used, "nm", replicates, rng), "lognormal_ks": fit["ks"], "lognormal_p": fit["p"]}


def _rng(seed: int, image: str) -> np.random.Generator:
    """A generator of the image's (or the stack row's) own: its intervals do not move when images are added."""
    return np.random.default_rng([seed, zlib.crc32(image.encode())])


def summarise(particles: pd.DataFrame, fields: dict[str, tuple[tuple[int, int], float | None]], stack: str,
              replicates: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per-image rows (images without particles included, count 0) and one row for the stack (ALL), each
    figure with its bootstrap interval (`_lo`, `_hi`; `replicates` resamples, seeded).

    fields: {image name: (image shape, pixel size in nm or None)}. The stack row resamples images too
    (`bootstrap_counts`), so its intervals include the spread between images.
    """
    rows = [{"stack": stack, "image": name,
             **_summary_row(particles[particles["image"] == name], [field], replicates, _rng(seed, name))}
            for name, field in fields.items()]
    rows.append({"stack": stack, "image": ALL_IMAGES,
                 **_summary_row(particles, list(fields.values()), replicates, _rng(seed, ALL_IMAGES))})
    return pd.DataFrame(rows)


def log_sufficiency(stack: str, row: pd.Series) -> str:
    """Log (a warning when too few) and return one line on whether the stack row counted enough particles
    for a D50 known to +-5 % at 95 % confidence (`particles_for_d50`)."""
    need, count = row["count_needed_d50"], int(row["count"])
    if not np.isfinite(need):
        line = f"{stack}: {count} particles counted: too few for a D50 interval"
        log.warning(line)
        return line
    unit = "nm" if np.isfinite(row["diameter_nm_d50"]) else "px"
    d50, lo, hi = (row[f"diameter_{unit}_d50{end}"] for end in ("", "_lo", "_hi"))
    line = (f"{stack}: {count} particles counted; D50 {d50:.3g} {unit}, 95 % interval [{lo:.3g}, {hi:.3g}]; a D50 to "
            f"+-{D50_PRECISION:.0%} at {CONFIDENCE:.0%} confidence needs {need:.0f} for this spread (log-normal "
            f"sigma {row['lognormal_sigma']:.2f})")
    if count < need:
        line = f"too few particles: {line}"
        log.warning(line)
    elif (hi - lo) / 2 > D50_PRECISION * d50:
        line += (f"; the interval is wider than +-{D50_PRECISION:.0%} all the same: the images differ more than "
                 "their particles do (more images narrow it, not more particles per image), or the sizes are far "
                 "from log-normal; quote the interval")
        log.warning(line)
    else:
        log.info(line)
    return line


def histogram_band(particles: pd.DataFrame, unit: str, edges: np.ndarray, replicates: int,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) per histogram bin: the 95 % interval of each bin's (weighted) count under the stack's two-stage
    bootstrap, each replicate scaled to the observed total, so that the band shows how sure the shape is."""
    used = particles.sort_values("image", kind="stable")
    d, w = used[f"diameter_{unit}"].to_numpy(float), used["weight"].to_numpy(float)
    sizes = used.groupby("image", sort=False).size().to_numpy()
    bins = np.clip(np.searchsorted(edges, d, side="right") - 1, 0, len(edges) - 2)
    member = np.zeros((d.size, len(edges) - 1))
    member[np.arange(d.size), bins] = w
    rng = _rng(seed, ALL_IMAGES)
    chunk = max(1, BOOTSTRAP_CHUNK // max(d.size, 1))
    heights = []
    for start in range(0, replicates, chunk):
        counts = bootstrap_counts(sizes, min(chunk, replicates - start), rng)
        per_bin = counts @ member
        heights.append(per_bin * (w.sum() / per_bin.sum(axis=1, keepdims=True)))
    tail = 50 * (1 - CONFIDENCE)
    lo, hi = np.percentile(np.concatenate(heights), [tail, 100 - tail], axis=0)
    return lo, hi


def with_calibration(summary: pd.DataFrame, records: dict[str, dict]) -> pd.DataFrame:
    """The summary with, per image, where its pixel size came from (`pixel_size_from`: config, file, scale_bar
    or none; `calibration`: which metadata or bar; `scale_bar_check`: the warning when metadata and bar
    disagree), where its crop came from (`crop_from`: an information bar cut off
    as `detected` is a guess of the workflow's that the user should see) and the pixels left out as burned-in
    annotations; the ALL row gives the sources of the stack, joined by '; ' when they differ."""
    summary = summary.copy()
    for column in ("pixel_size_from", "calibration", "scale_bar_check", "crop_from"):
        values = {name: record.get(column) or "" for name, record in records.items()}
        summary[column] = summary["image"].map(values)
        summary.loc[summary["image"] == ALL_IMAGES, column] = "; ".join(sorted(set(values.values()) - {""}))
    ignored = {name: int(ignore_mask(tuple(record["shape"]), record).sum())
               for name, record in records.items()}
    summary["ignored_px"] = summary["image"].map(ignored)
    summary.loc[summary["image"] == ALL_IMAGES, "ignored_px"] = sum(ignored.values())
    return summary
