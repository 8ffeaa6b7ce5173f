"""Synthetic EM-like images with known particles, for tests: discs on an uneven, textured support."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.draw import disk


def support(shape, rng: np.random.Generator, scale: float = 24.0) -> np.ndarray:
    """A bright, uneven, blobby support (large-scale smooth noise) with fine texture."""
    coarse = ndimage.gaussian_filter(rng.normal(size=shape), scale)
    coarse = (coarse - coarse.min()) / (np.ptp(coarse) + 1e-9)
    fine = ndimage.gaussian_filter(rng.normal(size=shape), 1.0)
    return 0.25 + 0.3 * coarse + 0.02 * fine / (fine.std() + 1e-9)


def place_discs(shape, radii, rng: np.random.Generator, gap: int = 3, tries: int = 2000):
    """Non-overlapping discs fully inside the image; returns the instance label image."""
    labels = np.zeros(shape, np.int32)
    k = 0
    for r in radii:
        for _ in range(tries):
            cy = rng.uniform(r + 1, shape[0] - r - 1)
            cx = rng.uniform(r + 1, shape[1] - r - 1)
            rr, cc = disk((cy, cx), r + gap, shape=shape)
            if not labels[rr, cc].any():
                k += 1
                rr, cc = disk((cy, cx), r, shape=shape)
                labels[rr, cc] = k
                break
    return labels


def particle_image(shape=(160, 160), radii=(5,) * 12, seed: int = 0, noise: float = 0.02,
                   contrast: float = 0.35, polarity: str = "bright"):
    """(image in [0, 1], instance labels): bright discs (HAADF) or dark discs (BF-TEM) on a support."""
    rng = np.random.default_rng(seed)
    labels = place_discs(shape, radii, rng)
    image = support(shape, rng)
    particles = ndimage.gaussian_filter((labels > 0).astype(float), 0.7)
    image = image + contrast * particles + rng.normal(0, noise, shape)
    image = np.clip(image, 0, 1).astype(np.float32)
    if polarity == "dark":
        image = 1.0 - image
    return image, labels



def touching_pairs(shape=(64, 64), radius: float = 7.0, spacing: float = 1.3, n_pairs: int = 2, seed: int = 0,
                   noise: float = 0.03):
    """(image in [0, 1], instance labels): pairs of bright particles pressed together, their centres `spacing`
    radii apart (below 2 they overlap in projection, and the mask's outline hardly narrows where they meet),
    at random orientations, the pairs apart from each other and the border. Each particle is drawn as a
    sphere's projected thickness, as HAADF shows it, the thicker one in front where two overlap: the image dips
    where two particles meet, and each pixel belongs to the particle it shows."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(float)
    thickness = np.zeros(shape)
    labels = np.zeros(shape, np.int32)
    reach = radius * (1 + spacing / 2)  # from a pair's middle to its far edge
    middles = []
    while len(middles) < n_pairs:
        cy, cx = rng.uniform(reach + 2, np.array(shape) - reach - 2)
        if any(np.hypot(cy - y, cx - x) < 2 * reach + 4 for y, x in middles):
            continue
        middles.append((cy, cx))
        angle = rng.uniform(0, np.pi)
        dy, dx = np.sin(angle) * spacing * radius / 2, np.cos(angle) * spacing * radius / 2
        for y, x in ((cy - dy, cx - dx), (cy + dy, cx + dx)):
            dome = np.sqrt(np.clip(1 - ((yy - y) ** 2 + (xx - x) ** 2) / radius ** 2, 0, None))
            labels[dome > thickness] = labels.max() + 1
            thickness = np.maximum(thickness, dome)
    image = 0.2 + 0.6 * thickness + rng.normal(0, noise, shape)
    return np.clip(image, 0, 1).astype(np.float32), labels
