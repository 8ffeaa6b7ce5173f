import numpy as np
import pytest
import tifffile
import imageio.v3 as iio

from tgan.images import list_images, read_image, read_mask, to_unit_range, write_image, write_mask


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


def test_mask_roundtrip(tmp_path):
    mask = np.zeros((8, 8), bool)
    mask[2:5, 3:6] = True
    write_mask(tmp_path / "m.png", mask)
    assert iio.imread(tmp_path / "m.png").max() == 255
    assert np.array_equal(read_mask(tmp_path / "m.png"), mask)
