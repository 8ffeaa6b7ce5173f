"""Options of every trained stage, in one place.

Defaults are the paper's settings (GPU scale). The workflow passes each config section through
`from_dict`, which refuses unknown keys so that a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")


@dataclass
class GANOptions:
    """Shared by pix2pix and CycleGAN: Adam 2e-4, beta1 0.5, 100 epochs + 50 of linear decay, batch 4."""

    crop_size: int = 512
    batch_size: int = 4
    crops_per_epoch: int = 200
    n_epochs: int = 100
    n_epochs_decay: int = 50
    lr: float = 2e-4
    beta1: float = 0.5
    discriminator: str = "patchgan"
    ndf: int = 64
    n_layers_d: int = 3
    diffaugment: list[str] = field(default_factory=list)  # of the discriminator's inputs (not in the paper)


@dataclass
class Pix2PixOptions(GANOptions):
    """pix2pix mask -> image with a UNet++ generator; loss LSGAN + lambda * L1."""

    lambda_l1: float = 10.0
    encoder: str = "resnet34"
    encoder_depth: int = 5
    decoder_channels: list[int] = field(default_factory=lambda: [256, 128, 64, 32, 16])
    background: bool = False  # also given the particle-free real background (not in the paper)


@dataclass
class CycleGANOptions(GANOptions):
    """CycleGAN gen1 <-> real contrast with ResNet generators; cycle and identity losses, pool 50."""

    enabled: bool = True  # False: the stack trains no CycleGAN (NPsSegNet trains on gen1; the workflow reads it)
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50
    ngf: int = 64
    n_blocks: int = 9
    identity_init: bool = True
    encoder: str = "resnet34"  # used only by the UNet++ discriminator option
    encoder_depth: int = 5
    decoder_channels: list[int] = field(default_factory=lambda: [256, 128, 64, 32, 16])


@dataclass
class NPsSegNetOptions:
    """NPsSegNet (UNet++, ResNet34): Focal(alpha 0.25) + Jaccard, AdamW 3e-4 wd 5e-4, StepLR(5, 0.9)."""

    encoder: str = "resnet34"
    encoder_depth: int = 5
    decoder_channels: list[int] = field(default_factory=lambda: [256, 128, 64, 32, 16])
    encoder_weights: str | None = None
    epochs: int = 150
    batch_size: int = 4
    crop_size: int = 512
    lr: float = 3e-4
    weight_decay: float = 5e-4
    step_size: int = 5
    gamma: float = 0.9
    focal_alpha: float = 0.25
    augment_p: float = 0.5
    val_fraction: float = 0.1
    real_fraction: float = 0.0  # share of training crops from real images with rough-mask pseudo-labels
    pseudo_labels: str = "morphology"  # those real images: the morphology subset, or 'all' of the stack's images
    ignore_band_px: int = 0     # pixels each side of a pseudo-label outline left out of the loss
    ema_decay: float = 0.0      # 0: keep the last weights; else their exponential moving average per step
    members: int = 1            # networks trained with different seeds; the model averages their probabilities
    instances: str = "none"     # none: particle mask only (the paper); boundary: also where touching particles meet;
    #                             distance: also each particle's normalised distance to its own background

    INSTANCES: ClassVar[tuple[str, ...]] = ("none", "boundary", "distance")

    def __post_init__(self):
        if self.instances not in self.INSTANCES:
            raise ValueError(f"NPsSegNetOptions: instances {self.instances!r}: one of {', '.join(self.INSTANCES)}")


@dataclass
class SegmentOptions:
    """Inference: images of at most max_pixels (after padding to sides divisible by 32) go through the
    network whole; larger ones in tiles of `tile` px overlapping by `overlap` px. Probability threshold.
    seed_depth: of an NPsSegNet with a distance channel (npssegnet.instances distance), how far a maximum of the
    predicted distance (0-1) must stand above the saddle to a higher one to seed a particle of its own."""

    tile: int = 512
    overlap: int = 64
    threshold: float = 0.5
    max_pixels: int = 2048 * 2048
    seed_depth: float = 0.1


@dataclass
class PSDOptions:
    """How masks become particles: watershed splitting of touching particles, the counting rule for particles
    cut by the border, the smallest particle kept (diameter in px always; in nm too when the image is
    calibrated), and the bootstrap resamples of the summary's intervals."""

    BORDER_RULES: ClassVar[tuple[str, ...]] = ("exclude", "include", "correct")
    REPLACED: ClassVar[dict[str, str]] = {
        "exclude_border": "replaced by border: exclude (was exclude_border: true), include (false), or correct "
                          "(cut particles left out, the others weighted against the size bias)"}
    split_touching: bool = True
    neck_depth_px: float = 1.0
    neck_depth_ratio: float = 0.15
    border: str = "exclude"  # particles cut by the border: exclude, include, or correct (Miles-Lantuejoul)
    min_diameter_px: float = 3.0
    min_diameter_nm: float = 0.0
    min_diameter_fraction: float = 0.0  # of the image's typical (diameter-weighted median) diameter
    bootstrap: int = 1000  # resamples of the summary's 95 % intervals

    def __post_init__(self):
        if self.border not in self.BORDER_RULES:
            raise ValueError(f"PSDOptions: border {self.border!r}: one of {', '.join(self.BORDER_RULES)}")

    @property
    def exclude_border(self) -> bool:
        """Whether particles cut by the border stay out of the particles counted (exclude and correct)."""
        return self.border != "include"


def stack_section(config: dict, stack: str | None, section: str) -> dict:
    """A config section with the stack's own overrides (stacks: NAME: SECTION: ...) merged over it, as every
    reader of the config merges them (the workflow, `tgan watch`, the CPU-time estimate); the section alone
    without a stack. A new dict: popping its keys leaves the config as it is."""
    entry = (config.get("stacks") or {}).get(stack) or {} if stack else {}
    return {**(config.get(section) or {}), **(entry.get(section) or {})}


def from_dict(cls: type[T], values: dict[str, Any] | None) -> T:
    """Build an options object from a config section, refusing keys the stage does not know."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    replaced = getattr(cls, "REPLACED", {})
    if set(unknown) & set(replaced):
        raise ValueError(f"{cls.__name__}: " + "; ".join(f"{k}: {replaced[k]}" for k in unknown if k in replaced))
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**values)


def as_dict(options) -> dict[str, Any]:
    return dataclasses.asdict(options)
