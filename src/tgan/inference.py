"""Inference of a fully convolutional network on an image of any size: in one piece when it fits, in tiles
when it does not.

A forward pass costs in proportion to the pixels it sees, so every pixel beyond the image is time lost:
an image that fits (at most `max_pixels` after padding) goes through the network once. It is
reflect-padded only to the next side divisible by 32 (the UNet++'s 5 down-samplings), and by at least
MARGIN pixels on every side, so that the zero padding of the convolutions does not draw a frame along
the image border (a 512² image becomes 544², 1.13x the pixels). Larger micrographs (4096² and more do
not fit through a UNet++ at once on a laptop) are cut into overlapping tiles; each output pixel is taken
from the tile in which it lies farthest from an inner tile edge, where a network's border effects live,
so tile seams do not show in the output.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

MULTIPLE = 32  # UNet++ with 5 down-samplings needs sides divisible by 2**5
# Reflected pixels kept around the image: the zero padding of the first convolutions (7x7, then 3x3 at
# half resolution) reaches a few pixels in; 16 px keeps that frame off the image and, with the rounding
# up to a multiple of 32, adds at most 63 px to a side.
MARGIN = 16


def _ceil_to(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _padding(length: int, tile: int | None = None) -> tuple[int, int]:
    """(before, after) padding of one axis: at least MARGIN each side, the total a multiple of 32 (or,
    for a tiled axis, enough for one tile)."""
    total = _ceil_to(length + 2 * MARGIN, MULTIPLE) if tile is None else max(length + 2 * MARGIN, tile)
    before = (total - length) // 2
    return before, total - length - before


def _pad(image: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """Pad the last two axes (a leading channel axis is not padded)."""
    # reflection needs two pixels; numpy reflects repeatedly when a pad is wider than the image
    pads = ((0, 0),) * (image.ndim - 2) + tuple(pads)
    return np.pad(image, pads, mode="reflect" if min(image.shape[-2:]) > 1 else "edge")


def _edge_distance(length: int, start: int, total: int) -> np.ndarray:
    """Distance of each pixel of a tile to its inner edges; an edge on the image border is no edge."""
    pos = np.arange(length, dtype=np.float32)
    low = np.full(length, np.inf, np.float32) if start == 0 else pos + 1
    high = np.full(length, np.inf, np.float32) if start + length == total else length - pos
    return np.minimum(low, high)


def _starts(length: int, tile: int, stride: int) -> list[int]:
    starts = list(range(0, max(length - tile, 0) + 1, stride))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def _forward(net: Callable[[torch.Tensor], torch.Tensor], patch: np.ndarray, device: torch.device) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(patch, np.float32)).to(device)
    x = x.reshape(1, -1, *x.shape[-2:])  # H x W or C x H x W -> 1 x C x H x W
    return net(x)[0].float().cpu().numpy()


def whole_image_fits(shape: tuple[int, int], max_pixels: int) -> bool:
    """Whether an image of this shape goes through the network in one piece."""
    return np.prod([sum(_padding(n)) + n for n in shape]) <= max_pixels


@torch.no_grad()
def tiled_apply(net: Callable[[torch.Tensor], torch.Tensor], image: np.ndarray, device: torch.device,
                tile: int = 512, overlap: int = 64, max_pixels: int = 4096 * 4096) -> np.ndarray:
    """Run `net` (B,C,h,w -> B,K,h,w) over a float image, H x W or C x H x W (channels given to the
    network together, e.g. pix2pix's mask and background); return its K output channels, K x H x W (NPsSegNet
    with a boundary channel gives two: both come from the same forward pass).

    In one forward pass when the padded image has at most `max_pixels` pixels, else in tiles of `tile`²
    overlapping by `overlap`.
    """
    height, width = image.shape[-2:]
    if whole_image_fits((height, width), max_pixels):
        (top, bottom), (left, right) = pads = (_padding(height), _padding(width))
        return _forward(net, _pad(image, pads), device)[:, top:top + height, left:left + width]

    tile = _ceil_to(max(tile, MULTIPLE), MULTIPLE)
    pads = []
    for n in (height, width):  # an axis shorter than a tile is padded to a multiple of 32 and not cut
        fits = n + 2 * MARGIN <= tile
        pads.append(_padding(n) if fits else _padding(n, tile))
    padded = _pad(image, tuple(pads))
    side_h, side_w = padded.shape[-2:]
    th, tw = min(tile, side_h), min(tile, side_w)
    overlap = min(overlap, th // 2, tw // 2)
    out = None
    best = np.full((side_h, side_w), -1.0, np.float32)
    for y in _starts(side_h, th, th - overlap):
        for x in _starts(side_w, tw, tw - overlap):
            result = _forward(net, padded[..., y:y + th, x:x + tw], device)
            if out is None:
                out = np.zeros((len(result), side_h, side_w), np.float32)
            score = np.minimum.outer(_edge_distance(th, y, side_h), _edge_distance(tw, x, side_w))
            take = score > best[y:y + th, x:x + tw]
            out[:, y:y + th, x:x + tw][:, take] = result[:, take]
            best[y:y + th, x:x + tw][take] = score[take]
    (top, _), (left, _) = pads
    return out[:, top:top + height, left:left + width]
