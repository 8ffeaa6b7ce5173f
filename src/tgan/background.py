"""Particle-free backgrounds of real images, pix2pix's second input (`experimental.pix2pix.background`).

A pix2pix that sees only a mask has to invent the support around the particles; with a few hundred
CPU steps it draws it as bubbles and textured blobs, and NPsSegNet then learns a support that does not
exist. Given the real support as well, the generator only has to learn how particles look on it.

The background of a real image is a low-pass of the image with its rough-mask particles (dilated)
filled in by normalised convolution: a Gaussian of twice the median particle radius, averaging only
pixels outside the particles. A low-pass rather than the image itself, because a real image holds
particles the rough masks missed; at this scale such a particle is blurred into the support, so no
unlabelled particle is copied into the virtual dataset. gen1 draws a random crop of one of these
backgrounds for every synthetic mask (`BackgroundCrops`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import measure, morphology

from .data import pad_to

SCALE = 2.0        # Gaussian sigma in median particle radii: wide enough to blur away a missed particle
MIN_SIGMA = 2.0    # px, for masks of tiny particles (or none)
MIN_WEIGHT = 1e-3  # below this share of support pixels nearby, a pixel takes the support's mean


def median_radius(mask: np.ndarray) -> float:
    """Median equivalent-disc radius (px) of the mask's particles; 0 for an empty mask."""
    areas = [region.area for region in measure.regionprops(measure.label(mask))]
    return float(np.sqrt(np.median(areas) / np.pi)) if areas else 0.0


def particle_free(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image's support with its mask's particles removed, low-passed: H x W float32 in the image's range."""
    image = image.astype(np.float32)
    radius = median_radius(mask)
    support = ~ndimage.binary_dilation(mask.astype(bool), morphology.disk(max(1, round(radius / 2))))
    if not support.any():  # particles everywhere: nothing to take the support from
        return np.full(image.shape, float(image.mean()), np.float32)
    sigma = max(SCALE * radius, MIN_SIGMA)
    weight = support.astype(np.float32)
    total = ndimage.gaussian_filter(image * weight, sigma, mode="reflect")
    share = ndimage.gaussian_filter(weight, sigma, mode="reflect")
    fill = float(image[support].mean())
    return np.where(share > MIN_WEIGHT, total / np.maximum(share, MIN_WEIGHT), fill).astype(np.float32)


class BackgroundCrops:
    """Random crops of a stack's particle-free backgrounds, one per synthetic mask, reproducible by index.

    Crop `index` depends only on (seed, index), so gen1 image k gets the same background whatever order
    the masks are rendered in. Each crop gets one of the 8 flips/rotations of the square; backgrounds
    smaller than the crop are reflect-padded.
    """

    def __init__(self, backgrounds: list[np.ndarray], seed: int):
        if not backgrounds:
            raise ValueError("no backgrounds to crop from")
        self.backgrounds = backgrounds
        self.seed = seed

    def crop(self, index: int, shape: tuple[int, int]) -> np.ndarray:
        rng = np.random.default_rng([self.seed, index])
        height, width = shape
        side = max(height, width)
        background = pad_to(self.backgrounds[rng.integers(len(self.backgrounds))], side)
        y = rng.integers(background.shape[0] - side + 1)
        x = rng.integers(background.shape[1] - side + 1)
        square = np.rot90(background[y:y + side, x:x + side], rng.integers(4))
        if rng.integers(2):
            square = square[:, ::-1]
        return np.ascontiguousarray(square[:height, :width])
