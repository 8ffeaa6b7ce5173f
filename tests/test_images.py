import numpy as np
import pytest
import tifffile
import imageio.v3 as iio

from burned_in import with_data_bar
from tgan.images import (ImageFileError, _axes_pixel_size_nm, count_frames, crop_note, import_image, list_images,
                         nm_per_unit,
                         read_image, read_mask, read_pixel_size_nm, stack_sources, to_unit_range, write_image,
                         write_mask)


def test_png_roundtrip_keeps_8bit_values(tmp_path):
    image = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    write_image(tmp_path / "a.png", image)
    back = read_image(tmp_path / "a.png")
    assert back.dtype == np.float32 and back.shape == (64, 64)
    assert np.abs(back - image).max() <= 0.5 / 255 + 1e-6


def test_rgb_export_becomes_grey(tmp_path):
    grey = (np.arange(100, dtype=np.uint8).reshape(10, 10) * 2)
    iio.imwrite(tmp_path / "rgb.png", np.repeat(grey[..., None], 3, axis=-1))
    assert np.allclose(read_image(tmp_path / "rgb.png"), grey / 255.0)


def test_16bit_tiff_is_stretched_by_percentiles_not_min_max(tmp_path):
    data = np.full((100, 100), 1000, np.uint16)
    data[:50] = 3000
    data[0, 0] = 65535  # one hot pixel must not flatten the image
    tifffile.imwrite(tmp_path / "a.tif", data)
    image = read_image(tmp_path / "a.tif")
    assert image[60, 60] == pytest.approx(0.0, abs=1e-6)
    assert image[10, 10] == pytest.approx(1.0, abs=0.01)


def test_constant_float_image_is_zero():
    assert not to_unit_range(np.full((5, 5), 7.0)).any()


def test_unreadable_file_error_names_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="broken.png"):
        read_image(bad)


def test_list_images_sorted_and_filtered(tmp_path):
    for name in ["b.png", "a.tif", "notes.txt", ".hidden.png"]:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.tif", "b.png"]


def test_list_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_images(tmp_path / "missing")
    with pytest.raises(ValueError, match="no images"):
        list_images(tmp_path)


def test_list_images_names_a_link_whose_target_is_gone(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.png").symlink_to(tmp_path / "moved" / "b.png")
    (tmp_path / "notes.txt").symlink_to(tmp_path / "gone.txt")  # not an image: no concern of the stack
    with pytest.raises(FileNotFoundError, match=r"b\.png: a link to .*moved/b\.png, which does not exist"):
        list_images(tmp_path)
    (tmp_path / "b.png").unlink()
    assert [p.name for p in list_images(tmp_path)] == ["a.png"]


def test_mask_roundtrip(tmp_path):
    mask = np.zeros((8, 8), bool)
    mask[2:5, 3:6] = True
    write_mask(tmp_path / "m.png", mask)
    assert iio.imread(tmp_path / "m.png").max() == 255
    assert np.array_equal(read_mask(tmp_path / "m.png"), mask)


# --- EM formats and calibration -------------------------------------------------------------------

def sixteen_bit(shape=(40, 50), seed=0):
    return np.random.default_rng(seed).integers(1000, 60000, shape).astype(np.uint16)


def test_imagej_tiff_calibration_in_microns(tmp_path):
    tifffile.imwrite(tmp_path / "ij.tif", sixteen_bit(), imagej=True, resolution=(1 / 0.0025, 1 / 0.0025),
                     metadata={"unit": "micron"})
    assert read_pixel_size_nm(tmp_path / "ij.tif") == pytest.approx(2.5)


def test_imagej_tiff_calibration_with_micro_sign(tmp_path):
    tifffile.imwrite(tmp_path / "ij.tif", sixteen_bit(), imagej=True, resolution=(2.0, 2.0), metadata={"unit": "nm"})
    assert read_pixel_size_nm(tmp_path / "ij.tif") == pytest.approx(0.5)
    assert nm_per_unit("\u00b5m") == nm_per_unit("\u03bcm") == nm_per_unit("um") == 1000.0
    assert nm_per_unit("\u00c5") == nm_per_unit("A") == pytest.approx(0.1)


def test_resolution_tag_tiff_calibration(tmp_path):
    # 5e6 pixels per cm = 2 nm per pixel
    tifffile.imwrite(tmp_path / "r.tif", sixteen_bit(), resolution=(5e6, 5e6), resolutionunit="CENTIMETER")
    assert read_pixel_size_nm(tmp_path / "r.tif") == pytest.approx(2.0)


def test_default_dpi_of_image_software_is_not_a_calibration(tmp_path):
    tifffile.imwrite(tmp_path / "dpi.tif", sixteen_bit(), resolution=(72, 72), resolutionunit="INCH")
    assert read_pixel_size_nm(tmp_path / "dpi.tif") is None
    tifffile.imwrite(tmp_path / "plain.tif", sixteen_bit())
    assert read_pixel_size_nm(tmp_path / "plain.tif") is None


def test_ome_tiff_calibration(tmp_path):
    tifffile.imwrite(tmp_path / "a.ome.tif", sixteen_bit(), ome=True,
                     metadata={"PhysicalSizeX": 0.7, "PhysicalSizeXUnit": "nm",
                               "PhysicalSizeY": 0.7, "PhysicalSizeYUnit": "nm"})
    assert read_pixel_size_nm(tmp_path / "a.ome.tif") == pytest.approx(0.7)


def test_fei_sem_tiff_calibration(tmp_path):
    fei = "[User]\nUser=test\n[Scan]\nPixelWidth=1.5e-09\nPixelHeight=1.5e-09\n"
    tifffile.imwrite(tmp_path / "sem.tif", sixteen_bit(), extratags=[(34682, "s", 0, fei, True)])
    assert read_pixel_size_nm(tmp_path / "sem.tif") == pytest.approx(1.5)


def test_non_square_pixels_are_refused(tmp_path):
    tifffile.imwrite(tmp_path / "r.tif", sixteen_bit(), resolution=(5e6, 2.5e6), resolutionunit="CENTIMETER")
    with pytest.raises(ImageFileError, match="r.tif: pixels are not square"):
        read_pixel_size_nm(tmp_path / "r.tif")


def write_emd(path, data, scale, units):
    """An EMD file in the NCEM (Berkeley) variant, written by RosettaSciIO itself."""
    from rsciio.emd import file_writer

    frame_axes = [{"name": "frame", "units": "", "scale": 1, "offset": 0, "size": n, "navigate": True}
                  for n in data.shape[:-2]]
    image_axes = [{"name": name, "units": units, "scale": scale, "offset": 0, "size": n, "navigate": False}
                  for name, n in zip("yx", data.shape[-2:])]
    file_writer(str(path), {"data": data, "axes": frame_axes + image_axes, "metadata": {"General": {"title": "t"},
                "Signal": {"signal_type": ""}}, "original_metadata": {}})


def test_emd_image_in_angstrom_gives_nm(tmp_path):
    data = sixteen_bit((48, 64)).astype(np.float32)
    write_emd(tmp_path / "haadf.emd", data, 2.5, "\u00c5")
    assert read_pixel_size_nm(tmp_path / "haadf.emd") == pytest.approx(0.25)
    image = read_image(tmp_path / "haadf.emd")
    assert image.shape == (48, 64) and image.dtype == np.float32
    assert np.allclose(image, to_unit_range(data), atol=1e-6)


def test_multi_frame_emd_is_a_stack(tmp_path):
    data = np.stack([np.full((20, 30), 100.0 * k) + np.arange(30) for k in range(3)]).astype(np.float32)
    write_emd(tmp_path / "series.emd", data, 0.8, "nm")
    assert count_frames(tmp_path / "series.emd") == 3
    assert read_pixel_size_nm(tmp_path / "series.emd") == pytest.approx(0.8)
    assert np.allclose(read_image(tmp_path / "series.emd", 2), to_unit_range(data[2]))
    sources = stack_sources(tmp_path)
    assert sources == {f"series_f00{k}": (str(tmp_path / "series.emd"), k) for k in range(3)}


def test_uncalibrated_emd_has_no_pixel_size(tmp_path):
    write_emd(tmp_path / "raw.emd", sixteen_bit().astype(np.float32), 1.0, "")
    assert read_pixel_size_nm(tmp_path / "raw.emd") is None


def test_rsciio_axes_units_to_nm():
    """The axes dictionaries RosettaSciIO gives for DM, TIA and Velox files (as for the EMD above)."""
    axes = [{"units": "\u00b5m", "scale": 0.002}, {"units": "\u00b5m", "scale": 0.002}]
    assert _axes_pixel_size_nm(axes) == pytest.approx((2.0, 2.0))
    assert _axes_pixel_size_nm([{"units": "m", "scale": 3e-10}] * 2) == pytest.approx((0.3, 0.3))
    assert _axes_pixel_size_nm([{"units": "<undefined>", "scale": 1.0}] * 2) is None
    with pytest.raises(ImageFileError, match="not a real-space image"):
        _axes_pixel_size_nm([{"units": "1/nm", "scale": 0.01}] * 2)


def test_multi_page_tiff_frames_and_names(tmp_path):
    frames = np.stack([np.full((16, 16), 10 * k, np.uint8) for k in range(1, 4)])
    tifffile.imwrite(tmp_path / "tilt.tif", frames, photometric="minisblack")
    iio.imwrite(tmp_path / "single.png", np.zeros((8, 8), np.uint8))
    sources = stack_sources(tmp_path)
    assert sources == {"single": (str(tmp_path / "single.png"), 0), "tilt_f000": (str(tmp_path / "tilt.tif"), 0),
                       "tilt_f001": (str(tmp_path / "tilt.tif"), 1), "tilt_f002": (str(tmp_path / "tilt.tif"), 2)}
    assert read_image(tmp_path / "tilt.tif", 1) == pytest.approx(np.full((16, 16), 20 / 255, np.float32))
    with pytest.raises(ImageFileError, match="tilt.tif: no frame 3"):
        read_image(tmp_path / "tilt.tif", 3)


def test_frame_counts_are_read_once_per_file_version(tmp_path, monkeypatch):
    """FrameCounts opens an EM file's header only when the file is new or changed (size, time): the workflow lists
    the stacks at every parse, each cluster job's too. PNG/JPEG files are never opened."""
    from tgan import images

    folder = tmp_path / "stack"
    folder.mkdir()
    tifffile.imwrite(folder / "tilt.tif", np.zeros((3, 16, 16), np.uint8), photometric="minisblack")
    iio.imwrite(folder / "single.png", np.zeros((8, 8), np.uint8))
    counted = []  # count_frames reads the header of an EM file (a PNG's count needs no reading)
    monkeypatch.setattr(images, "count_frames", lambda path: counted.append(path.name) or count_frames(path))
    cache = tmp_path / "cache" / "frames.json"

    def parse():  # as the workflow lists a stack at each parse
        counts = images.FrameCounts(cache)
        sources = stack_sources(folder, counts)
        counts.save()
        return sources

    first = parse()
    assert sorted(counted) == ["single.png", "tilt.tif"] and len(first) == 4
    counted.clear()
    assert parse() == first and counted == ["single.png"]  # another parse: the tif's count from the file
    tifffile.imwrite(folder / "tilt.tif", np.zeros((2, 16, 16), np.uint8), photometric="minisblack")
    counted.clear()
    assert sorted(parse()) == ["single", "tilt_f000", "tilt_f001"] and "tilt.tif" in counted


def test_frame_names_that_clash_are_refused(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((2, 8, 8), np.uint8), photometric="minisblack")
    iio.imwrite(tmp_path / "a_f001.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="both give the image name a_f001"):
        stack_sources(tmp_path)


@pytest.mark.parametrize("name", ["broken.emd", "broken.dm3", "broken.dm4", "broken.ser", "broken.tif",
                                  "broken.jpg"])
def test_corrupt_em_file_error_names_the_file(tmp_path, name):
    bad = tmp_path / name
    bad.write_bytes(b"\x00\x01garbage" * 50)
    with pytest.raises(ImageFileError, match=name):
        read_image(bad)
    if not name.endswith(".jpg"):  # JPEG/PNG frames are not counted from the file
        with pytest.raises(ImageFileError, match=name):
            count_frames(bad)


def test_unsupported_format_error_names_the_file(tmp_path):
    (tmp_path / "scan.bmp").write_bytes(b"BM")
    with pytest.raises(ImageFileError, match=r"scan.bmp: unsupported image format '.bmp'"):
        read_image(tmp_path / "scan.bmp")


def test_colour_image_is_refused_but_grey_rgb_is_not(tmp_path):
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "colour.png", colour)
    with pytest.raises(ImageFileError, match="colour.png: a colour image"):
        read_image(tmp_path / "colour.png")
    grey = np.repeat(colour[..., :1], 3, axis=-1)
    grey[0, 0] = (255, 0, 0)  # a small coloured annotation is allowed
    iio.imwrite(tmp_path / "grey.png", grey)
    assert read_image(tmp_path / "grey.png")[5, 5] == pytest.approx(grey[5, 5, 0] / 255)


def test_crop_happens_before_the_contrast_is_set(tmp_path):
    data = np.full((60, 40), 1000, np.uint16)
    data[:25] = 2000
    data[50:] = 65535  # a bright burned-in data bar of 10 rows
    tifffile.imwrite(tmp_path / "sem.tif", data)
    image = read_image(tmp_path / "sem.tif", crop={"bottom": 10})
    assert image.shape == (50, 40)
    assert image[0, 0] == pytest.approx(1.0) and image[40, 0] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="leaves nothing"):
        read_image(tmp_path / "sem.tif", crop={"top": 30, "bottom": 30})


def test_import_image_records_where_the_pixel_size_came_from(tmp_path):
    tifffile.imwrite(tmp_path / "r.tif", sixteen_bit(), resolution=(5e6, 5e6), resolutionunit="CENTIMETER")
    image, record = import_image(tmp_path / "r.tif", 0, {"left": 10}, None)
    assert image.shape == (40, 40) and record["shape"] == [40, 40]
    assert record["pixel_size_nm"] == pytest.approx(2.0) and record["pixel_size_from"] == "file"
    assert record["calibration"] == "TIFF resolution tags"
    _, record = import_image(tmp_path / "r.tif", 0, None, 0.9)
    assert record["pixel_size_nm"] == 0.9 and record["pixel_size_from"] == "config"
    assert record["calibration"] == "stack setting pixel_size_nm"
    iio.imwrite(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    _, record = import_image(tmp_path / "a.png", 0, None, None)
    assert record["pixel_size_nm"] is None and record["pixel_size_from"] == "none" and record["calibration"] is None


def test_calibration_names_the_metadata_it_came_from(tmp_path):
    fei = "[User]\nUser=test\n[Scan]\nPixelWidth=1.5e-09\nPixelHeight=1.5e-09\n"
    tifffile.imwrite(tmp_path / "sem.tif", sixteen_bit(), extratags=[(34682, "s", 0, fei, True)])
    tifffile.imwrite(tmp_path / "ij.tif", sixteen_bit(), imagej=True, resolution=(2.0, 2.0), metadata={"unit": "nm"})
    tifffile.imwrite(tmp_path / "a.ome.tif", sixteen_bit(), ome=True,
                     metadata={"PhysicalSizeX": 0.7, "PhysicalSizeXUnit": "nm",
                               "PhysicalSizeY": 0.7, "PhysicalSizeYUnit": "nm"})
    write_emd(tmp_path / "haadf.emd", sixteen_bit().astype(np.float32), 2.5, "\u00c5")
    expected = {"sem.tif": "FEI/Thermo Fisher metadata", "ij.tif": "ImageJ metadata", "a.ome.tif": "OME metadata",
                "haadf.emd": "EMD axes"}
    for name, source in expected.items():
        _, record = import_image(tmp_path / name, 0, None, None)
        assert record["pixel_size_from"] == "file" and record["calibration"].startswith(source), name


def test_vendor_data_bar_is_cut_off_unless_the_crop_sets_the_bottom(tmp_path):
    """An FEI/Thermo file records its scanned rows ([Image] ResolutionY); the rows below are its data bar."""
    data = sixteen_bit((60, 50))
    data[48:] = 0
    data[52:55, 5:40] = 65535  # the bar's text
    fei = "[Image]\nResolutionX=50\nResolutionY=48\n[Scan]\nPixelWidth=2e-09\nPixelHeight=2e-09\n"
    tifffile.imwrite(tmp_path / "sem.tif", data, extratags=[(34682, "s", 0, fei, True)])
    image, record = import_image(tmp_path / "sem.tif", 0, None, None)
    assert image.shape == (48, 50) and record["crop"] == {"bottom": 12}
    assert (record["crop_from"], record["bar_rows"]) == ("metadata", 12)
    assert record["pixel_size_nm"] == pytest.approx(2.0)
    image, record = import_image(tmp_path / "sem.tif", 0, {"bottom": 0, "left": 5}, None)
    assert image.shape == (60, 45) and (record["crop_from"], record["bar_rows"]) == ("config", 0)


def test_detected_information_bar_is_cut_off_and_recorded_unless_the_crop_sets_the_bottom(tmp_path):
    """A bar that no metadata records (Zeiss, Hitachi SEMs) is found in the pixels and cut off, before it sets
    the contrast of 16-bit data; the record says it was detected, and a crop that sets the bottom wins."""
    image, _, rows = with_data_bar()  # particles above a black bar with white "50 nm" text, 24 rows
    data = (1000 + 30000 * image).astype(np.uint16)
    data[-rows:] = np.where(image[-rows:] > 0.5, 65535, 0)
    tifffile.imwrite(tmp_path / "sem.tif", data)
    cut, record = import_image(tmp_path / "sem.tif", 0, None, None)
    assert cut.shape == (192 - rows, 192) and rows == 24
    assert (record["crop"], record["crop_from"], record["bar_rows"]) == ({"bottom": rows}, "detected", rows)
    assert crop_note(record).startswith("an information bar of 24 rows burned into the bottom")
    assert cut.max() == 1.0  # stretched on the image alone: with the bar's white text the particles stay below 0.5
    assert read_image(tmp_path / "sem.tif").max(axis=1)[:-rows].max() < 0.5
    kept, record = import_image(tmp_path / "sem.tif", 0, {"bottom": 0}, None)
    assert kept.shape == (192, 192) and (record["crop_from"], record["bar_rows"]) == ("config", 0)
    assert crop_note(record) is None
    _, record = import_image(tmp_path / "sem.tif", 0, {"left": 5}, None)
    assert record["crop"] == {"left": 5, "bottom": rows} and record["crop_from"] == "config + detected"
    write_image(tmp_path / "plain.png", image[:-rows])  # the same particles without a bar: nothing cut
    plain, record = import_image(tmp_path / "plain.png", 0, None, None)
    assert plain.shape == (192 - rows, 192) and (record["crop"], record["crop_from"], record["bar_rows"]) == ({}, "none", 0)


def test_list_images_takes_em_formats_and_skips_emi_with_its_ser(tmp_path):
    for name in ["a.dm3", "b.DM4", "c.emd", "d.emi", "d_1.ser", "e.emi", "f.txt"]:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.dm3", "b.DM4", "c.emd", "d_1.ser", "e.emi"]


def test_import_of_a_validated_image_reads_only_its_pixels(tmp_path, monkeypatch):
    """import_image's step takes validate_inputs' record (bar cut, calibration, scale bar, annotations) and reads
    the pixels alone: the same image, with nothing found again; a file changed since is refused by name."""
    import tgan.images as images

    data = sixteen_bit((60, 50))
    data[48:] = 0
    data[52:55, 5:40] = 65535
    fei = "[Image]\nResolutionX=50\nResolutionY=48\n[Scan]\nPixelWidth=2e-09\nPixelHeight=2e-09\n"
    tifffile.imwrite(tmp_path / "sem.tif", data, extratags=[(34682, "s", 0, fei, True)])
    image, record = import_image(tmp_path / "sem.tif", 0, None, None)

    def found_again(*_args, **_kwargs):
        raise AssertionError("found again although the record has it")

    for name in ("read_scale_bar", "annotation_regions", "data_bar_rows", "bottom_bar_rows", "read_calibration"):
        monkeypatch.setattr(images, name, found_again)
    assert np.array_equal(images.import_validated(record), image) and image.shape == (48, 50)
    tifffile.imwrite(tmp_path / "sem.tif", sixteen_bit((30, 50)))
    with pytest.raises(ImageFileError, match=r"sem\.tif: .*changed since"):
        images.import_validated(record)
