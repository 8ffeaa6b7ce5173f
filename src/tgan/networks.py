"""All networks of the method in one module (as in junyanz/pytorch-CycleGAN-and-pix2pix).

- pix2pix generator (mask -> image): segmentation-models-pytorch UNet++, tanh output.
- CycleGAN generators (gen1 <-> real contrast): junyanz's ResNet generator, optionally started at
  the identity (see ResnetGenerator), so that it learns contrast and noise, not new geometry.
- Discriminators: 70x70-style PatchGAN, or a UNet++ giving a per-pixel real/fake map (the paper's
  option).
- NPsSegNet: UNet++ with a ResNet34 encoder, one logit channel (two with the boundary channel).

Encoders always start random (`encoder_weights=None`): nothing is downloaded at run time. A local
weights file can be loaded into NPsSegNet's encoder instead.
"""

from __future__ import annotations

from pathlib import Path

import segmentation_models_pytorch as smp
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint_sequential

from .training import load_checkpoint

# A CycleGAN step keeps the activations of six generator passes for its backward pass: with the paper's
# 9-block, 64-filter generators on one 512² crop 10.4 GB (peak, measured on a CPU), on the paper's batches of
# four more than a 24 GB machine holds (killed). Above this size of a pass's first activation (batch x ngf x
# H x W floats; the paper's: 256 MiB, the demo's: 4 MiB), a training pass keeps only the inputs of
# CHECKPOINT_SEGMENTS runs of layers and recomputes each run during the backward pass: the same gradients,
# for about a third more time (batch of four: 11.2 GB peak).
# (The generator's own ReLUs are not in place: a run's saved input must not be changed by the next run.)
CHECKPOINT_ABOVE_BYTES = 32 * 2**20
CHECKPOINT_SEGMENTS = 6


def unetplusplus(encoder: str, in_channels: int, classes: int, decoder_channels, encoder_depth: int,
                 activation: str | None = None) -> nn.Module:
    """A UNet++ with a randomly initialised encoder; decoder width and depth set the cost on a CPU."""
    return smp.UnetPlusPlus(
        encoder_name=encoder,
        encoder_depth=encoder_depth,
        encoder_weights=None,
        decoder_channels=list(decoder_channels)[:encoder_depth],
        in_channels=in_channels,
        classes=classes,
        activation=activation,
    )


def instance_norm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d by an affine InstanceNorm2d, in place.

    A GAN generator is used in eval mode after a few hundred steps, when BatchNorm's running
    statistics are still far from the batch statistics it trained with: its images then come out
    washed out or with inverted contrast. Instance normalisation behaves the same in training and
    inference (junyanz's pix2pix reaches the same with batch statistics at test time).
    """
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.InstanceNorm2d(child.num_features, affine=True))
        else:
            instance_norm(child)
    return module


def pix2pix_generator(encoder: str, decoder_channels, encoder_depth: int, in_channels: int = 1) -> nn.Module:
    """Mask (1 channel, [-1, 1]; with a particle-free background, 2 channels) -> image (1 channel, tanh to [-1, 1])."""
    return instance_norm(unetplusplus(encoder, in_channels, 1, decoder_channels, encoder_depth, activation="tanh"))


class PatchDiscriminator(nn.Module):
    """PatchGAN: classifies overlapping patches as real or fake (junyanz's NLayerDiscriminator)."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=False),
                nn.InstanceNorm2d(ndf * mult, affine=True),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def discriminator(kind: str, in_channels: int, ndf: int, n_layers: int, encoder: str,
                  decoder_channels, encoder_depth: int) -> nn.Module:
    """`patchgan` (default) or `unetplusplus` (per-pixel decisions, as the paper allows)."""
    if kind == "patchgan":
        return PatchDiscriminator(in_channels, ndf, n_layers)
    if kind == "unetplusplus":
        return instance_norm(unetplusplus(encoder, in_channels, 1, decoder_channels, encoder_depth))
    raise ValueError(f"unknown discriminator {kind!r}: use 'patchgan' or 'unetplusplus'")


class ResnetBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=False), nn.InstanceNorm2d(dim, affine=True),
            nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=False), nn.InstanceNorm2d(dim, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """junyanz's CycleGAN generator: 2 down-samplings, n residual blocks, 2 up-samplings, tanh.

    With `identity_init`, the network output is added to the input (in tanh's logit space) and the
    last convolution starts at zero, so training starts from G(x) = x. Between two domains that
    differ in contrast and noise only (gen1 and real images), this keeps the particles where the
    synthetic mask put them and rules out the inverted-contrast solutions that cycle consistency
    alone allows.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ngf: int = 64, n_blocks: int = 9,
                 identity_init: bool = False):
        super().__init__()
        if identity_init and in_channels != out_channels:
            raise ValueError("identity_init needs as many output channels as input channels")
        self.identity_init = identity_init
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=False),
            nn.InstanceNorm2d(ngf, affine=True), nn.ReLU(),
        ]
        for mult in (1, 2):
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=False),
                nn.InstanceNorm2d(ngf * mult * 2, affine=True), nn.ReLU(),
            ]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1, bias=False),
                nn.InstanceNorm2d(ngf * mult // 2, affine=True), nn.ReLU(),
            ]
        last = nn.Conv2d(ngf, out_channels, 7)
        if identity_init:
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        layers += [nn.ReflectionPad2d(3), last]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = x.shape[0] * self.model[1].out_channels * x.shape[-2] * x.shape[-1] * x.element_size()
        if torch.is_grad_enabled() and self.training and first > CHECKPOINT_ABOVE_BYTES:
            out = checkpoint_sequential(self.model, CHECKPOINT_SEGMENTS, x, use_reentrant=False)
        else:
            out = self.model(x)
        if self.identity_init:
            out = out + torch.atanh(x.clamp(-0.999, 0.999))
        return torch.tanh(out)


def npssegnet(encoder: str, decoder_channels, encoder_depth: int, encoder_weights: str | None = None,
              outputs: int = 1) -> nn.Module:
    """NPsSegNet: UNet++ giving one particle logit per pixel (`outputs` 2: and one of the boundary between
    touching particles, tgan.npssegnet).

    `encoder_weights` is a local file (a state dict of the encoder) or None; never a hub name.
    """
    model = unetplusplus(encoder, 1, outputs, decoder_channels, encoder_depth)
    if encoder_weights:
        path = Path(encoder_weights)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: encoder weights file not found (set npssegnet.encoder_weights "
                                    "to a local state-dict file, or to null for a random encoder)")
        model.encoder.load_state_dict(load_checkpoint(path))
    return model
