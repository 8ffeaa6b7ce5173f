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
