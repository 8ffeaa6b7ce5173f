"""Options of every trained stage, and the config they come from.

Every setting's default lives in the workflow's schema (workflow/schemas/config.schema.yaml): the paper's settings
(GPU scale). The option dataclasses take their defaults from it (`schema_defaults`), the workflow and `tgan watch`
fill them into the config with `validate_config`, and the settings measured as not helping are read from the
schema's `experimental:` section, merged into their step's options (`merged_section`). The workflow passes each
config section through `from_dict`, which refuses unknown keys so that a typo never silently falls back to a default.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

T = TypeVar("T")

# The workflow beside the package (the repository the package is installed from, editable, by `make install`; the
# link workflow/scripts/tgan resolves to it too).
WORKFLOW = Path(__file__).resolve().parents[2]
SCHEMA = WORKFLOW / "workflow" / "schemas" / "config.schema.yaml"
# The step sections: global settings that a stack may override (stacks: NAME: SECTION:).
STEP_SECTIONS = ("split_subsets", "rough_masks", "pix2pix", "synthesize_masks", "cyclegan", "npssegnet", "segment",
                 "psd")


@cache
def schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


def section_keys(section: str) -> list[str]:
    """Every key of a step section, experimental ones included, in the schema's order (the paper settings' order,
    which the rules' params keep: `_key_order`)."""
    return list(schema()["$defs"][section]["properties"])


def experimental_keys(section: str) -> list[str]:
    """The section's keys that live under experimental: SECTION: (none for most sections)."""
    return list(((schema()["properties"]["experimental"]["properties"].get(section) or {}).get("properties") or {}))


def defaults(section: str) -> dict[str, Any]:
    """The defaults of a step section, its experimental keys included, in the schema's order (a new dict)."""
    top = schema()["properties"]
    values = {**_defaults(top[section]), **_defaults(top["experimental"]["properties"].get(section) or {})}
    return {key: copy.deepcopy(values[key]) for key in section_keys(section) if key in values}


def _defaults(block: dict) -> dict[str, Any]:
    return {key: spec["default"] for key, spec in (block.get("properties") or {}).items() if "default" in spec}


def schema_defaults(section: str):
    """Class decorator: a dataclass whose fields are the annotated names of the class and its bases, each with its
    default from the schema's `section`. A field the schema has no default for, or a schema key without a field,
    is an error at import (the two cannot drift apart)."""
    def build(cls):
        annotations = {}
        for klass in reversed(cls.__mro__):
            annotations.update({name: kind for name, kind in klass.__dict__.get("__annotations__", {}).items()
                                if "ClassVar" not in str(kind)})
        values = defaults(section)
        if set(annotations) != set(values):
            raise TypeError(f"{cls.__name__}: fields and the schema's {section} defaults differ: "
                            f"{sorted(set(annotations) ^ set(values))}")
        own = {name: kind for name, kind in cls.__dict__.get("__annotations__", {}).items() if "ClassVar" in str(kind)}
        cls.__annotations__ = {**own, **{name: annotations[name] for name in values}}
        for name, value in values.items():
            setattr(cls, name, field(default_factory=lambda v=value: copy.deepcopy(v))
                    if isinstance(value, (list, dict)) else value)
        return dataclass(cls)
    return build


class GANOptions:
    """Shared by pix2pix and CycleGAN (the paper: Adam 2e-4, beta1 0.5, 100 epochs + 50 of linear decay, batch 4)."""

    crop_size: int
    batch_size: int
    crops_per_epoch: int
    n_epochs: int
    n_epochs_decay: int
    lr: float
    beta1: float
    discriminator: str  # experimental: patchgan (the paper) or unetplusplus
    ndf: int
    n_layers_d: int
    diffaugment: list[str]  # experimental: augmentation of the discriminator's inputs


@schema_defaults("pix2pix")
class Pix2PixOptions(GANOptions):
    """pix2pix mask -> image with a UNet++ generator; loss LSGAN + lambda * L1."""

    lambda_l1: float
    encoder: str
    encoder_depth: int
    decoder_channels: list[int]
    background: bool  # experimental: also given the particle-free real background


@schema_defaults("cyclegan")
class CycleGANOptions(GANOptions):
    """CycleGAN gen1 <-> real contrast with ResNet generators; cycle and identity losses, image pool."""

    enabled: bool  # False: the stack trains no CycleGAN (NPsSegNet trains on gen1; the workflow reads it)
    lambda_cycle: float
    lambda_identity: float
    pool_size: int
    ngf: int
    n_blocks: int
    identity_init: bool
    encoder: str  # experimental: used only by the UNet++ discriminator
    encoder_depth: int
    decoder_channels: list[int]


@schema_defaults("npssegnet")
class NPsSegNetOptions:
    """NPsSegNet (the paper: UNet++, ResNet34; Focal(alpha 0.25) + Jaccard, AdamW 3e-4 wd 5e-4, StepLR(5, 0.9))."""

    encoder: str
    encoder_depth: int
    decoder_channels: list[int]
    encoder_weights: str | None
    epochs: int
    batch_size: int
    crop_size: int
    lr: float
    weight_decay: float
    step_size: int
    gamma: float
    focal_alpha: float
    augment_p: float
    val_fraction: float
    real_fraction: float  # share of training crops from real images with rough-mask pseudo-labels
    pseudo_labels: str  # experimental: those real images, the morphology subset or 'all' of the stack's images
    ignore_band_px: int  # experimental: pixels each side of a pseudo-label outline left out of the loss
    ema_decay: float  # experimental: 0 keeps the last weights; else their exponential moving average per step
    members: int  # experimental: networks trained with different seeds; the model averages their probabilities
    instances: str  # none: particle mask only (the paper); boundary: also where touching particles meet;
    #                 distance: also each particle's normalised distance to its own background

    INSTANCES: ClassVar[tuple[str, ...]] = ("none", "boundary", "distance")

    def __post_init__(self):
        if self.instances not in self.INSTANCES:
            raise ValueError(f"NPsSegNetOptions: instances {self.instances!r}: one of {', '.join(self.INSTANCES)}")


@schema_defaults("segment")
class SegmentOptions:
    """Inference: images of at most max_pixels (after padding to sides divisible by 32) go through the
    network whole; larger ones in tiles of `tile` px overlapping by `overlap` px. Probability threshold.
    seed_depth: of an NPsSegNet with a distance channel (npssegnet.instances distance), how far a maximum of the
    predicted distance (0-1) must stand above the saddle to a higher one to seed a particle of its own."""

    max_pixels: int
    tile: int
    overlap: int
    threshold: float
    seed_depth: float


@schema_defaults("psd")
class PSDOptions:
    """How masks become particles: watershed splitting of touching particles, the counting rule for particles
    cut by the border, the smallest particle kept (diameter in px always; in nm too when the image is
    calibrated), and the bootstrap resamples of the summary's intervals."""

    BORDER_RULES: ClassVar[tuple[str, ...]] = ("exclude", "include", "correct")
    REPLACED: ClassVar[dict[str, str]] = {
        "exclude_border": "replaced by border: exclude (was exclude_border: true), include (false), or correct "
                          "(cut particles left out, the others weighted against the size bias)"}
    close_gaps_from_px: float  # one-pixel gaps closed where the typical particle is this wide (psd.close_gaps)
    split_touching: bool
    neck_depth_px: float
    neck_depth_ratio: float
    border: str  # particles cut by the border: exclude, include, or correct (Miles-Lantuejoul)
    min_diameter_px: float
    min_diameter_nm: float
    min_diameter_fraction: float  # of the image's typical (diameter-weighted median) diameter
    bootstrap: int  # resamples of the summary's 95 % intervals

    def __post_init__(self):
        if self.border not in self.BORDER_RULES:
            raise ValueError(f"PSDOptions: border {self.border!r}: one of {', '.join(self.BORDER_RULES)}")

    @property
    def exclude_border(self) -> bool:
        """Whether particles cut by the border stay out of the particles counted (exclude and correct)."""
        return self.border != "include"


def merged_section(config: dict, entry: dict | None, section: str) -> dict:
    """A step section as a stack runs it: the global section, its experimental keys (experimental: SECTION:), and
    the stack's `entry` overrides of both merged over them (a stack's overrides hold no defaults, so what it does
    not name keeps the global value); the global settings alone without an entry. A new dict: changing it leaves
    the config as it is."""
    entry = entry or {}
    own, experimental = config.get(section) or {}, (config.get("experimental") or {}).get(section) or {}
    merged = {key: copy.deepcopy({**own, **experimental}[key]) for key in _key_order(section, own, experimental)}
    for layer in (entry.get(section), (entry.get("experimental") or {}).get(section)):
        merged.update(copy.deepcopy(layer or {}))
    return merged


def _key_order(section: str, own: dict, experimental: dict) -> list[str]:
    """The keys of a global section and of its experimental part in the order the section held them before they
    were split: Snakemake compares a rule's params as written, key order included, and a changed order reruns the
    rule. The config files' keys come first (Snakemake's merge), then the defaults the schema filled in, in the
    schema's order: the experimental keys join that tail at their schema place."""
    rank = {key: k for k, key in enumerate(section_keys(section))}
    keys = list(own)
    start = len(keys)
    while start > 0 and (start == len(keys) or rank.get(keys[start - 1], -1) < rank.get(keys[start], -1)):
        start -= 1
    tail = keys[start:] + [key for key in experimental if key not in own]
    return keys[:start] + sorted(tail, key=lambda key: rank.get(key, len(rank)))


def stack_section(config: dict, stack: str | None, section: str) -> dict:
    """`merged_section` of a configured stack (stacks: NAME:), or of the global settings alone without a stack, as
    every reader of the config merges them (the workflow, `tgan watch`, the CPU-time estimate)."""
    return merged_section(config, (config.get("stacks") or {}).get(stack) if stack else None, section)


def validate_config(config: dict) -> dict:
    """The config as the workflow runs it, checked and completed in place: settings moved to experimental: are
    named with their new place, the schema validates it and fills in every default
    (`snakemake.utils.validate(..., set_default=True)`; a stack's overrides get none), and settings that would do
    nothing are refused. The Snakefile and `tgan watch` (cli.load_config) both call it. Returns the config."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    _refuse_moved_keys(config)
    try:
        validate(config, str(SCHEMA), set_default=True)
    except WorkflowError as err:
        raise ValueError(f"{err}\n(settings and their defaults: {SCHEMA})") from None
    # a default filled in is the schema's own object, the same one in every stack that lacks the key: copies instead
    config.update(_unshared(config))
    _refuse_idle_settings(config)
    return config


def _unshared(value):
    """A copy in which no dict or list appears twice (deepcopy keeps shared objects shared)."""
    if isinstance(value, dict):
        return {key: _unshared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unshared(item) for item in value]
    return value


def _refuse_moved_keys(config: dict) -> None:
    """Experimental settings given in their step's section (where they were before): an error naming the new place."""
    places = [("", config)] + [(f"stacks.{name}.", entry) for name, entry in (config.get("stacks") or {}).items()
                               if isinstance(entry, dict)]
    for prefix, values in places:
        if "adaptation_rounds" in values and prefix:
            raise ValueError(f"{prefix}adaptation_rounds is experimental: set it as "
                             f"{prefix}experimental: {{adaptation_rounds: N}} (the measured reason: {SCHEMA})")
        for section in STEP_SECTIONS:
            moved = sorted(set(values.get(section) or {}) & set(experimental_keys(section)))
            if moved:
                raise ValueError(f"{prefix}{section}: {', '.join(moved)} experimental: set under "
                                 f"{prefix}experimental: {section}: ... (the measured reason: {SCHEMA})")


# Settings that act only with another setting of the same stack: (section, keys, what they need, whether a stack's
# merged settings give it). `model` is the merged npssegnet section of the stack whose NPsSegNet segments it.
DEPENDENT = (
    ("npssegnet", ("pseudo_labels", "ignore_band_px"), "npssegnet.real_fraction above 0 (real crops to take "
     "pseudo-labels from)", lambda get, model: get("npssegnet")["real_fraction"] > 0),
    ("cyclegan", ("encoder", "encoder_depth", "decoder_channels"), "experimental.cyclegan.discriminator "
     "unetplusplus (they are its encoder's)", lambda get, model: get("cyclegan")["discriminator"] == "unetplusplus"),
    ("rough_masks", ("checkpoint", "model_type", "points_per_side", "max_area_fraction"), "rough_masks.method sam",
     lambda get, model: get("rough_masks")["method"] == "sam"),
    ("rough_masks", ("from_stack",), "rough_masks.method model", lambda get, model: get("rough_masks")["method"] == "model"),
    ("segment", ("seed_depth",), "npssegnet.instances distance (of the NPsSegNet that segments the stack)",
     lambda get, model: model["instances"] == "distance"),
)


def _name(section: str, key: str) -> str:
    return f"experimental.{section}.{key}" if key in experimental_keys(section) else f"{section}.{key}"


def _refuse_idle_settings(config: dict) -> None:
    """Settings that would change nothing: a stack's own setting that its other settings leave idle, a global one
    changed from its default that is idle in every stack, and decoder_channels that do not match encoder_depth."""
    stacks = config.get("stacks") or {}
    names = list(stacks) or [None]

    def getter(name):
        return lambda section: stack_section(config, name, section)

    def model(name):
        return stack_section(config, (stacks.get(name) or {}).get("segment_with", name) if name else None, "npssegnet")

    for section, keys, needs, acts in DEPENDENT:
        active = {name: acts(getter(name), model(name)) for name in names}
        for key in keys:
            for name in stacks:
                entry = stacks[name]
                own = {**(entry.get(section) or {}), **((entry.get("experimental") or {}).get(section) or {})}
                if key in own and not active[name]:
                    raise ValueError(f"stack {name}: {_name(section, key)} {own[key]!r} does nothing without {needs}")
            value = stack_section(config, None, section).get(key)
            if key in defaults(section) and value != defaults(section)[key] and not any(active.values()):
                raise ValueError(f"{_name(section, key)} {value!r} does nothing without {needs}"
                                 + (" in any stack" if stacks else ""))
            if key == "from_stack" and value is not None and not any(active.values()):
                raise ValueError(f"rough_masks.from_stack {value!r} does nothing without {needs}")
    for name in names:
        where = f"stack {name}: " if name else ""
        for section in ("pix2pix", "npssegnet", "cyclegan"):
            net = stack_section(config, name, section)
            if section == "cyclegan" and net["discriminator"] != "unetplusplus":
                continue
            if len(net["decoder_channels"]) != net["encoder_depth"]:
                raise ValueError(f"{where}{_name(section, 'decoder_channels')} {net['decoder_channels']}: one entry "
                                 f"per encoder stage, {net['encoder_depth']} with encoder_depth {net['encoder_depth']}")


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
