"""Tiled inference: apply a fully convolutional network to an image of any size.

Large micrographs (2048² and more) do not fit through a UNet++ at once on a laptop, and the
networks need sides divisible by 32. The image is reflect-padded, cut into overlapping tiles,
and the tile outputs are blended with a weight that falls off towards the tile borders, so tile
seams do not show in the output.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

MULTIPLE = 32  # UNet++ with 5 down-samplings needs sides divisible by 2**5


def _ceil_to(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _blend_window(size: int, overlap: int) -> np.ndarray:
    ramp = np.ones(size, np.float32)
    if overlap > 0:
        edge = (np.arange(overlap, dtype=np.float32) + 1.0) / (overlap + 1.0)
        ramp[:overlap], ramp[-overlap:] = edge, edge[::-1]
    return np.outer(ramp, ramp)


def _starts(length: int, tile: int, stride: int) -> list[int]:
    starts = list(range(0, max(length - tile, 0) + 1, stride))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


@torch.no_grad()
def tiled_apply(net: Callable[[torch.Tensor], torch.Tensor], image: np.ndarray, device: torch.device,
                tile: int = 512, overlap: int = 64) -> np.ndarray:
    """Run `net` (B,1,h,w -> B,1,h,w) over a 2-D float image in overlapping tiles; return H x W."""
    h, w = image.shape
    tile = _ceil_to(max(tile, MULTIPLE), MULTIPLE)
    side_h = _ceil_to(h, MULTIPLE) if h <= tile else h
    side_w = _ceil_to(w, MULTIPLE) if w <= tile else w
    th, tw = min(tile, side_h), min(tile, side_w)
    padded = np.pad(image, ((0, side_h - h), (0, side_w - w)), mode="reflect" if min(h, w) > 1 else "edge")
    overlap = min(overlap, th // 2, tw // 2)
    window = _blend_window(max(th, tw), overlap)[:th, :tw]
    out = np.zeros(padded.shape, np.float32)
    weight = np.zeros(padded.shape, np.float32)
    for y in _starts(side_h, th, th - overlap):
        for x in _starts(side_w, tw, tw - overlap):
            patch = torch.from_numpy(np.ascontiguousarray(padded[y:y + th, x:x + tw]))[None, None].to(device)
            result = net(patch.float())[0, 0].float().cpu().numpy()
            out[y:y + th, x:x + tw] += result * window
            weight[y:y + th, x:x + tw] += window
    return (out / weight)[:h, :w]
