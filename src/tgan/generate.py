"""Steps 5 and 7: gen1 = pix2pix(synthetic mask), gen2 = CycleGAN(gen1)."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from . import cyclegan, pix2pix
from .data import from_gan, to_gan
from .inference import tiled_apply
from .training import load_checkpoint, refuse_skipped

BUILDERS = {"pix2pix": pix2pix.build_generator, "cyclegan": cyclegan.build_generator}


def load_generator(path: str | os.PathLike, device: torch.device) -> nn.Module:
    """Rebuild a generator from its file (architecture and weights) in eval mode; its `takes_background`
    says whether it wants a particle-free background beside the mask (experimental.pix2pix.background)."""
    state = load_checkpoint(path)
    refuse_skipped(path, state)
    if state.get("kind") not in BUILDERS:
        raise ValueError(f"{path}: not a generator file (kind {state.get('kind')!r})")
    net = BUILDERS[state["kind"]](state["arch"])
    net.load_state_dict(state["state_dict"])
    net.takes_background = bool(state["arch"].get("background"))
    return net.to(device).eval()


def translate(net: nn.Module, image: np.ndarray, device: torch.device, tile: int = 512,
              overlap: int = 64) -> np.ndarray:
    """Apply a generator to a [0, 1] image or a boolean mask (H x W), or to a mask and its background
    (2 x H x W); return a [0, 1] image."""
    return from_gan(tiled_apply(net, to_gan(image.astype(np.float32)), device, tile, overlap)[0])
