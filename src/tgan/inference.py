"""Tiled inference: apply a fully convolutional network to an image of any size.

Large micrographs (2048² and more) do not fit through a UNet++ at once on a laptop, and the
networks need sides divisible by 32. The image is reflect-padded (also by a margin on every side,
so that the zero padding of the convolutions does not draw a frame along the image border) and cut
into overlapping tiles;
each output pixel is taken from the tile in which it lies farthest from an inner tile edge, where
a network's border effects live, so tile seams do not show in the output.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

MULTIPLE = 32  # UNet++ with 5 down-samplings needs sides divisible by 2**5


def _ceil_to(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


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


@torch.no_grad()
def tiled_apply(net: Callable[[torch.Tensor], torch.Tensor], image: np.ndarray, device: torch.device,
                tile: int = 512, overlap: int = 64) -> np.ndarray:
    """Run `net` (B,1,h,w -> B,1,h,w) over a 2-D float image in overlapping tiles; return H x W."""
    height, width = image.shape
    margin = max(min(overlap // 2, height - 1, width - 1), 0)
    image = np.pad(image, margin, mode="reflect")
    h, w = image.shape
    tile = _ceil_to(max(tile, MULTIPLE), MULTIPLE)
    side_h = _ceil_to(h, MULTIPLE) if h <= tile else h
    side_w = _ceil_to(w, MULTIPLE) if w <= tile else w
    th, tw = min(tile, side_h), min(tile, side_w)
    padded = np.pad(image, ((0, side_h - h), (0, side_w - w)), mode="reflect" if min(h, w) > 1 else "edge")
    overlap = min(overlap, th // 2, tw // 2)
    out = np.zeros(padded.shape, np.float32)
    best = np.full(padded.shape, -1.0, np.float32)
    for y in _starts(side_h, th, th - overlap):
        for x in _starts(side_w, tw, tw - overlap):
            patch = torch.from_numpy(np.ascontiguousarray(padded[y:y + th, x:x + tw]))[None, None].to(device)
            result = net(patch.float())[0, 0].float().cpu().numpy()
            score = np.minimum.outer(_edge_distance(th, y, side_h), _edge_distance(tw, x, side_w))
            take = score > best[y:y + th, x:x + tw]
            out[y:y + th, x:x + tw][take] = result[take]
            best[y:y + th, x:x + tw][take] = score[take]
    return out[margin:margin + height, margin:margin + width]
