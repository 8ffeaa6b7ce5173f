"""Ground truth of a stack, for evaluation: instance masks or YOLO particle boxes.

A stack's `ground_truth:` names a folder of masks (`{masks: DIR}`: binary or instance label images,
one per image, named like the image) or of YOLO box files (`{yolo: DIR}`: `NAME.txt`). Images
without a ground-truth file are left out of the evaluation. Each image's crop, as import_image recorded it
(the stack's crop setting, or an information bar cut off), is applied to its ground truth too, so that it lines
up with the image the workflow segments.
"""

from __future__ import annotations

import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile
from skimage.draw import ellipse
from skimage.measure import label
from skimage.segmentation import relabel_sequential

from .boxes import read_yolo
from .images import TIFF_SUFFIXES, crop_image

KINDS = ("masks", "yolo")
MASK_SUFFIXES = (".png", *TIFF_SUFFIXES)


def ground_truth_kind(setting: dict) -> tuple[str, Path]:
    """(kind, folder) of a stack's ground_truth setting."""
    kinds = [k for k in KINDS if k in setting]
    if len(kinds) != 1:
        raise ValueError(f"ground_truth must name exactly one of {', '.join(KINDS)}, got {sorted(setting)}")
    return kinds[0], Path(setting[kinds[0]])


def ground_truth_files(setting: dict, names) -> dict[str, str]:
    """{image name: ground-truth file} for the images that have one (sorted by name)."""
    kind, folder = ground_truth_kind(setting)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: ground-truth folder does not exist")
    suffixes = MASK_SUFFIXES if kind == "masks" else (".txt",)
    found = {}
    for name in sorted(names):
        for suffix in suffixes:
            if (folder / f"{name}{suffix}").is_file():
                found[name] = str(folder / f"{name}{suffix}")
                break
    if not found:
        raise ValueError(f"{folder}: no ground-truth file ({', '.join(suffixes)}) is named like an image of the stack")
    return found


def read_instances(path: str | os.PathLike, crop: dict[str, int] | None = None) -> np.ndarray:
    """Instance labels (0 = background) of a ground-truth mask file.

    An image with several non-zero values is an instance label image (touching particles stay
    apart); one with a single non-zero value is a binary mask, whose particles are its 8-connected
    components.
    """
    path = Path(path)
    try:
        data = tifffile.imread(path) if path.suffix.lower() in TIFF_SUFFIXES else np.asarray(iio.imread(path))
    except Exception as err:
        raise ValueError(f"{path}: cannot read ground-truth mask ({type(err).__name__}: {err})") from err
    if data.ndim == 3:
        data = data[..., 0]
    if data.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D mask, got shape {data.shape}")
    if crop:
        data = crop_image(data, crop, path)
    if len(np.unique(data[data != 0])) > 1:
        return relabel_sequential(data.astype(np.int64))[0].astype(np.int32)
    return label(data != 0, connectivity=2).astype(np.int32)


def read_boxes(path: str | os.PathLike, shape: tuple[int, int], crop: dict[str, int] | None = None) -> np.ndarray:
    """Particle boxes (x0, y0, x1, y1) in pixels of the image as the workflow uses it (`shape`, after
    the crop). YOLO coordinates are relative to the original file, before the crop."""
    crop = crop or {}
    top, left = crop.get("top", 0), crop.get("left", 0)
    original = (shape[0] + top + crop.get("bottom", 0), shape[1] + left + crop.get("right", 0))
    boxes = read_yolo(path, original) - np.array([left, top, left, top], float)
    boxes = np.clip(boxes, 0, [shape[1], shape[0], shape[1], shape[0]])
    return boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]


def box_masks(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The particle mask a box annotation implies, for training the supervised baseline on boxes: the
    ellipse inscribed in each box (x0, y0, x1, y1). Round particles fill pi/4 of their box; a box
    annotation says no more about a particle's outline."""
    mask = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes:
        rows, cols = ellipse((y0 + y1) / 2 - 0.5, (x0 + x1) / 2 - 0.5, (y1 - y0) / 2, (x1 - x0) / 2, shape)
        mask[rows, cols] = True
    return mask


def read_truth_mask(path: str | os.PathLike, kind: str, shape: tuple[int, int],
                    crop: dict[str, int] | None = None) -> np.ndarray:
    """Binary particle mask of a ground-truth file of either kind, for an image of `shape` (after the crop)."""
    if kind == "yolo":
        return box_masks(read_boxes(path, shape, crop), shape)
    truth = read_instances(path, crop) > 0
    if truth.shape != tuple(shape):
        raise ValueError(f"{path}: ground truth {truth.shape} and its image {tuple(shape)} differ in size")
    return truth
