import numpy as np
import pandas as pd
import pytest
from tgan.psd import ALL_IMAGES, histogram, measure, summarise


def discs(radii, shape=(300, 300)):
    """Discs of known radii: pixels whose centre lies within r of the disc centre."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    mask = np.zeros(shape, bool)
    x = 20
    for r in radii:
        mask |= (yy - 150) ** 2 + (xx - x - r) ** 2 <= r ** 2
        x += 2 * r + 6
    return mask


def test_diameters_and_count_of_known_discs():
    radii = [5, 10, 15, 20, 25]
    table = measure(discs(radii), "a")
    assert len(table) == len(radii)
    got = np.sort(table["diameter_px"].to_numpy())
    assert np.allclose(got, 2 * np.array(radii), rtol=0.02)
    row = table.sort_values("diameter_px").iloc[-1]
    assert row["major_axis_px"] == pytest.approx(50, rel=0.03)
    assert row["centroid_y_px"] == pytest.approx(150, abs=0.5)


def test_empty_mask_gives_no_rows_but_columns():
    table = measure(np.zeros((10, 10), bool), "empty")
    assert len(table) == 0 and "diameter_px" in table.columns


def test_summary_per_image_and_stack():
    particles = pd.concat([measure(discs([5, 10]), "a"), measure(discs([20]), "b"),
                           measure(np.zeros((10, 10), bool), "c")])
    summary = summarise(particles, ["a", "b", "c"]).set_index("image")
    assert summary.loc["a", "count"] == 2 and summary.loc["b", "count"] == 1 and summary.loc["c", "count"] == 0
    assert summary.loc[ALL_IMAGES, "count"] == 3
    assert summary.loc[ALL_IMAGES, "diameter_px_mean"] == pytest.approx((10 + 20 + 40) / 3, rel=0.02)
    assert summary.loc["a", "diameter_px_median"] == pytest.approx(15, rel=0.02)


def test_histogram_is_written(tmp_path):
    histogram(measure(discs([5, 10, 15]), "a"), tmp_path / "h.png", "demo")
    assert (tmp_path / "h.png").stat().st_size > 5000
