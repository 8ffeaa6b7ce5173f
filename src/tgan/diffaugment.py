"""Differentiable augmentation of what the GAN discriminators see (lever 4: low-data GAN training).

A stack gives pix2pix five images and CycleGAN a few dozen: a discriminator soon tells the real crops
it has seen from anything else, and its gradient stops teaching the generator (seen on a HAADF stack
of 1024-px images: discriminator loss 0.03, L1 flat, gen1 a grey square). DiffAugment (Zhao et al., NeurIPS
2020) transforms every batch the discriminator sees, real and generated alike, in its own step and
in the generator's, with random but differentiable operations: the discriminator cannot memorise
the real crops, and the generator's gradient passes through the transform, so the generated images
are not pushed to look augmented.

Policies: `brightness` (add -0.5..0.5), `contrast` (scale about the mean by 0.5..1.5), `translation`
(shift by up to 1/8 of the side, zero padding), `cutout` (a square of half the side set to zero).
Zhao's `color` is brightness, saturation and contrast; saturation means nothing on one-channel EM
images. Photometric operations touch only the last channel (the image), so that a pix2pix
discriminator's condition (mask, background) stays what it was; geometric ones move every channel
together, so that the condition stays aligned with its image. Parameters are drawn from the stage's
data generator, which the checkpoints hold: a resumed run draws what the uninterrupted run would have.

Measured at CPU scale (docs/benchmarks.md, 2026-12-05): it weakens discriminators that were not
memorising, and costs the STEM bench recall (CycleGAN) or size (pix2pix); off in every preset.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

TRANSLATION = 0.125  # largest shift, in sides (Zhao et al.)
CUTOUT = 0.5  # side of the cut-out square, in sides (Zhao et al.)


def _uniform(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One number in [0, 1) per sample, shaped to broadcast over C x H x W."""
    return torch.rand(x.shape[0], 1, 1, 1, generator=generator).to(x)


def _brightness(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return x + (_uniform(x, generator) - 0.5)


def _contrast(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def _translation(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n, c, h, w = x.shape
    sh, sw = int(h * TRANSLATION + 0.5), int(w * TRANSLATION + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1), generator=generator)
    dx = torch.randint(-sw, sw + 1, (n, 1), generator=generator)
    rows = (torch.arange(h)[None] + sh - dy).to(x.device)  # n x h: the padded row each output row reads
    cols = (torch.arange(w)[None] + sw - dx).to(x.device)
    padded = F.pad(x, [sw, sw, sh, sh])
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def _cutout(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    top = torch.randint(0, h + 1 - ch % 2, (n, 1), generator=generator) - ch // 2
    left = torch.randint(0, w + 1 - cw % 2, (n, 1), generator=generator) - cw // 2
    rows, cols = torch.arange(h)[None], torch.arange(w)[None]
    in_rows = (rows >= top) & (rows < top + ch)
    in_cols = (cols >= left) & (cols < left + cw)
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return x * keep[:, None].to(x)


PHOTOMETRIC = {"brightness": _brightness, "contrast": _contrast}
GEOMETRIC = {"translation": _translation, "cutout": _cutout}
POLICIES = (*PHOTOMETRIC, *GEOMETRIC)


def augmenter(policy: list[str], generator: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function batch (N x C x H x W, in [-1, 1]) -> augmented batch, for the discriminator's inputs.

    policy: names from POLICIES, applied in POLICIES' order whatever the order given (empty: the batch
    unchanged, the paper's training); photometric ones change only the last channel.
    """
    unknown = [name for name in policy if name not in POLICIES]
    if unknown:
        raise ValueError(f"diffaugment: unknown policy {', '.join(unknown)}; known: {', '.join(POLICIES)}")
    ordered = [name for name in POLICIES if name in policy]

    def augment(x: torch.Tensor) -> torch.Tensor:
        for name in ordered:
            if name in PHOTOMETRIC:
                condition, image = x[:, :-1], x[:, -1:]
                x = torch.cat([condition, PHOTOMETRIC[name](image, generator)], 1)
            else:
                x = GEOMETRIC[name](x, generator)
        return x

    return augment
