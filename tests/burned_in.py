"""Synthetic EM images with what instruments and figure exports burn into them: an information bar at
the bottom, a scale bar with its label inside the image."""

from __future__ import annotations

import numpy as np

from synthetic import particle_image

# Blocky glyphs ("5", "0", "n", "m") drawn as 0/1 arrays, 2-px strokes, 10 px high.
GLYPHS = [np.array(g, bool).repeat(2, axis=0).repeat(2, axis=1) for g in (
    [[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 1], [1, 1, 1, 1]],
    [[1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]],
    [[0, 0, 0, 0], [1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 0, 1], [1, 0, 0, 1]],
    [[0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 1, 0, 1], [1, 0, 1, 0, 1], [1, 0, 1, 0, 1]],
)]


def write_text(image: np.ndarray, top: int, left: int, value: float) -> np.ndarray:
    """Draw "50 nm" with its top-left corner at (top, left); returns the mask of the glyphs' pixels."""
    text = np.zeros(image.shape, bool)
    for glyph in GLYPHS:
        h, w = glyph.shape
        text[top:top + h, left:left + w] |= glyph
        left += w + 3
    image[text] = value
    return text


def with_data_bar(shape=(192, 192), rows: int = 24, seed: int = 0):
    """(image, particle labels, bar rows): particles above a black information bar with white text."""
    image, labels = particle_image((shape[0] - rows, shape[1]), radii=(6,) * 12, seed=seed)
    bar = np.zeros((rows, shape[1]), np.float32)
    write_text(bar, 7, 10, 1.0)
    write_text(bar, 7, 100, 1.0)
    return np.vstack([image, bar]), np.vstack([labels, np.zeros((rows, shape[1]), labels.dtype)]), rows


def with_scale_bar(shape=(192, 192), seed: int = 0):
    """(image, particle labels, annotation mask): particles, and a white scale bar with its label "50 nm"
    at the bottom right, clear of the particles."""
    image, labels = particle_image(shape, radii=(6,) * 10, seed=seed)
    h, w = shape
    keep = np.ones(shape, bool)
    keep[h - 40:, w - 80:] = False  # no particle under the annotation
    labels = np.where(np.isin(labels, np.unique(labels[~keep])), 0, labels)
    image = image.copy()
    annotation = write_text(image, h - 32, w - 70, 1.0)
    image[h - 14:h - 9, w - 75:w - 15] = 1.0
    annotation[h - 14:h - 9, w - 75:w - 15] = True
    return image, labels, annotation
