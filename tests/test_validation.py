"""validate_inputs: one test per kind of bad input; each asserts the file, the reason, and what is accepted."""

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from burned_in import with_data_bar, with_scale_bar
from tgan.images import read_image, stack_sources, write_image
from tgan.scale_bar import NO_BAR
from tgan.cache import Cache
from tgan.files import write_json
from tgan.validation import InputError, check_training_crop, imports_stale, validate_stack

CROP = 64


def textured(shape=(96, 96), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(20, 230, shape, dtype=np.uint8)


def good_stack(folder, n=2):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        iio.imwrite(folder / f"good{i}.png", textured(seed=i))


def validate(folder, **kwargs):
    return validate_stack("s", folder, stack_sources(folder), **kwargs)


def refused(folder, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        validate(folder, **kwargs)
    return str(info.value)


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def test_good_stack_is_reported(tmp_path):
    good_stack(tmp_path)
    report = validate(tmp_path)
    assert report["images"] == {f"good{i}": {"source": str(tmp_path / f"good{i}.png"), "frame": 0, "shape": [96, 96],
                                             "crop": {}, "crop_from": "none", "bar_rows": 0, "pixel_size_nm": None,
                                             "pixel_size_from": "none", "calibration": None,
                                             "scale_bar": {"length_px": None, "label": None, "length_nm": None,
                                                           "pixel_size_nm": None, "box": None, "reason": NO_BAR},
                                             "scale_bar_check": None, "ignore": []}
                                for i in range(2)}
    assert report["skipped"] == [] and report["notes"] == []


def test_each_image_says_where_its_pixel_size_came_from(tmp_path):
    good_stack(tmp_path)
    tifffile.imwrite(tmp_path / "ij.tif", textured(), imagej=True, resolution=(2.0, 2.0), metadata={"unit": "nm"})
    images = validate(tmp_path)["images"]
    assert (images["ij"]["pixel_size_from"], images["ij"]["calibration"]) == \
        ("file", "ImageJ metadata (description and resolution tags)")
    assert images["good0"]["pixel_size_from"] == "none"
    images = validate(tmp_path, pixel_size_nm=0.8)["images"]
    assert {i["pixel_size_nm"] for i in images.values()} == {0.8}
    assert {i["pixel_size_from"] for i in images.values()} == {"config"}


def test_pixel_sizes_that_disagree_by_more_than_one_percent_are_noted(tmp_path):
    for name, per_nm in (("a", 2.0), ("b", 1.99), ("c", 1.9)):
        tifffile.imwrite(tmp_path / f"{name}.tif", textured(), imagej=True, resolution=(per_nm, per_nm),
                         metadata={"unit": "nm"})
    notes = validate(tmp_path)["notes"]
    assert [n for n in notes if n.startswith("pixel sizes differ by more than 1%: from 0.5 nm (a) to 0.52632 nm (c)")]
    (tmp_path / "c.tif").unlink()  # 0.5 and 0.5025 nm: within 1 %
    assert not [n for n in validate(tmp_path)["notes"] if n.startswith("pixel sizes differ")]


def test_burned_in_bottom_bar_is_cut_off_recorded_and_noted(tmp_path):
    for i in range(2):
        write_image(tmp_path / f"sem{i}.png", with_data_bar(seed=i)[0])
    report = validate(tmp_path)
    for name in ("sem0", "sem1"):
        record = report["images"][name]
        assert record["shape"] == [168, 192]
        assert (record["crop"], record["crop_from"], record["bar_rows"]) == ({"bottom": 24}, "detected", 24)
    assert "sem0: an information bar of 24 rows burned into the bottom (uniform rows with text) is cut off " \
           "(crop: {bottom: 0} keeps the rows, crop: {bottom: N} cuts N)" in report["notes"]
    report = validate(tmp_path, crop={"bottom": 0})  # kept on purpose
    assert report["images"]["sem1"]["shape"] == [192, 192] and report["images"]["sem1"]["crop_from"] == "config"
    assert not [n for n in report["notes"] if "information bar" in n]
    report = validate(tmp_path, crop={"bottom": 20})  # the user's height wins
    assert report["images"]["sem0"]["shape"] == [172, 192] and report["images"]["sem0"]["bar_rows"] == 0


def test_burned_in_scale_bar_is_recorded_as_ignored_and_noted(tmp_path):
    good_stack(tmp_path)
    image, _, annotation = with_scale_bar()
    write_image(tmp_path / "figure.png", image)
    report = validate(tmp_path)
    (region,) = report["images"]["figure"]["ignore"]
    rows, cols = np.nonzero(annotation)
    assert region["top"] <= rows.min() and region["bottom"] > rows.max()
    assert region["left"] <= cols.min() and region["right"] > cols.max()
    assert (region["bottom"] - region["top"]) * (region["right"] - region["left"]) < 3 * np.ptp(rows) * np.ptp(cols)
    assert [n for n in report["notes"] if n.startswith("figure: burned-in scale bar or label")]
    assert report["images"]["good0"]["ignore"] == []


@pytest.mark.parametrize("name, write", [
    ("cut.png", lambda p: iio.imwrite(p, textured())),
    ("cut.jpg", lambda p: iio.imwrite(p, textured())),
    ("cut.tif", lambda p: tifffile.imwrite(p, textured().astype(np.uint16) * 200)),
    ("cut_zlib.tif", lambda p: tifffile.imwrite(p, textured().astype(np.uint16) * 200, compression="zlib")),
])
def test_truncated_file_is_refused(tmp_path, name, write):
    good_stack(tmp_path)
    write(tmp_path / name)
    truncate(tmp_path / name)
    message = refused(tmp_path)
    assert f"{tmp_path / name}: cannot read image" in message
    assert "1 of 3 images cannot be used" in message


def test_file_that_is_not_an_image_is_refused(tmp_path):
    good_stack(tmp_path)
    (tmp_path / "notes.png").write_text("exposure 2 s, 300 kV\n")
    assert f"{tmp_path / 'notes.png'}: cannot read image" in refused(tmp_path)


def test_files_of_other_types_are_skipped_and_listed(tmp_path):
    good_stack(tmp_path)
    (tmp_path / "notes.txt").write_text("exposure 2 s")
    (tmp_path / "Thumbs.db").write_bytes(b"\x00" * 16)
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    report = validate(tmp_path)
    assert sorted(report["images"]) == ["good0", "good1"]
    assert report["skipped"] == ["Thumbs.db", "notes.txt"]


def test_image_smaller_than_the_training_crop_is_refused():
    images = {"a/good.png": textured(), "a/thumb.png": textured((48, 80)), "a/bar.png": textured((56, 96))}
    with pytest.raises(InputError) as info:
        check_training_crop(images, CROP, "pix2pix.crop_size")
    message = str(info.value)
    assert f"2 image(s) smaller than the training crop of {CROP} px (pix2pix.crop_size)" in message
    assert "a/thumb.png: 48 x 80 pixels" in message and "a/bar.png: 56 x 96 pixels" in message
    assert "good" not in message
    check_training_crop({"a/exact.png": textured((CROP, 80))}, CROP, "pix2pix.crop_size")  # exactly the crop is enough


def test_a_stack_that_trains_nothing_may_hold_one_small_image(tmp_path):
    """segment_with stacks are only segmented: one image is enough, and any size."""
    iio.imwrite(tmp_path / "thumb.png", textured((48, 80)))
    assert "at least 2" in refused(tmp_path)
    assert validate(tmp_path, trains=False)["images"]["thumb"]["shape"] == [48, 80]


def test_constant_image_is_refused(tmp_path):
    good_stack(tmp_path)
    iio.imwrite(tmp_path / "blank.png", np.full((96, 96), 17, np.uint8))
    tifffile.imwrite(tmp_path / "dark.tif", np.full((96, 96), 3.5, np.float32))
    message = refused(tmp_path)
    for name in ("blank.png", "dark.tif"):
        assert f"{tmp_path / name}: a constant image" in message


def test_constant_frame_of_a_multi_frame_file_names_the_frame(tmp_path):
    good_stack(tmp_path)
    frames = np.stack([textured(seed=5), np.zeros((96, 96), np.uint8)])
    tifffile.imwrite(tmp_path / "series.tif", frames, photometric="minisblack")
    message = refused(tmp_path)
    assert f"{tmp_path / 'series.tif'} (frame 1): a constant image" in message
    assert "(frame 0)" not in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_float_data_is_refused(tmp_path, bad):
    good_stack(tmp_path)
    data = textured().astype(np.float32)
    data[:4] = bad
    tifffile.imwrite(tmp_path / "drift_corrected.tif", data)
    message = refused(tmp_path)
    assert f"{tmp_path / 'drift_corrected.tif'}: 384 of 9216 pixels are NaN or infinite" in message
    # the stack's crop setting can cut such a border off
    report = validate(tmp_path, crop={"top": 4})
    assert report["images"]["drift_corrected"]["shape"] == [92, 96]


def test_float_and_16_bit_data_are_stretched(tmp_path):
    base = textured().astype(np.float64)
    tifffile.imwrite(tmp_path / "a16.tif", (base * 100 + 5000).astype(np.uint16))
    tifffile.imwrite(tmp_path / "f32.tif", (base * 1e-3 - 0.2).astype(np.float32))
    report = validate(tmp_path)
    assert sorted(report["images"]) == ["a16", "f32"]
    for name in ("a16.tif", "f32.tif"):
        image = read_image(tmp_path / name)  # what import_image writes
        assert image.min() == 0.0 and image.max() == 1.0
        assert np.corrcoef(image.ravel(), base.ravel())[0, 1] > 0.99


def test_grey_rgb_is_accepted_and_colour_refused(tmp_path):
    good_stack(tmp_path)
    grey = textured(seed=7)
    iio.imwrite(tmp_path / "export.png", np.repeat(grey[..., None], 3, axis=-1))
    assert validate(tmp_path)["images"]["export"]["shape"] == [96, 96]
    iio.imwrite(tmp_path / "false_colour.png", np.stack([grey, textured(seed=8), grey], axis=-1))
    assert f"{tmp_path / 'false_colour.png'}: a colour image" in refused(tmp_path)


def test_mixed_sizes_and_calibrations_are_accepted_with_notes(tmp_path):
    good_stack(tmp_path)
    tifffile.imwrite(tmp_path / "wide.tif", textured((96, 200)), imagej=True, resolution=(2.0, 2.0),
                     metadata={"unit": "nm"})
    report = validate(tmp_path)
    assert report["images"]["wide"]["shape"] == [96, 200] and report["images"]["wide"]["pixel_size_nm"] == 0.5
    assert report["notes"][0].startswith("mixed image sizes 96 x 96, 96 x 200")
    assert report["notes"][1].startswith("2 of 3 images have no pixel size (good0, good1)")


def test_a_single_image_is_refused(tmp_path):
    good_stack(tmp_path, n=1)
    assert "holds 1 image; the method needs at least 2" in refused(tmp_path)


def test_empty_folder_is_refused_by_name(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing yet")
    with pytest.raises(ValueError, match=f"{tmp_path}: no images"):
        stack_sources(tmp_path)


def test_images_checked_before_are_read_back(tmp_path):
    """With a cache, a stack validated again reads only its new or changed images; the report is the same, and a
    bad image stays refused."""
    folder = tmp_path / "s"
    good_stack(folder, n=3)
    first = Cache(tmp_path / "cache", "key")
    report = validate(folder, cache=first)
    assert (first.hits, first.misses) == (0, 3)
    iio.imwrite(folder / "good3.png", textured(seed=3))
    iio.imwrite(folder / "good0.png", textured(seed=10))  # changed in place
    again = Cache(tmp_path / "cache", "key")
    second = validate(folder, cache=again)
    assert (again.hits, again.misses) == (2, 2)
    assert second["images"]["good1"] == report["images"]["good1"] and sorted(second["images"]) == [
        "good0", "good1", "good2", "good3"]
    iio.imwrite(folder / "blank.png", np.full((96, 96), 7, np.uint8))
    for _ in range(2):  # a refused stack stores nothing: the bad image is read again, and refused again
        store = Cache(tmp_path / "cache", "key")
        with pytest.raises(InputError, match="blank.png: a constant image"):
            validate(folder, cache=store)
        assert (store.hits, store.misses) == (4, 1)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 5  # the two passing runs' entries, none of blank.png


def test_a_changed_crop_or_pixel_size_or_a_removed_image_is_seen_from_the_last_validation(tmp_path):
    """The import gate re-imports every image when the stack's crop or pixel size differs from those its
    validated.json was made with, or when an image it validated has left the stack (so that Snakemake plans the
    imports, and the chain after them, in the run that validates again); an added image alone does not."""
    good_stack(tmp_path / "s")
    report = validate(tmp_path / "s", crop={"top": 2}, pixel_size_nm=0.5)
    assert report["settings"] == {"crop": {"top": 2}, "pixel_size_nm": 0.5}
    names = sorted(report["images"])
    assert len(names) >= 2
    write_json(tmp_path / "validated.json", report)
    assert not imports_stale(tmp_path / "validated.json", {"top": 2}, 0.5, names)
    assert not imports_stale(tmp_path / "validated.json", {"top": 2}, 0.5, names + ["added"])
    assert imports_stale(tmp_path / "validated.json", {"top": 2}, 0.5, names[1:])
    assert imports_stale(tmp_path / "validated.json", {"top": 3}, 0.5, names)
    assert imports_stale(tmp_path / "validated.json", {"top": 2}, None, names)
    assert imports_stale(tmp_path / "missing.json", {"top": 2}, 0.5, names)
    del report["settings"]  # written before the record existed: re-imported when the stack is validated again
    write_json(tmp_path / "validated.json", report)
    assert imports_stale(tmp_path / "validated.json", {"top": 2}, 0.5, names)
