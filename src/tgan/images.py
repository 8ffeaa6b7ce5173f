"""Reading and writing EM images and masks.

Every image enters the pipeline as a 2-D float32 array in [0, 1] so that the networks, the
classical segmenter and the PSD code never have to care about bit depth or colour.
"""

from __future__ import annotations

import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files of a stack folder, sorted by name; hidden files are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: image folder does not exist")
    files = sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return files


def to_unit_range(data: np.ndarray) -> np.ndarray:
    """Scale raw pixel data to float32 [0, 1].

    8-bit data keep their absolute scale (divide by 255); deeper or float data are stretched
    between the 0.1 and 99.9 percentiles so that a few hot pixels do not flatten the image.
    """
    if data.dtype == np.uint8:
        return data.astype(np.float32) / 255.0
    data = data.astype(np.float32)
    lo, hi = np.percentile(data, [0.1, 99.9])
    if hi <= lo:
        return np.zeros(data.shape, np.float32)
    return np.clip((data - lo) / (hi - lo), 0.0, 1.0)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read one grey EM image as float32 [0, 1]; RGB exports are averaged to grey."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            data = tifffile.imread(path)
        else:
            data = iio.imread(path)
    except Exception as err:  # imageio and tifffile raise many kinds; name the file for the user
        raise ValueError(f"{path}: cannot read image ({err})") from err
    data = np.asarray(data)
    if data.ndim == 3 and data.shape[-1] in (3, 4):
        data = data[..., :3].mean(axis=-1).astype(data.dtype)
    if data.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D grey image, got shape {data.shape}")
    return to_unit_range(data)


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a float [0, 1] image as 8-bit PNG."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a binary mask (any non-zero pixel is foreground)."""
    data = np.asarray(iio.imread(path))
    if data.ndim == 3:
        data = data[..., 0]
    return data > 0


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write a binary mask as an 8-bit PNG with values 0 and 255 (visible in any viewer)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.where(mask, 255, 0).astype(np.uint8))
