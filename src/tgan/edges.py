"""Rough-mask outlines moved to the particles' outer edge (rough_masks.edge_level).

A threshold segmenter puts a particle's outline where the image crosses one global level: about
half-way up the edge ramp, and further in on an uneven support. Annotators, and a PSD, take the
particle to its outer edge. On the bench the classical rough masks missed a band 2-5 px wide inside
every true EMPS outline (9 % of the particle pixels, against 1 % in wholly missed particles) and
gave STEM diameters 19 % below the boxes'. The label-free chain learns its outlines from the rough
masks (pix2pix pairs, the synthetic masks' sizes, the pseudo-labels), so the bias reaches the PSD.

`refine_edges` redraws each particle at `level` of its own contrast: level 0.25 puts the outline
where the intensity has fallen three quarters of the way from the particle's median to the median
of a ring of support around it. Each particle of the rough mask (split as the PSD splits it) is
redrawn inside its own Voronoi cell, no further than 30 % of its radius from the rough outline, and
one pixel between two particles stays background, so that redrawing never merges particles. Only a hole
that one particle encloses is filled: the support that a ring of touching particles encloses stays
support (filled, it joined the ring into one disc that the PSD could no longer split).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .options import PSDOptions
from .psd import particle_labels

REACH = 0.3  # how far (in particle radii) an outline may move; a blur ramp is a few px
RING = 0.5  # width of the support ring (in particle radii, at least 2 px) beyond the reach


def refine_edges(image: np.ndarray, mask: np.ndarray, polarity: str, level: float) -> np.ndarray:
    """The mask with each particle's outline at `level` (0-1) of its local contrast; level 0: unchanged.

    image: 2-D float image in [0, 1]; polarity 'bright' or 'dark' (dark particles: the image is
    inverted). The rough mask's particles are split as the PSD splits them with its default settings
    (`psd.particle_labels`): the rough masks are step 2 of the chain, so a psd setting, which only
    re-measures, must not redo them and retrain every network after them. A particle that is not brighter than its ring, or that has no ring (it
    fills the image), keeps its rough outline.
    """
    mask = np.asarray(mask, bool)
    if level <= 0 or not mask.any():
        return mask
    bright = np.asarray(image, np.float32) if polarity == "bright" else 1.0 - np.asarray(image, np.float32)
    smooth = ndi.gaussian_filter(bright, 1.0)  # pixel noise would make outlines ragged
    labels = particle_labels(mask)
    index = np.arange(1, int(labels.max()) + 1)
    radius = np.sqrt(np.bincount(labels.ravel()) / np.pi)
    distance, nearest_pixel = ndi.distance_transform_edt(~mask, return_indices=True)
    cell = labels[tuple(nearest_pixel)]  # the particle each pixel is closest to (its Voronoi cell)
    reach = np.maximum(1.5, REACH * radius)
    ring = (distance > reach[cell]) & (distance <= (reach + np.maximum(2.0, RING * radius))[cell])
    inside = np.zeros_like(radius)
    inside[1:] = ndi.median(smooth, labels, index)
    support = np.full_like(radius, np.nan)
    support[1:] = ndi.median(smooth, np.where(ring, cell, 0), index)
    contrast = np.isfinite(support) & (inside > support)
    threshold = np.where(contrast, support + level * (inside - support), np.inf)
    redrawn = (distance <= reach[cell]) & (smooth > threshold[cell])
    redrawn |= mask & ~contrast[labels]
    # one pixel of support between two particles (the one of the higher label gives it up), also where
    # the mask joined them and only the PSD's watershed split them: a grown outline fills the neck
    # between touching particles, and the watershed would no longer split them
    grown = np.where(redrawn, cell, 0)
    others = np.where(grown > 0, grown, labels.max() + 1)
    redrawn &= ~((grown > 0) & (ndi.minimum_filter(others, size=3) < grown))
    pieces, _ = ndi.label(redrawn)
    kept = np.unique(pieces[redrawn & mask])  # a piece that holds none of the rough mask is not a particle
    redrawn = np.isin(pieces, kept[kept > 0])
    return redrawn | _holes_of_one_particle(redrawn, np.where(redrawn, cell, 0))


def _holes_of_one_particle(mask: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """The holes of `mask` that one particle (label in `cells`) encloses alone: a dim core is part of its
    particle, the gap that a ring of touching particles encloses is support."""
    holes, n = ndi.label(ndi.binary_fill_holes(mask) & ~mask)
    if n == 0:
        return holes > 0
    rim = np.where(mask, ndi.grey_dilation(holes, size=3), 0)  # particle pixels next to each hole
    index = np.arange(1, n + 1)
    one = np.zeros(n + 1, bool)
    one[1:] = np.asarray(ndi.minimum(cells, rim, index)) == np.asarray(ndi.maximum(cells, rim, index))
    return one[holes]
