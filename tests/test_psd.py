import json

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage, stats
from skimage.draw import disk
from skimage.measure import regionprops
from burned_in import with_data_bar, with_scale_bar
from synthetic import touching_pairs
from tgan.annotations import ignore_mask
from tgan.figures import BORDER_COLOUR, COUNTED_COLOUR, DOUBTFUL_COLOUR, IGNORED_COLOUR, histogram, overlay
from tgan.images import boundary_path, import_image, write_image, write_mask
from tgan.npssegnet import instance_boundary
from tgan.options import PSDOptions, from_dict
from tgan.psd import (ALL_IMAGES, border_weight, counted, distribution_stats, feret_diameters, find_particles,
                      fit_lognormal, histogram_band, intervals, log_sufficiency, measure_image, particles_for_d50,
                      summarise, typical_radius, weighted_quantiles, with_calibration)

SHAPE = (300, 400)


def draw_discs(discs, shape=SHAPE):
    """Binary mask of discs (centre row, centre col, radius): pixels whose centre lies within r."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    mask = np.zeros(shape, bool)
    for cy, cx, r in discs:
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
    return mask


# Isolated discs, and touching pairs (centres 2r apart: the discs share the pixel where they touch).
ISOLATED = [(40, 40, 5), (40, 100, 8), (60, 180, 12), (80, 300, 20)]
TOUCHING = [(180, 50, 10), (180, 70, 10), (200, 150, 15), (200, 180, 15), (240, 280, 8), (240, 300, 12)]


def particles(mask, pixel_size_nm=None, **options):
    image = np.where(mask, 0.8, 0.2)
    return find_particles(mask, image, pixel_size_nm, PSDOptions(**options), "s", "a")


def test_known_discs_give_their_diameters_and_count_touching_pairs_split():
    discs = ISOLATED + TOUCHING
    labels, table = particles(draw_discs(discs), pixel_size_nm=0.5)
    assert len(table) == len(discs)
    assert labels.max() == len(discs) and len(np.unique(labels)) == len(discs) + 1
    # match each disc to the particle whose centroid is nearest its centre
    for cy, cx, r in discs:
        row = table.loc[np.hypot(table["centroid_y_px"] - cy, table["centroid_x_px"] - cx).idxmin()]
        assert row["diameter_px"] == pytest.approx(2 * r, rel=0.02)
        assert row["diameter_nm"] == pytest.approx(r, rel=0.02)  # 0.5 nm per pixel
        assert row["area_nm2"] == pytest.approx(row["area_px2"] * 0.25)
    assert not table["touches_border"].any()
    assert table["mean_intensity"].to_numpy() == pytest.approx(0.8)


def test_without_watershed_touching_pairs_stay_merged():
    _, table = particles(draw_discs(ISOLATED + TOUCHING), split_touching=False)
    assert len(table) == len(ISOLATED) + len(TOUCHING) // 2


def test_elongated_particle_is_not_split():
    yy, xx = np.mgrid[:SHAPE[0], :SHAPE[1]]
    ellipse = ((yy - 150) / 8.0) ** 2 + ((xx - 200) / 40.0) ** 2 <= 1
    _, table = particles(ellipse)
    assert len(table) == 1
    assert table.loc[0, "aspect_ratio"] == pytest.approx(5, rel=0.03)
    assert table.loc[0, "major_axis_px"] == pytest.approx(80, rel=0.03)


def ragged_particle_and_touching_pair(scale):
    """An 80 px particle with six lobes on its outline, and two touching 80 px discs, drawn `scale` times
    as large."""
    ragged = draw_discs([(140 * scale, 230 * scale, 40 * scale)] + [
        ((140 + 44 * np.sin(a)) * scale, (230 + 44 * np.cos(a)) * scale, 10 * scale)
        for a in np.linspace(0, 2 * np.pi, 6, endpoint=False)], (int(200 * scale), int(320 * scale)))
    pair = draw_discs([(60 * scale, 60 * scale, 40 * scale), (60 * scale, 130 * scale, 40 * scale)],
                      ragged.shape)
    return ragged, pair


def test_one_pixel_gaps_close_where_the_image_shows_texture_and_stay_where_it_shows_a_gap():
    # A 4 x 4 raft of 39 x 49 px particles drawn with one-pixel lines between them. Where the image shows the lines
    # (background grey: touching particles) they are 16 particles; where it does not (the lines at the particles' grey, as
    # NPsSegNet draws a textured particle as a mesh) the raft is one particle. Noise on both.
    raft = np.zeros(SHAPE, bool)
    raft[51:210, 51:250] = True
    raft[90:210:40] = raft[:, 100:250:50] = False
    noise = np.random.default_rng(0).normal(0, 0.05, SHAPE)
    shown = np.where(raft, 0.8, 0.2) + noise
    texture = np.where(ndimage.binary_closing(raft, np.ones((3, 3))) | raft, 0.8, 0.2) + noise
    options = PSDOptions(min_diameter_px=0)
    assert len(find_particles(raft, shown, None, options, "s", "a")[1]) == 16
    assert len(find_particles(raft, texture, None, options, "s", "a")[1]) == 1
    off = PSDOptions(min_diameter_px=0, close_gaps_from_px=0)
    assert len(find_particles(raft, texture, None, off, "s", "a")[1]) == 16
    # Small particles: a one-pixel gap is resolved, whatever the image shows there.
    small = draw_discs([(50, 50 + 11 * i, 5) for i in range(6)])  # 11-px discs, a 1-px gap between neighbours
    smooth = np.where(ndimage.binary_closing(small, np.ones((3, 3))) | small, 0.8, 0.2)
    assert len(find_particles(small, smooth, None, PSDOptions(), "s", "a")[1]) == 6


def test_neck_depth_ratio_splits_the_same_at_every_magnification():
    """With a fixed 1 px neck depth a large ragged particle falls apart into its lobes, while its 4x smaller
    copy stays whole; a neck depth in proportion to the particle radius keeps both whole and still splits
    the touching pair at both sizes."""
    for scale, fixed_count in ((1.0, 7), (0.25, 1)):
        ragged, pair = ragged_particle_and_touching_pair(scale)
        assert len(particles(ragged, neck_depth_ratio=0.0)[1]) == fixed_count
        assert len(particles(ragged, neck_depth_ratio=0.2)[1]) == 1
        assert len(particles(pair, neck_depth_ratio=0.2)[1]) == 2
    assert typical_radius(np.zeros((5, 5), bool), np.zeros((5, 5))) == 0.0


def test_predicted_boundaries_split_what_the_distance_watershed_cannot():
    """Pairs of 20 px particles that overlap in projection (centres one radius apart): the mask's outline hardly
    narrows where they meet, so the distance watershed keeps every pair whole; the boundary between them (of
    their true instances, as NPsSegNet's boundary channel learns it) splits each pair into its two particles,
    of their true sizes, and the particles still cover the mask."""
    image, truth = touching_pairs((160, 160), radius=10, spacing=1.0, n_pairs=4, seed=2)
    mask = truth > 0
    options = PSDOptions()
    assert len(find_particles(mask, image, None, options, "s", "a")[1]) == 4
    labels, table = find_particles(mask, image, None, options, "s", "a", boundary=instance_boundary(truth))
    assert len(table) == 8 and np.array_equal(labels > 0, mask)
    true_diameters = sorted(r.equivalent_diameter_area for r in regionprops(truth))
    assert sorted(table["diameter_px"]) == pytest.approx(true_diameters, rel=0.02)


def test_the_psd_reads_the_boundaries_beside_the_mask(tmp_path):
    """measure_image (psd, overlay) splits along segmentation/boundaries/NAME.png when segment wrote one."""
    image, truth = touching_pairs((96, 96), radius=10, spacing=1.1, n_pairs=2, seed=3)
    write_image(tmp_path / "a.png", image)
    write_mask(tmp_path / "mask" / "a.png", truth > 0)
    (tmp_path / "a.json").write_text(json.dumps({"pixel_size_nm": None}))
    counts = [len(measure_image(tmp_path / "mask" / "a.png", tmp_path / "a.png", tmp_path / "a.json", PSDOptions(),
                                "s")[2])]
    write_mask(boundary_path(tmp_path / "mask" / "a.png"), instance_boundary(truth))
    counts.append(len(measure_image(tmp_path / "mask" / "a.png", tmp_path / "a.png", tmp_path / "a.json",
                                    PSDOptions(), "s")[2]))
    assert counts == [2, 4]


def test_particles_thinner_than_the_neck_depth_are_kept_whole():
    """Beside 40 px particles the neck depth is 6 px: a 4 px particle and a 3 px wide rod cannot hold a
    seed of the watershed, yet each is one particle, measured, and not lost from the PSD."""
    mask = draw_discs([(80, 80, 40), (80, 250, 40), (220, 80, 4)])
    mask[200:203, 200:260] = True
    labels, table = particles(mask, neck_depth_ratio=0.15)
    assert len(table) == 4
    assert np.array_equal(labels > 0, mask)
    small = table.loc[np.hypot(table["centroid_y_px"] - 220, table["centroid_x_px"] - 80).idxmin()]
    assert small["diameter_px"] == pytest.approx(8, rel=0.1)
    rod = table.loc[np.hypot(table["centroid_y_px"] - 201, table["centroid_x_px"] - 229.5).idxmin()]
    assert rod["area_px2"] == 180


def test_typical_radius_is_that_of_the_blob_holding_most_of_the_area():
    mask = draw_discs([(150, 200, 30)] + [(20, 20 + 12 * i, 2) for i in range(30)])  # one particle, 30 specks
    distance = ndimage.distance_transform_edt(mask)
    assert typical_radius(mask, distance) == pytest.approx(30, abs=1)


def test_feret_diameters_of_a_block_are_exact():
    block = np.argwhere(np.ones((10, 30), bool))
    feret_min, feret_max = feret_diameters(block)
    assert feret_min == pytest.approx(10)
    assert feret_max == pytest.approx(np.hypot(10, 30))


def test_shape_measures_of_a_disc():
    _, table = particles(draw_discs([(150, 200, 25)]))
    row = table.iloc[0]
    assert row["feret_min_px"] == pytest.approx(51, abs=1.5) and row["feret_max_px"] == pytest.approx(51, abs=1.5)
    assert row["circularity"] == pytest.approx(1, abs=0.1) and row["solidity"] > 0.95
    assert row["aspect_ratio"] == pytest.approx(1, abs=0.02)


def test_uncalibrated_image_has_px_but_no_nm():
    _, table = particles(draw_discs(ISOLATED))
    assert table["diameter_px"].notna().all() and table["diameter_nm"].isna().all()
    summary = summarise(table, {"a": (SHAPE, None)}, "s").set_index("image")
    assert summary.loc["a", "diameter_px_mean"] > 0 and np.isnan(summary.loc["a", "diameter_nm_mean"])
    assert np.isnan(summary.loc["a", "density_per_um2"])
    assert summary.loc["a", "density_per_px2"] == pytest.approx(len(ISOLATED) / (SHAPE[0] * SHAPE[1]))


def test_minimum_size_in_px_and_nm():
    mask = draw_discs([(50, 50, 2), (50, 100, 4), (50, 200, 10)])  # diameters 4.1, 7.9, 20 px
    assert len(particles(mask, min_diameter_px=3)[1]) == 3
    assert len(particles(mask, min_diameter_px=6)[1]) == 2
    # calibrated: 0.5 nm per pixel, so 5 nm removes the 8 px (4 nm) disc as well
    labels, table = particles(mask, pixel_size_nm=0.5, min_diameter_nm=5)
    assert table["diameter_nm"].to_numpy() == pytest.approx([10], rel=0.02)
    assert labels.max() > 0 and len(np.unique(labels)) == 2  # dropped particles leave the labels too
    # the nm minimum means nothing without a calibration
    assert len(particles(mask, min_diameter_nm=5)[1]) == 3


def test_minimum_as_a_fraction_of_the_typical_diameter_drops_specks_next_to_large_particles():
    """Four discs of 40 px and twelve specks of 5 px: the typical (area-weighted median) diameter is that of
    the large discs however many specks there are, so a fifth of it (8 px) drops the specks; an image of
    specks alone keeps them (they are its typical particles)."""
    large = [(60, 60 + 70 * i, 20) for i in range(4)]
    specks = [(150 + 15 * (i // 6), 30 + 40 * (i % 6), 2.3) for i in range(12)]
    assert len(particles(draw_discs(large + specks))[1]) == 16
    _, table = particles(draw_discs(large + specks), min_diameter_fraction=0.2)
    assert len(table) == 4 and (table["diameter_px"] > 30).all()
    assert len(particles(draw_discs(specks), min_diameter_fraction=0.2)[1]) == 12


def test_a_few_large_blobs_do_not_set_the_typical_diameter():
    """Three 80-px blobs (false support, as on the STEM bench) hold three quarters of the particle area
    beside forty 12-px particles: weighted by area the typical diameter would be 80 px and a fifth of it
    (16 px) would drop every real particle; weighted by diameter it stays that of the many particles."""
    blobs = [(50, 60 + 140 * i, 40) for i in range(3)]
    small = [(130 + 30 * (i // 10), 30 + 30 * (i % 10), 6) for i in range(40)]
    _, table = particles(draw_discs(blobs + small), min_diameter_fraction=0.2)
    assert len(table) == 43
    assert (table["diameter_px"] < 15).sum() == 40


def test_border_particles_are_flagged_and_left_out_of_the_statistics():
    discs = [(150, 200, 10), (150, 300, 20), (0, 50, 10), (150, 395, 12)]  # the last two are cut by the border
    _, table = particles(draw_discs(discs), pixel_size_nm=2.0)
    assert sorted(table["touches_border"]) == [False, False, True, True]
    fields = {"a": (SHAPE, 2.0)}
    summary = summarise(table, fields, "s").set_index("image")
    assert summary.loc["a", "count"] == 2 and summary.loc["a", "border_count"] == 2
    assert summary.loc["a", "diameter_nm_mean"] == pytest.approx((40 + 80) / 2, rel=0.02)
    # density: border particles count half; the field is 300 x 400 px of 2 nm = 0.48 µm²
    assert summary.loc["a", "density_per_um2"] == pytest.approx(3 / 0.48)
    _, seen = particles(draw_discs(discs), pixel_size_nm=2.0, border="include")
    kept = summarise(seen, fields, "s").set_index("image")
    assert kept.loc["a", "count"] == 4
    assert len(counted(table, True)) == 2 and len(counted(table, False)) == 4


def test_summary_per_image_and_stack():
    a = particles(draw_discs([(50, 50, 5), (50, 100, 10)]), pixel_size_nm=1.0)[1]
    b = particles(draw_discs([(100, 100, 20)]), pixel_size_nm=1.0)[1].assign(image="b")
    c = particles(np.zeros(SHAPE, bool), pixel_size_nm=1.0)[1].assign(image="c")
    table = pd.concat([a, b, c], ignore_index=True)
    summary = summarise(table, {"a": (SHAPE, 1.0), "b": (SHAPE, 1.0), "c": (SHAPE, 1.0)}, "s").set_index("image")
    assert summary.loc["a", "count"] == 2 and summary.loc["b", "count"] == 1 and summary.loc["c", "count"] == 0
    assert summary.loc[ALL_IMAGES, "count"] == 3
    assert summary.loc[ALL_IMAGES, "diameter_nm_mean"] == pytest.approx((10 + 20 + 40) / 3, rel=0.02)
    assert summary.loc[ALL_IMAGES, "diameter_nm_d50"] == pytest.approx(20, rel=0.02)
    assert summary.loc["a", "diameter_px_d50"] == pytest.approx(15, rel=0.02)
    assert summary.loc[ALL_IMAGES, "field_um2"] == pytest.approx(3 * SHAPE[0] * SHAPE[1] * 1e-6)
    assert summary.loc[ALL_IMAGES, "pixel_size_nm"] == 1.0
    assert (summary["stack"] == "s").all()


def test_stack_with_an_uncalibrated_image_has_no_nm_statistics():
    a = particles(draw_discs([(50, 50, 5), (50, 100, 10), (50, 200, 12)]), pixel_size_nm=1.0)[1]
    b = particles(draw_discs([(100, 100, 20)]))[1].assign(image="b")
    summary = summarise(pd.concat([a, b]), {"a": (SHAPE, 1.0), "b": (SHAPE, None)}, "s").set_index("image")
    assert summary.loc["a", "diameter_nm_mean"] > 0
    assert np.isnan(summary.loc[ALL_IMAGES, "diameter_nm_mean"]) and summary.loc[ALL_IMAGES, "diameter_px_mean"] > 0


def test_lognormal_fit_recovers_known_parameters():
    rng = np.random.default_rng(1)
    d = rng.lognormal(mean=1.3, sigma=0.25, size=4000)
    fit = fit_lognormal(d)
    assert fit["mu"] == pytest.approx(1.3, abs=0.02) and fit["sigma"] == pytest.approx(0.25, abs=0.01)
    assert fit["ks"] < 0.03 and fit["p"] > 0.01
    # a clearly non-log-normal sample fits worse
    bimodal = np.concatenate([rng.normal(2, 0.1, 2000), rng.normal(6, 0.1, 2000)])
    assert fit_lognormal(bimodal)["ks"] > 0.2
    assert np.isnan(fit_lognormal(d[:2])["mu"])


def test_lognormal_mu_follows_the_unit():
    rng = np.random.default_rng(2)
    radii = np.clip(rng.lognormal(np.log(6), 0.2, 12), 3, 12)
    discs = [(30 + 60 * (i // 6), 30 + 60 * (i % 6), r) for i, r in enumerate(radii)]
    _, table = particles(draw_discs(discs, (150, 380)), pixel_size_nm=0.25)
    row = summarise(table, {"a": ((150, 380), 0.25)}, "s").iloc[0]
    assert row["lognormal_mu_nm"] == pytest.approx(row["lognormal_mu_px"] + np.log(0.25))
    assert row["lognormal_mu_px"] == pytest.approx(np.log(table["diameter_px"]).mean())


def test_overlay_outlines_counted_and_border_particles_in_their_colours():
    mask = draw_discs([(150, 200, 10), (0, 50, 10)])
    image = np.where(mask, 0.8, 0.2)
    labels, table = find_particles(mask, image, None, PSDOptions(), "s", "a")
    rgb = overlay(image, labels, table.loc[table["touches_border"], "particle_id"].tolist())
    assert rgb.shape == (*SHAPE, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[150, 190]) == COUNTED_COLOUR  # left edge of the inner disc
    assert tuple(rgb[10, 50]) == BORDER_COLOUR  # bottom edge of the disc cut by the top border
    assert tuple(rgb[150, 200]) == (204, 204, 204)  # inside: the image itself
    assert tuple(rgb[100, 100]) == (51, 51, 51)
    assert tuple(rgb[0, 100]) == (51, 51, 51) and tuple(rgb[-1, -1]) == (51, 51, 51)
    framed = overlay(image, labels, table.loc[table["touches_border"], "particle_id"].tolist(), doubtful=True)
    w = max(3, min(SHAPE) // 100)
    for y, x in [(0, 100), (w - 1, 100), (-1, -1), (100, w - 1), (100, -w)]:
        assert tuple(framed[y, x]) == DOUBTFUL_COLOUR
    assert tuple(framed[w, 100]) == (51, 51, 51) and np.array_equal(framed[w:-w, w:-w], rgb[w:-w, w:-w])


def imported(tmp_path, image, crop=None):
    """import_image's outputs for a burned-in image: (image path, calibration path, imported image, record)."""
    write_image(tmp_path / "source.png", image)
    image, record = import_image(tmp_path / "source.png", 0, crop, None)
    write_image(tmp_path / "a.png", image)
    (tmp_path / "a.json").write_text(json.dumps(record))
    return tmp_path / "a.png", tmp_path / "a.json", image, record


def segmented(tmp_path, labels, image):
    """A segmentation that, like every segmenter, takes the white annotation for particles too."""
    write_mask(tmp_path / "mask.png", (labels > 0) | (image >= 0.99))
    return tmp_path / "mask.png"


def test_scale_bar_and_label_are_not_counted_and_the_overlay_shows_them(tmp_path):
    image, labels, annotation = with_scale_bar()
    image_path, calibration, image, record = imported(tmp_path, image)
    mask = segmented(tmp_path, labels, image)
    image, found, table, _ = measure_image(mask, image_path, calibration, PSDOptions(), "s")
    ignored = ignore_mask(image.shape, record)
    assert ignored[annotation].all() and not found[ignored].any()
    used = counted(table, exclude_border=True)
    assert len(used) == len(np.unique(labels)) - 1  # the particles, and nothing of the annotation
    without = find_particles(np.asarray(labels > 0) | (image >= 0.99), image, None, PSDOptions(), "s", "a")[1]
    assert len(counted(without, True)) > len(used)  # the test would see the annotation counted
    rgb = overlay(image, found, [], ignored)
    top, left = record["ignore"][0]["top"], record["ignore"][0]["left"]
    assert tuple(rgb[top, left + 5]) == IGNORED_COLOUR  # the region's outline
    inside = rgb[ignored & ~annotation]
    assert (inside[:, 0] > inside[:, 1]).all()  # tinted
    summary = with_calibration(summarise(table, {"a": (image.shape, None)}, "s"), {"a": record})
    assert summary["ignored_px"].tolist() == [int(ignored.sum())] * 2
    # the bar (60 px) and its blocky "50 nm" are read: the image is calibrated by them
    assert summary["pixel_size_from"].tolist() == ["scale_bar", "scale_bar"]
    assert summary["calibration"].str.startswith("scale bar '50 nm' over 60.").all()
    assert summary["scale_bar_check"].tolist() == ["", ""]
    assert summary["crop_from"].tolist() == ["none", "none"]  # a scale bar is ignored, not cut off


def test_detected_data_bar_is_cut_off_leaves_no_particle_and_the_summary_says_so(tmp_path):
    image, labels, rows = with_data_bar()
    image_path, calibration, image, record = imported(tmp_path, image)  # no crop set
    assert image.shape == (192 - rows, 192) and record["ignore"] == []
    assert (record["crop"], record["crop_from"], record["bar_rows"]) == ({"bottom": rows}, "detected", rows)
    mask = segmented(tmp_path, labels[:-rows], image)
    _, _, table, _ = measure_image(mask, image_path, calibration, PSDOptions(), "s")
    assert len(counted(table, True)) == len(np.unique(labels)) - 1
    summary = with_calibration(summarise(table, {"a": (image.shape, None)}, "s", 100), {"a": record})
    assert summary["crop_from"].tolist() == ["detected", "detected"]


def test_particle_reaching_into_an_ignored_region_is_flagged_as_cut():
    mask = draw_discs([(50, 50, 8), (150, 200, 8)])
    ignore = np.zeros(SHAPE, bool)
    ignore[40:60, 55:90] = True  # covers the right part of the first disc
    _, table = find_particles(mask, np.where(mask, 0.8, 0.2), None, PSDOptions(), "s", "a", ignore)
    assert len(table) == 2
    assert table.sort_values("centroid_x_px")["touches_border"].tolist() == [True, False]


# --- counting rules, weighted distributions, and the bootstrap intervals of the summary ---

def diameters_table(diameters, images=None, pixel_size_nm=1.0):
    """A particle table of given diameters (px), as find_particles would give it for uncut particles."""
    d = np.asarray(diameters, float)
    return pd.DataFrame({"image": images if images is not None else ["a"] * d.size, "diameter_px": d,
                         "diameter_nm": d * pixel_size_nm, "weight": 1.0, "touches_border": False,
                         "under_resolved": d < 10})


def test_weighted_quantiles_are_numpys_hazen_percentile_for_equal_weights_and_repeated_draws():
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 200):
        d = np.sort(rng.lognormal(2, 0.5, n))
        got = weighted_quantiles(np.ones((1, n), int), d, np.ones(n), [0.0, 0.1, 0.5, 0.9, 1.0])[:, 0]
        assert got == pytest.approx(np.percentile(d, [0, 10, 50, 90, 100], method="hazen"))
        draws = rng.integers(0, 4, (6, n))
        draws[:, 0] += 1  # no empty row
        got = weighted_quantiles(draws, d, np.ones(n), [0.1, 0.5, 0.9])
        for row, counts in enumerate(draws):
            assert got[:, row] == pytest.approx(np.percentile(np.repeat(d, counts), [10, 50, 90], method="hazen"))


def test_weighted_ks_is_scipys_for_equal_weights():
    d = np.random.default_rng(4).lognormal(1, 0.3, 300)
    fit = fit_lognormal(d)
    ks = stats.kstest(d, "lognorm", args=(fit["sigma"], 0, np.exp(fit["mu"])))
    assert fit["ks"] == pytest.approx(ks.statistic) and fit["p"] == pytest.approx(ks.pvalue)


def test_area_and_volume_weighted_d50():
    """500 particles of 10 px and three of 100 px: by number and by area (500 x 100 against 3 x 10,000) the
    D50 is 10 px, by volume (500 x 1,000 against 3 x 1,000,000) it is the large particles' 100 px."""
    row = summarise(diameters_table([10.0] * 500 + [100.0] * 3), {"a": (SHAPE, 1.0)}, "s", 200).iloc[0]
    assert row["diameter_nm_d50"] == pytest.approx(10)
    assert row["diameter_nm_d50_area"] == pytest.approx(10)
    assert row["diameter_nm_d50_volume"] == pytest.approx(100)


def test_summary_intervals_hold_the_estimate_narrow_with_the_count_and_repeat_with_the_seed():
    rng = np.random.default_rng(5)
    few, many = rng.lognormal(np.log(20), 0.3, 40), rng.lognormal(np.log(20), 0.3, 4000)
    rows = {n: summarise(diameters_table(d), {"a": (SHAPE, 1.0)}, "s", 1000, seed=1).iloc[0]
            for n, d in (("few", few), ("many", many))}
    names = ["diameter_nm_mean", "diameter_nm_std", "diameter_nm_d10", "diameter_nm_d50", "diameter_nm_d90",
             "diameter_nm_d50_area", "diameter_nm_d50_volume", "lognormal_mu_nm", "lognormal_sigma",
             "diameter_px_d50", "lognormal_mu_px"]
    for row in rows.values():
        for name in names:
            assert row[f"{name}_lo"] < row[name] < row[f"{name}_hi"], name
    width = {n: (r["diameter_nm_d50_hi"] - r["diameter_nm_d50_lo"]) / r["diameter_nm_d50"] for n, r in rows.items()}
    # 100x the particles: a tenth of the width (the theory for sigma 0.3 at 95 %: +-11.7 % and +-1.2 %)
    assert width["few"] / 2 == pytest.approx(0.117, rel=0.35) and width["many"] / 2 == pytest.approx(0.0117, rel=0.2)
    again = summarise(diameters_table(few), {"a": (SHAPE, 1.0)}, "s", 1000, seed=1).iloc[0]
    other = summarise(diameters_table(few), {"a": (SHAPE, 1.0)}, "s", 1000, seed=2).iloc[0]
    assert again.equals(rows["few"]) and other["diameter_nm_d50_lo"] != rows["few"]["diameter_nm_d50_lo"]


def test_count_sufficiency_follows_the_spread_and_is_logged(caplog):
    # n = (1.96 sigma sqrt(pi/2) / 0.05)^2: 217.2 for sigma 0.3, 4x that for twice the spread (rounded up)
    assert particles_for_d50(0.3) == 218 and particles_for_d50(0.6) == 869
    rng = np.random.default_rng(6)
    summary = summarise(diameters_table(rng.lognormal(np.log(20), 0.3, 100)), {"a": (SHAPE, 1.0)}, "s", 200)
    row = summary.set_index("image").loc[ALL_IMAGES]
    assert row["count_needed_d50"] == particles_for_d50(row["lognormal_sigma"])
    assert 150 < row["count_needed_d50"] < 300 and row["count"] == 100
    with caplog.at_level("INFO"):
        assert log_sufficiency("s", row).startswith("too few particles: s: 100 particles counted")
    assert caplog.records[-1].levelname == "WARNING"
    many = summarise(diameters_table(rng.lognormal(np.log(20), 0.3, 1000)), {"a": (SHAPE, 1.0)}, "s", 200)
    assert log_sufficiency("s", many.iloc[-1]).startswith("s: 1000 particles counted")


def simulated_stack(rng, particles, images, tau, sigma=0.4, d50=20.0):
    """Particle table of a stack from a log-normal population; each image's ln d shifted by N(0, tau)."""
    per = particles // images
    shift = np.repeat(rng.normal(0, tau, images), per)
    d = np.exp(np.log(d50) + shift + rng.normal(0, sigma, per * images))
    return d, np.repeat(np.arange(images), per)


def coverage(particles, images, tau, stacks, resamples, as_one_image=False, seed=0):
    """Shares of simulated stacks whose 95 % intervals hold the population's D50 and mean."""
    rng = np.random.default_rng(seed)
    spread = np.hypot(0.4, tau)
    truth = {"d50": 20.0, "mean": 20.0 * np.exp(spread ** 2 / 2)}
    hits = {k: 0 for k in truth}
    for _ in range(stacks):
        d, _ = simulated_stack(rng, particles, images, tau)
        sizes = np.array([particles]) if as_one_image else np.full(images, particles // images)
        point = {k: float(v[0]) for k, v in distribution_stats(np.ones((1, d.size), int), d, np.ones_like(d)).items()}
        ci = intervals(sizes, d, np.ones_like(d), resamples, rng, point)
        for k in truth:
            hits[k] += ci[k][0] <= truth[k] <= ci[k][1]
    return {k: v / stacks for k, v in hits.items()}


def test_intervals_cover_the_truth_at_50_particles():
    """300 simulated stacks of 50 particles (one image; ten images): the 95 % intervals of the D50 and the mean
    hold the population's values in at least 90 % of them (bench/psd_coverage.py: 500 stacks, 50 and 2,000)."""
    for images in (1, 10):
        got = coverage(50, images, 0.0, stacks=300, resamples=400)
        assert 0.90 <= got["d50"] <= 0.99 and 0.90 <= got["mean"] <= 0.99, (images, got)


def test_stack_intervals_carry_the_spread_between_images():
    """Ten images that differ (each image's ln d shifted by sd 0.15, beside 0.4 within images), 50 particles
    each: resampling images covers the population's D50 in ~95 % of 200 stacks; treating the 500 particles as
    independent (one image) gives intervals too narrow, which cover far less often."""
    stack = coverage(500, 10, 0.15, stacks=200, resamples=400, seed=1)
    naive = coverage(500, 10, 0.15, stacks=200, resamples=400, seed=1, as_one_image=True)
    assert stack["d50"] >= 0.90 and stack["mean"] >= 0.90
    assert naive["d50"] < 0.80 and naive["mean"] < 0.80


def test_border_weight_is_the_inverse_share_of_positions_where_the_box_fits():
    # a 20 x 40 px box (rows 10-30, cols 20-60) in a 100 x 200 field fits, off the edge pixels, at 79 x 159 places
    assert border_weight((10, 20, 30, 60), (100, 200)) == pytest.approx(100 * 200 / (79 * 159))
    assert border_weight((1, 1, 2, 2), (100, 200)) == pytest.approx(100 * 200 / (98 * 198))


def random_field(rng, shape, radii):
    """Discs of the given radii, centres uniform over the field grown by the largest radius (so that the border
    cuts some), 2 px apart, the largest placed first (placed last, large discs would find room only where the
    crowd is thin); returns the mask and the discs (centre row, centre col, radius)."""
    grow = int(max(radii)) + 1
    placed, mask = [], np.zeros(shape, bool)
    for r in sorted(radii, reverse=True):
        for _ in range(50):
            cy, cx = rng.uniform(-grow, shape[0] + grow), rng.uniform(-grow, shape[1] + grow)
            if all(np.hypot(cy - y, cx - x) > r + q + 2 for y, x, q in placed):
                placed.append((cy, cx, r))
                mask[disk((cy, cx), r, shape=shape)] = True
                break
    return mask, placed


def test_edge_correction_undoes_the_size_bias_of_leaving_cut_particles_out():
    """60 fields of 300 x 300 px, each with 40 discs of log-normal radii (median 12 px, sigma 0.5) scattered so
    that the border cuts some; the truth is the mean diameter of the discs centred in the fields. Leaving cut
    particles out loses large ones (the mean -5.1 %), counting them as seen measures their cut parts (-9.2 %);
    the Miles-Lantuejoul weights bring the mean within 3 % (+0.4 %; the mean of ~1,500 particles, of which
    ~1,100 whole, is itself uncertain by about 2 %)."""
    rng = np.random.default_rng(8)
    shape = (300, 300)
    truth, tables = [], {b: [] for b in PSDOptions.BORDER_RULES}
    for k in range(60):
        mask, placed = random_field(rng, shape, rng.lognormal(np.log(12), 0.5, 40).clip(3, 60))
        truth += [2 * r for cy, cx, r in placed if 0 <= cy < shape[0] and 0 <= cx < shape[1]]
        for border in PSDOptions.BORDER_RULES:
            options = PSDOptions(border=border, split_touching=False)
            tables[border].append(find_particles(mask, mask * 0.5, 1.0, options, "s", f"f{k}")[1])
    fields = {f"f{k}": (shape, 1.0) for k in range(60)}
    error = {border: summarise(pd.concat(tables[border], ignore_index=True), fields, "s", 100).iloc[-1]
             ["diameter_nm_mean"] / np.mean(truth) - 1 for border in PSDOptions.BORDER_RULES}
    assert abs(error["correct"]) < 0.03, error
    assert error["exclude"] < -0.03 and error["correct"] - error["exclude"] > 0.04 and error["include"] < -0.06, error
    corrected = pd.concat(tables["correct"])
    assert corrected["weight"].max() > 1.5 and (corrected.loc[corrected["touches_border"], "weight"] == 0).all()


def test_under_resolved_particles_are_flagged_and_counted():
    _, table = particles(draw_discs([(50, 50, 3), (50, 100, 4), (50, 200, 10)]))  # diameters ~6, 8, 20 px
    assert table.sort_values("diameter_px")["under_resolved"].tolist() == [True, True, False]
    assert summarise(table, {"a": (SHAPE, None)}, "s", 200).iloc[0]["under_resolved_count"] == 2


def test_border_rule_is_checked_and_the_old_key_says_what_replaced_it():
    with pytest.raises(ValueError, match="border: exclude"):
        from_dict(PSDOptions, {"exclude_border": True})
    with pytest.raises(ValueError, match="one of exclude, include, correct"):
        PSDOptions(border="half")
    assert PSDOptions(border="correct").exclude_border and not PSDOptions(border="include").exclude_border


def test_histogram_band_holds_the_bars_and_is_drawn(tmp_path):
    rng = np.random.default_rng(9)
    d, image = simulated_stack(rng, 1000, 10, 0.0)
    table = diameters_table(d, images=[f"i{k}" for k in image])
    edges = np.histogram_bin_edges(d, bins="auto")
    lo, hi = histogram_band(table, "nm", edges, 500, 0)
    bars = np.histogram(d, edges)[0]
    assert (lo <= bars + 1e-9).all() and (bars <= hi + 1e-9).all() and (hi - lo)[bars > 20].min() > 0
    summary = summarise(table, {f"i{k}": (SHAPE, 1.0) for k in range(10)}, "s", 200)
    histogram(table, summary.iloc[-1], tmp_path / "h.png", "s", 200)
    rgb = iio.imread(tmp_path / "h.png")[..., :3].astype(float)
    orange_on_white = 0.55 * 255 + 0.45 * np.array([0xEE, 0x77, 0x33])  # the band above the bars
    assert (np.abs(rgb - orange_on_white).sum(axis=-1) < 12).sum() > 200
