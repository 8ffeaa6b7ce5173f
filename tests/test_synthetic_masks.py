import numpy as np
import pytest
from scipy import ndimage
from skimage.draw import ellipse
from skimage.measure import label, regionprops

from tgan.synthetic_masks import ParticleStatistics, measure_particles, synthesize_instances


def ellipse_masks(n_masks=4, size=200, major=16, minor=8, orientation=0.6, seed=0):
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(n_masks):
        m = np.zeros((size, size), bool)
        for cy in range(20, size - 19, 40):  # 5 x 5 particles on a 200 px mask
            for cx in range(20, size - 19, 40):
                rr, cc = ellipse(cy + rng.uniform(-3, 3), cx + rng.uniform(-3, 3), major / 2, minor / 2,
                                 shape=m.shape, rotation=orientation + rng.normal(0, 0.05))
                m[rr, cc] = True
        masks.append(m)
    return masks


def test_measure_known_ellipses():
    stats = measure_particles(ellipse_masks())
    shapes = np.array(stats.shapes)
    assert len(shapes) == 4 * 25
    assert np.median(shapes[:, 0]) == pytest.approx(np.sqrt(16 * 8), rel=0.1)
    assert np.median(shapes[:, 1]) == pytest.approx(2.0, rel=0.15)
    assert np.median(shapes[:, 2]) == pytest.approx(0.6, abs=0.1)
    assert stats.densities[0] == pytest.approx(25 / 200 ** 2)
    assert stats.touching_fraction == 0.0


def test_synthetic_masks_reproduce_the_statistics():
    stats = measure_particles(ellipse_masks())
    rng = np.random.default_rng(1)
    masks = [synthesize_instances(stats, 256, rng) > 0 for _ in range(6)]
    synth = measure_particles(masks)
    s, t = np.array(synth.shapes), np.array(stats.shapes)
    assert np.median(s[:, 0]) == pytest.approx(np.median(t[:, 0]), rel=0.15)
    assert np.median(s[:, 1]) == pytest.approx(np.median(t[:, 1]), rel=0.2)
    assert np.median(s[:, 2]) == pytest.approx(0.6, abs=0.15)
    counts = [label(m).max() for m in masks]
    assert np.mean(counts) == pytest.approx(25 / 200 ** 2 * 256 ** 2, rel=0.25)


def test_particles_do_not_touch_unless_rough_masks_show_it():
    stats = ParticleStatistics([[10.0, 1.0, 0.0]] * 5, [200 / 128 ** 2], touching_fraction=0.0)
    mask = synthesize_instances(stats, 128, np.random.default_rng(0)) > 0
    regions = regionprops(label(mask, connectivity=2))
    assert len(regions) > 30
    assert all(r.solidity > 0.85 for r in regions)  # no merged pairs


def test_touching_particles_keep_their_own_labels():
    """Drawn touching, 12 px particles merge into larger blobs of the binary mask, but each keeps its label: the
    labels measure the drawn size, and the blobs hold several labels."""
    stats = ParticleStatistics([[12.0, 1.0, 0.0]] * 5, [60 / 128 ** 2], touching_fraction=1.0)
    labels = synthesize_instances(stats, 128, np.random.default_rng(3))
    assert labels.dtype == np.uint16
    blobs = label(labels > 0, connectivity=2)
    per_blob = [len(np.unique(labels[blobs == b])) for b in range(1, blobs.max() + 1)]
    assert sum(n > 1 for n in per_blob) >= 5  # blobs of touching particles

    def median_diameter(regions):
        return np.median([r.equivalent_diameter_area for r in regions
                          if min(r.bbox[:2]) > 0 and max(r.bbox[2:]) < 128])

    assert median_diameter(regionprops(labels.astype(int))) == pytest.approx(12, rel=0.1)
    merged = [r for r in regionprops(blobs) if per_blob[r.label - 1] > 1]
    assert median_diameter(merged) > 14


def test_touching_particles_are_detected():
    m = np.zeros((100, 100), bool)
    for cx in (30, 45, 80):  # two discs overlapping, one apart
        rr, cc = ellipse(50, cx, 8, 8, shape=m.shape)
        m[rr, cc] = True
    m2 = np.zeros((100, 100), bool)
    for cx, cy in ((20, 20), (60, 60), (20, 70)):
        rr, cc = ellipse(cy, cx, 8, 8, shape=m.shape)
        m2[rr, cc] = True
    stats = measure_particles([m, m2])
    assert stats.touching_fraction == pytest.approx(1 / 5)


def test_too_few_particles_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 3"):
        measure_particles([np.zeros((50, 50), bool)])


def test_statistics_roundtrip():
    stats = measure_particles(ellipse_masks(n_masks=1))
    again = ParticleStatistics.from_dict(stats.to_dict())
    assert again == stats and stats.to_dict()["summary"]["particles"] == 25
