"""Calibration of files written by real microscopes (../shared/data/instrument_files, RosettaSciIO's own test
data): the pixel size each one records must come through, in nm, as validate_inputs and import_image record it,
and their information bars must be cut off. The values are those of the folder's README, each vendor's metadata
as the vendor wrote it."""

from pathlib import Path

import numpy as np
import pytest

from tgan.images import import_image, stack_sources
from tgan.validation import validate_stack

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "instrument_files"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} is absent: the real instrument files are not "
                                                          "part of the project (see ../shared/data/README.md)")

# file -> (pixel size in nm, frames, rows x cols of each image as the workflow uses it: the Zeiss 1k and 512-pixel
# files lose their information bars, 81 and 34 rows, which no metadata records)
PIXEL_SIZE_NM = {
    "ZEISS_SEM_multipage.tif": (12.326225, 2, (1536, 2048)),
    "test_tiff_Zeiss_SEM_1k.tif": (2614.514, 1, (768 - 81, 1024)),
    "test_tiff_Zeiss_SEM_512pix.tif": (11.649976, 1, (384 - 34, 512)),
    "TVIPS_bin4.tif": (1.4208037, 1, (1024, 1024)),
    "test_loading_image_saved_with_DM.tif": (168.67469, 1, (68, 68)),
    "test_loading_image_saved_with_imageJ.tif": (168.67471, 1, (68, 68)),
    "test_STEM_image.dm3": (0.24853802, 1, (68, 68)),
    "test_dm_image_um_unit.dm3": (168.67469, 1, (68, 68)),
}
# Images a stack refuses, rightly, as constant (a blank navigation frame, a dummy; the two FEI e-beam
# images are black once their data bar is cut off): their calibration is checked through the reader.
READER_ONLY = {
    "FEI-Helios-Ebeam-8bits.tif": (3372.4, (442, 512)),
    "FEI-Helios-Ebeam-16bits.tif": (3372.4, (442, 512)),
    "FEI-Helios-navcam.tif": (263974.61, (512, 768)),
    "JEOL-SightX-TEM-mag-dummy.tif": (1.8207885, (556, 556)),
}
# Where each vendor's calibration is read from, as the image's record names it.
CALIBRATION = {"ZEISS": "Zeiss SEM metadata", "Zeiss": "Zeiss SEM metadata", "FEI": "FEI/Thermo Fisher metadata",
               "JEOL": "JEOL SightX metadata", "TVIPS": "TVIPS metadata", "saved_with_DM": "Gatan DigitalMicrograph "
               "TIFF export", "imageJ": "ImageJ metadata", ".dm3": "Gatan DigitalMicrograph axes"}
RTOL = 1e-5


def linked(tmp_path, names):
    """A stack folder of links to the instrument files (they are never copied)."""
    for name in names:
        (tmp_path / name).symlink_to(DATA / name)
    return tmp_path


def source_of(name):
    return next(source for key, source in CALIBRATION.items() if key in name)


def test_zeiss_tvips_dm_and_imagej_files_validate_as_one_stack_each_with_its_pixel_size(tmp_path):
    """No crop set: the Zeiss information bars are found and cut off, and every image keeps its vendor's
    pixel size; import_image, which the workflow runs on each image after validation, records the same."""
    folder = linked(tmp_path, PIXEL_SIZE_NM)
    sources = stack_sources(folder)
    report = validate_stack("real", folder, sources)
    by_file = {}
    for record in report["images"].values():
        by_file.setdefault(Path(record["source"]).name, []).append(record)
    assert sorted(by_file) == sorted(PIXEL_SIZE_NM)
    for name, (nm, frames, shape) in PIXEL_SIZE_NM.items():
        assert len(by_file[name]) == frames, name
        for record in by_file[name]:
            assert record["pixel_size_nm"] == pytest.approx(nm, rel=RTOL), name
            assert record["pixel_size_from"] == "file" and record["calibration"].startswith(source_of(name)), name
            assert tuple(record["shape"]) == shape, name
            bar = 768 - shape[0] if name.endswith("1k.tif") else 384 - shape[0] if name.endswith("512pix.tif") else 0
            assert (record["crop_from"], record["bar_rows"]) == ("detected" if bar else "none", bar), name
    assert [n for n in report["notes"] if n.startswith("pixel sizes differ by more than 1%")]
    assert [n for n in report["notes"] if n.startswith("test_tiff_Zeiss_SEM_1k: an information bar of 81 rows")]
    for name, (source, frame) in sources.items():
        image, record = import_image(source, frame, None, None)
        assert list(image.shape) == report["images"][name]["shape"]
        assert {key: record[key] for key in report["images"][name]} == report["images"][name], name


@pytest.mark.parametrize("name", READER_ONLY)
def test_import_records_the_pixel_size_of_constant_images(name):
    nm, shape = READER_ONLY[name]
    image, record = import_image(DATA / name, 0, None, None)
    assert record["pixel_size_nm"] == pytest.approx(nm, rel=RTOL)
    assert record["pixel_size_from"] == "file" and record["calibration"].startswith(source_of(name))
    assert image.shape == shape


def test_multipage_zeiss_gives_one_image_per_frame(tmp_path):
    sources = stack_sources(linked(tmp_path, ["ZEISS_SEM_multipage.tif"]))
    assert sources == {f"ZEISS_SEM_multipage_f00{k}": (str(tmp_path / "ZEISS_SEM_multipage.tif"), k) for k in (0, 1)}
    frames = [import_image(DATA / "ZEISS_SEM_multipage.tif", k, None, None)[0] for k in (0, 1)]
    assert frames[0].shape == (1536, 2048) and not np.array_equal(frames[0], frames[1])


def test_fei_data_bar_is_cut_off_from_the_metadata_and_16_bit_is_stretched_like_8_bit():
    for bits in (8, 16):
        _, record = import_image(DATA / f"FEI-Helios-Ebeam-{bits}bits.tif", 0, None, None)
        assert record["crop"] == {"bottom": 29} and record["bar_rows"] == 29  # [PrivateFei] DatabarHeight
        assert record["crop_from"] == "metadata"
    # with the bar kept, the only content of these files, the two bit depths give the same image
    eight, _ = import_image(DATA / "FEI-Helios-Ebeam-8bits.tif", 0, {"bottom": 0}, None)
    sixteen, _ = import_image(DATA / "FEI-Helios-Ebeam-16bits.tif", 0, {"bottom": 0}, None)
    assert sixteen.shape == eight.shape == (471, 512)
    assert eight.max() == 1.0 and np.abs(sixteen - eight).max() < 0.02


def test_zeiss_information_bars_are_cut_off_unless_the_crop_keeps_them():
    for name, rows in (("test_tiff_Zeiss_SEM_1k.tif", 81), ("test_tiff_Zeiss_SEM_512pix.tif", 34)):
        full, record = import_image(DATA / name, 0, {"bottom": 0}, None)
        assert record["crop_from"] == "config" and record["bar_rows"] == 0
        assert len(record["ignore"]) >= 5  # kept, the bar's text lines are ignored regions of the PSD
        cut, record = import_image(DATA / name, 0, None, None)
        assert (record["crop"], record["crop_from"], record["bar_rows"]) == ({"bottom": rows}, "detected", rows)
        assert np.array_equal(cut, full[:-rows])  # 8-bit: the same pixels, less the bar
        assert record["ignore"] == []  # nothing of the bar is left


def test_tvips_scale_bar_box_is_ignored():
    _, record = import_image(DATA / "TVIPS_bin4.tif", 0, None, None)
    (region,) = record["ignore"]
    assert region["bottom"] == 1024 and region["left"] == 0  # the "200 nm" box in the bottom-left corner
    assert 40 <= region["bottom"] - region["top"] <= 80 and 140 <= region["right"] - region["left"] <= 200
