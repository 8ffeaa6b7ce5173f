"""Step 4: random masks whose particle statistics are fitted to the rough masks.

The rough masks only need to be right about size, shape and spacing; this module measures those
and draws new masks from them, so the virtual dataset has as many masks as we like with the
morphology of the real stack. Nothing is hand-set: sizes, aspect ratios and orientations are
resampled from the measured particles with a kernel density (Scott's bandwidth), the number of
particles from the measured densities, and touching is allowed as often as the rough masks show it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage
from skimage.draw import ellipse
from skimage.measure import label, regionprops
from skimage.morphology import local_maxima, reconstruction

MAX_PLACEMENT_TRIES = 50  # tries to place a particle before giving up on it (a crowded mask)


@dataclass
class ParticleStatistics:
    """Particle shapes (one row per particle: diameter px, aspect ratio, orientation rad), number
    densities (particles per px², one per mask) and the fraction of particles that touch another."""

    shapes: list[list[float]]
    densities: list[float]
    touching_fraction: float

    def summary(self) -> dict:
        d = np.array(self.shapes)[:, 0]
        return {
            "particles": len(d), "diameter_px_median": float(np.median(d)),
            "lognormal_mu": float(np.log(d).mean()), "lognormal_sigma": float(np.log(d).std()),
            "aspect_ratio_median": float(np.median(np.array(self.shapes)[:, 1])),
            "density_per_px2_mean": float(np.mean(self.densities)),
            "touching_fraction": self.touching_fraction,
        }

    def to_dict(self) -> dict:
        return {**asdict(self), "summary": self.summary()}

    @classmethod
    def from_dict(cls, values: dict) -> "ParticleStatistics":
        return cls(values["shapes"], values["densities"], values["touching_fraction"])


def _merged_components(mask: np.ndarray, labels: np.ndarray) -> int:
    """Components holding more than one particle: more than one maximum of the distance transform
    that stands at least one pixel above the saddle between them (a neck between touching particles;
    the ridge of one elongated particle only ripples by less than a pixel)."""
    distance = ndimage.distance_transform_edt(mask)
    peaks = label(local_maxima(reconstruction(distance - 1.0, distance, method="dilation")) & mask)
    owner = ndimage.maximum(labels, peaks, index=np.arange(1, peaks.max() + 1))
    per_component = np.bincount(np.asarray(owner, int), minlength=labels.max() + 1)[1:]
    return int((per_component > 1).sum())


def _touches_border(region, shape) -> bool:
    r0, c0, r1, c1 = region.bbox
    return r0 == 0 or c0 == 0 or r1 == shape[0] or c1 == shape[1]


def measure_particles(masks: list[np.ndarray]) -> ParticleStatistics:
    """Measure the particles of binary masks; particles cut by the border count for density only."""
    shapes, densities, merged, components = [], [], 0, 0
    for mask in masks:
        labels = label(mask)
        regions = regionprops(labels)
        densities.append(len(regions) / mask.size)
        for region in regions:
            if _touches_border(region, mask.shape):
                continue
            major = max(region.axis_major_length, 1.0)
            minor = max(region.axis_minor_length, 1.0)
            shapes.append([region.equivalent_diameter_area, major / minor, region.orientation])
        if regions:
            merged += _merged_components(mask, labels)
            components += len(regions)
    if len(shapes) < 3:
        raise ValueError(f"the rough masks hold {len(shapes)} whole particle(s): at least 3 are needed to fit "
                         "the particle statistics (check the rough masks, or the rough_masks method/polarity)")
    return ParticleStatistics(shapes, densities, merged / components if components else 0.0)


def _sample_shapes(stats: ParticleStatistics, n: int, rng: np.random.Generator) -> np.ndarray:
    """Kernel-density sample of (log diameter, log aspect, orientation) with Scott's bandwidth."""
    data = np.array(stats.shapes, dtype=np.float64)
    data = np.column_stack([np.log(data[:, 0]), np.log(data[:, 1]), data[:, 2]])
    bandwidth = data.std(axis=0) * len(data) ** (-1.0 / (data.shape[1] + 4))
    picks = data[rng.integers(0, len(data), n)] + rng.normal(size=(n, 3)) * bandwidth
    diameters = np.maximum(np.exp(picks[:, 0]), 1.0)
    aspects = np.maximum(np.exp(picks[:, 1]), 1.0)
    orientations = (picks[:, 2] + np.pi / 2) % np.pi - np.pi / 2
    return np.column_stack([diameters, aspects, orientations])


def synthesize_instances(stats: ParticleStatistics, size: int, rng: np.random.Generator) -> np.ndarray:
    """One random size x size mask drawn from the statistics, as instance labels (uint16; 0 background, k the
    k-th particle placed, a later particle drawn over an earlier one where they overlap); the binary mask is
    labels > 0. The labels are kept because the drawing knows, for free, where two touching particles meet:
    NPsSegNet's boundary channel (npssegnet.instances) learns that line from them."""
    density = stats.densities[rng.integers(0, len(stats.densities))]
    count = rng.poisson(density * size * size)
    labels = np.zeros((size, size), np.uint16)
    placed = 0
    for diameter, aspect, orientation in _sample_shapes(stats, count, rng):
        # equivalent diameter d = sqrt(major * minor); aspect = major / minor
        major, minor = diameter * np.sqrt(aspect), diameter / np.sqrt(aspect)
        may_touch = rng.random() < stats.touching_fraction
        for _ in range(MAX_PLACEMENT_TRIES):
            r, c = rng.uniform(0, size, 2)
            rr, cc = ellipse(r, c, major / 2, minor / 2, shape=labels.shape, rotation=orientation)
            if may_touch or not _near(labels, rr, cc):
                if placed == np.iinfo(labels.dtype).max:
                    raise ValueError(f"a {size} px synthetic mask would hold more than {placed} particles")
                placed += 1
                labels[rr, cc] = placed
                break
    return labels


def _near(labels: np.ndarray, rr: np.ndarray, cc: np.ndarray) -> bool:
    """Whether a new particle would overlap or touch (8-neighbourhood) an existing one of the labels."""
    if len(rr) == 0:
        return False
    r0, r1 = max(rr.min() - 1, 0), min(rr.max() + 2, labels.shape[0])
    c0, c1 = max(cc.min() - 1, 0), min(cc.max() + 2, labels.shape[1])
    window = np.zeros((r1 - r0, c1 - c0), bool)
    window[rr - r0, cc - c0] = True
    return bool((ndimage.binary_dilation(window, np.ones((3, 3), bool)) & (labels[r0:r1, c0:c1] > 0)).any())
