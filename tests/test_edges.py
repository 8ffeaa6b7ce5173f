import numpy as np
import pytest
import torch
from scipy import ndimage as ndi
from skimage.measure import label

from tgan import edges
from tgan.edges import refine_edges
from tgan.options import PSDOptions
from tgan.psd import particle_labels
from tgan.rough_masks import make_segmenter


def disc(shape, centre, radius):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2


def blurred(particles, sigma=2.0, noise=0.01, seed=0):
    """Bright particles (0.8) on a support (0.2), blurred like a real edge, with pixel noise."""
    image = ndi.gaussian_filter(0.2 + 0.6 * particles.astype(np.float32), sigma)
    return np.clip(image + np.random.default_rng(seed).normal(0, noise, image.shape), 0, 1).astype(np.float32)


def radius(mask):
    return float(np.sqrt(mask.sum() / np.pi))


SHAPE = (96, 96)
TRUE = disc(SHAPE, (48, 48), 12)


@pytest.mark.parametrize("rough_radius", [10, 14])
def test_outline_moves_to_the_outer_edge_from_either_side(rough_radius):
    # the blurred step of radius 12 (sigma 2) falls to a quarter of its contrast at about 12 + 0.67 sigma
    image = blurred(TRUE)
    out = refine_edges(image, disc(SHAPE, (48, 48), rough_radius), "bright", 0.25)
    assert 12.5 <= radius(out) <= 14.0
    half = refine_edges(image, disc(SHAPE, (48, 48), rough_radius), "bright", 0.5)
    assert abs(radius(half) - 12) <= 0.7


def test_dark_particles_are_redrawn_like_bright_ones():
    image = blurred(TRUE)
    rough = disc(SHAPE, (48, 48), 10)
    assert (refine_edges(1 - image, rough, "dark", 0.25) == refine_edges(image, rough, "bright", 0.25)).all()


def test_redrawing_never_merges_two_particles():
    # two discs 1 px apart: after the blur the gap is brighter than a quarter of the contrast, and
    # within both particles' reach
    pair = disc(SHAPE, (48, 30), 10) | disc(SHAPE, (48, 51), 10)
    image = blurred(pair)
    rough = disc(SHAPE, (48, 30), 9) | disc(SHAPE, (48, 51), 9)
    out = refine_edges(image, rough, "bright", 0.25)
    assert ndi.label(out, structure=np.ones((3, 3)))[1] == 2
    assert out.sum() > rough.sum() * 1.1  # both grew


def test_a_particle_without_contrast_and_level_zero_keep_the_rough_outline():
    rough = disc(SHAPE, (48, 48), 10)
    flat = np.full(SHAPE, 0.5, np.float32)
    assert (refine_edges(flat, rough, "bright", 0.25) == rough).all()
    assert (refine_edges(blurred(TRUE), rough, "bright", 0.0) == rough).all()


def test_a_speck_outside_the_rough_mask_is_not_added():
    speck = disc(SHAPE, (15, 15), 3)
    image = blurred(TRUE | speck)
    out = refine_edges(image, disc(SHAPE, (48, 48), 10), "bright", 0.25)
    assert not out[10:20, 10:20].any()


def test_make_segmenter_applies_the_edge_level():
    image = blurred(TRUE, noise=0.0)
    plain = make_segmenter({"method": "classical", "edge_level": 0.0}, "bright", torch.device("cpu"))(image)
    moved = make_segmenter({"method": "classical", "edge_level": 0.25}, "bright", torch.device("cpu"))(image)
    assert plain.any()
    assert (moved == refine_edges(image, plain, "bright", 0.25)).all()
    assert moved.sum() > plain.sum()


def test_particles_are_split_as_the_psd_splits_them(monkeypatch):
    """A bright and a dim particle touching at a neck: split as the PSD splits them, each is redrawn at its
    own contrast; taken as one particle (8-connected labels, no split) they get one threshold, which
    cuts into the dim one and lets the bright one spread."""
    left, right = disc(SHAPE, (48, 34), 12), disc(SHAPE, (48, 58), 12)
    yy, xx = np.mgrid[:SHAPE[0], :SHAPE[1]]
    image = ndi.gaussian_filter(np.where(left, 0.9, np.where(right, 0.45, 0.1)), 2.0).astype(np.float32)
    rough = left | right
    split = refine_edges(image, rough, "bright", 0.25)
    monkeypatch.setattr(edges, "particle_labels", lambda mask: label(mask, connectivity=2))
    whole = refine_edges(image, rough, "bright", 0.25)
    assert (whole & (xx >= 47)).sum() < (split & (xx >= 47)).sum() - 10  # the dim particle shrinks
    assert (whole & (xx < 46)).sum() > (split & (xx < 46)).sum() + 40  # the bright one grows


def test_the_gap_enclosed_by_a_ring_of_touching_particles_stays_support():
    """Six touching discs around a gap, one region of the rough mask that the PSD splits into six: the gap
    is support and the six stay six (filled as a hole of the joined mask, the ring became one disc);
    the dim core of one particle (a hole in its rough mask) is part of it."""
    angles = np.arange(6) * np.pi / 3
    centres = [(48 + 20 * np.sin(a), 48 + 20 * np.cos(a)) for a in angles]
    image = blurred(np.any([disc(SHAPE, c, 12) for c in centres], axis=0))
    rough = np.any([disc(SHAPE, c, 11) for c in centres], axis=0)
    assert ndi.label(rough)[1] == 1 and particle_labels(rough, PSDOptions()).max() == 6
    out = refine_edges(image, rough, "bright", 0.25)
    assert not out[44:53, 44:53].any()
    assert particle_labels(out, PSDOptions()).max() == 6
    cored = TRUE & ~disc(SHAPE, (48, 48), 4)
    assert refine_edges(blurred(TRUE), cored, "bright", 0.25)[46:51, 46:51].all()

