"""NPsSegNet (step 8): UNet++ trained on the virtual dataset (gen2 image, synthetic mask), then
used to segment every real image of the stack.

Settings follow the paper: smp Focal (alpha 0.25) + Jaccard losses, AdamW 3e-4 / wd 5e-4,
StepLR(5, 0.9), batch 4, albumentations flips, ShiftScaleRotate and GaussNoise with p 0.5.

Optionally (`real_fraction` > 0) part of each epoch's crops come from the stack's real images with
pseudo-labels (their rough masks): the virtual pairs teach the shapes, the real crops the real
contrast that a CPU-scale GAN chain does not reproduce. A band of `ignore_band_px` around each
pseudo-label outline, where a rough mask is least sure, is left out of the loss (label IGNORE).

Optionally (`members` > 1) several networks are trained on the same data with different seeds and
the model averages their probabilities: at a CPU budget two runs on the same data differ by about as
much as two seeds of the whole chain (bench, one gen2: STEM box recall 0.71-0.78 over three seeds), and
the average depends less on one run's luck (measured: above the mean run in three of four bench cases).

Optionally (`ema_decay` > 0) the model written is the exponential moving average of the weights (and
BatchNorm statistics) over the training steps, not the last step's: at a CPU budget of a few hundred
steps at a barely decayed learning rate the last weights carry the noise of the last few batches.

Optionally (`instances` boundary) NPsSegNet has a second output channel, the boundary between touching
particles (`instance_boundary`), trained with the same losses: a binary mask cannot say where two touching
particles meet, and the PSD's distance watershed (tgan.psd) only splits them where their outline narrows to
a neck. The synthetic masks are drawn particle by particle, so the virtual dataset knows every boundary;
on the real crops the rough masks, split by the PSD's watershed, give them. The PSD cuts the particle mask
along the predicted boundaries before its watershed.

Optionally (`instances` distance) the second channel is each particle's distance to its own background, normalised
per particle (0 at its outline, 1 at its centre; `instance_distance`), as StarDist's object probabilities: a target
on every particle pixel, not on the few where two meet, which the boundary channel did not learn at the CPU preset
(docs/benchmarks.md). It is regressed with StarDist's loss, the binary cross-entropy against the continuous target
(on the particles and a band of DISTANCE_BAND_PX around them), beside the particle channel's Focal + Jaccard: the
mean squared error of its sigmoid, tried first, left the map blurred at the preset's 20 epochs (EMPS bench, seed 0:
centres at 0.6 at most, 1 in the target). Its answer is handed on as boundaries too (`boundary_mask`): a watershed
of the predicted map inside the particle mask, seeded at its maxima that stand segment.seed_depth above the saddle
to a higher one (its h-maxima, the "dynamic" markers of distance-map regression, Naylor et al. 2019; the PSD's neck
depth on the mask's own distance transform is the same rule), gives the particles, and the boundary is where two of
them meet; the PSD then cuts along it as along the boundary channel's. A depth, not a fixed level: a map learned
briefly is blurred (on the test pairs, with the squared error, the centres reached ~0.8 and the line where two meet
dipped only to ~0.55, so the parts above 0.5 joined them), but each particle keeps a maximum of its own.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import segmentation_models_pytorch as smp
import torch
from scipy import ndimage
from skimage.measure import label
from skimage.morphology import h_maxima
from skimage.segmentation import watershed
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from . import networks, quality
from .data import standardise
from .evaluation import cover_tiles
from .inference import tiled_apply
from .options import NPsSegNetOptions, PSDOptions, SegmentOptions, as_dict
from .psd import particle_labels
from .training import (RandomStates, fingerprint, load_checkpoint, refuse_skipped, run_epochs, save_checkpoint,
                       seed_everything)

ARCH_KEYS = ("encoder", "encoder_depth", "decoder_channels", "instances")
IGNORE = 2  # label of pixels left out of the loss (0 background, 1 particle)
# The boundary channel: pixels within this many px (chessboard distance) of two particles, on both sides of
# their contact, and a gap between them narrower than twice as many: a band 2 px wide where they touch.
BOUNDARY_PX = 1
PARTICLES, BOUNDARY = 0, 1  # NPsSegNet's output channels (BOUNDARY: the second one, boundary or distance)
# The distance channel: its loss covers the particles and the background within this many px of one (chessboard),
# where the map must fall to 0; the rest of the background is the particle channel's alone.
DISTANCE_BAND_PX = 3
MEMBER_SEED_STEP = 1000  # member k trains with the stack's seed + k * this (members of seeds 0 and 1 differ)


def pseudo_labels(mask: np.ndarray, band_px: int) -> np.ndarray:
    """uint8 labels of a rough mask: 1 particle, 0 background, IGNORE within band_px of an outline."""
    mask = np.asarray(mask, bool)
    labels = mask.astype(np.uint8)
    if band_px > 0:
        structure = ndimage.generate_binary_structure(2, 1)
        grown = ndimage.binary_dilation(mask, structure, iterations=band_px)
        shrunk = ndimage.binary_erosion(mask, structure, iterations=band_px, border_value=1)
        labels[grown & ~shrunk] = IGNORE
    return labels


def instance_boundary(labels: np.ndarray) -> np.ndarray:
    """Where two particles of instance labels meet: the pixels within BOUNDARY_PX of two different labels (the
    largest label of their neighbourhood differs from its smallest non-zero one). A binary mask has none."""
    labels = np.asarray(labels, np.int32)
    size = 2 * BOUNDARY_PX + 1
    highest = ndimage.maximum_filter(labels, size=size)
    lowest = ndimage.minimum_filter(np.where(labels > 0, labels, labels.max() + 1), size=size)
    return lowest < highest


def instance_distance(labels: np.ndarray) -> np.ndarray:
    """Each particle's (instance label's) Euclidean distance to its own background (the background and every
    other particle), divided by its largest: float32, 1 at each particle's centre, falling to its outline, 0 on
    the background. Two touching particles each fall towards the line where they meet."""
    labels = np.asarray(labels, np.int32)
    distance = np.zeros(labels.shape, np.float32)
    for k, box in enumerate(ndimage.find_objects(labels), 1):
        if box is None:
            continue
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)  # a margin of background around it
        own = labels[box] == k
        inside = ndimage.distance_transform_edt(own)
        distance[box][own] = (inside / inside.max())[own]
    return distance


def second_target(labels: np.ndarray, particles: np.ndarray, instances: str) -> np.ndarray:
    """The target of NPsSegNet's second channel from instance labels, IGNORE where the particle target is:
    boundary, their `instance_boundary` (uint8); distance, their `instance_distance` on the particles and
    within DISTANCE_BAND_PX of them, IGNORE beyond (float32)."""
    if instances == "boundary":
        target = instance_boundary(labels).astype(np.uint8)
    else:
        target = instance_distance(labels)
        band = ndimage.binary_dilation(labels > 0, np.ones((3, 3), bool), iterations=DISTANCE_BAND_PX)
        target[~band] = IGNORE
    target[particles == IGNORE] = IGNORE
    return target


def rough_instances(mask: np.ndarray) -> np.ndarray:
    """A rough mask's particles as the PSD would split them (its distance watershed at the default settings:
    not the stack's psd settings, which must not retrain NPsSegNet): the pseudo-labels' instances."""
    return particle_labels(np.asarray(mask, bool), PSDOptions())


def virtual_target(labels: np.ndarray, instances: str) -> np.ndarray:
    """What NPsSegNet learns from a mask (binary, or instance labels): uint8 particle labels H x W, and with
    instances boundary or distance their `second_target` as a second channel, H x W x 2 (float32 for distance)."""
    particles = np.asarray(labels, bool).astype(np.uint8)
    if instances == "none":
        return particles
    second = second_target(labels, particles, instances)
    return np.stack([particles.astype(second.dtype), second], axis=-1)


def pseudo_target(mask: np.ndarray, band_px: int, instances: str) -> np.ndarray:
    """What NPsSegNet learns from a rough mask: its `pseudo_labels`, and with instances boundary or distance the
    `second_target` of its `rough_instances` as a second channel (IGNORE where the particle labels are)."""
    particles = pseudo_labels(mask, band_px)
    if instances == "none":
        return particles
    second = second_target(rough_instances(mask), particles, instances)
    return np.stack([particles.astype(second.dtype), second], axis=-1)


def pseudo_label_dataset(real_images: list[np.ndarray], rough_masks: list[np.ndarray], tile: int,
                         opts: NPsSegNetOptions) -> tuple[list[np.ndarray], list[np.ndarray], NPsSegNetOptions]:
    """NPsSegNet's (image, mask) pairs and options with no virtual images (fallback method pseudo_labels_only,
    tgan.fallback): every training crop is cut from the real images with their rough masks as pseudo-labels
    (real_fraction 1, the ignore band of `opts`); the pairs, tiles of the virtual images' side cut from the
    same images, serve only its validation figures, which are therefore not held out."""
    images = [t for image in real_images for t in cover_tiles(image, tile)]
    masks = [t for mask in rough_masks
             for t in cover_tiles(rough_instances(mask) if opts.instances != "none" else np.asarray(mask, bool),
                                  tile)]
    return images, masks, replace(opts, real_fraction=1.0)


def augmentation(opts: NPsSegNetOptions, rngs: tuple[np.random.Generator, random.Random]) -> A.Compose:
    """The paper's augmentation; GaussNoise at the old albumentations default (variance 10-50 of 255²).

    Every transform draws from the two given generators (not from generators of its own), so that the
    checkpoint can hold the augmentation's random state and a resumed run continues it.
    """
    p = opts.augment_p
    transform = A.Compose([
        A.PadIfNeeded(opts.crop_size, opts.crop_size, border_mode=cv2.BORDER_REFLECT_101),
        A.RandomCrop(opts.crop_size, opts.crop_size),
        A.HorizontalFlip(p=p),
        A.VerticalFlip(p=p),
        A.ShiftScaleRotate(border_mode=cv2.BORDER_REFLECT_101, p=p),
        A.GaussNoise(std_range=(0.012, 0.028), p=p),
    ])
    transform.set_random_state(*rngs)
    return transform


def split_validation(n: int, fraction: float, generator: torch.Generator) -> tuple[list[int], list[int]]:
    """Seeded train/validation split of the virtual dataset; at least one image on each side."""
    if n < 2:
        raise ValueError(f"NPsSegNet needs at least 2 virtual images to train and validate, got {n}")
    order = torch.randperm(n, generator=generator).tolist()
    n_val = min(n - 1, max(1, round(n * fraction)))
    return sorted(order[n_val:]), sorted(order[:n_val])


def _batch(images, masks, indices, transform=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(B x 1 x H x W images, B x K x H x W targets) of training targets H x W (K = 1) or H x W x K."""
    xs, ys = [], []
    for i in indices:
        image, mask = images[i], masks[i]
        if transform is not None:
            out = transform(image=image, mask=mask)
            image, mask = np.clip(out["image"], 0.0, 1.0), out["mask"]
        xs.append(standardise(image))
        ys.append(mask)
    ys = torch.from_numpy(np.stack(ys).astype(np.float32))
    return torch.from_numpy(np.stack(xs))[:, None], ys[:, None] if ys.ndim == 3 else ys.permute(0, 3, 1, 2)


def distance_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the distance channel against its target in [0, 1], on the pixels not IGNOREd (0
    when there are none)."""
    kept = y != IGNORE
    total = nn.functional.binary_cross_entropy_with_logits(logits[kept], y[kept], reduction="sum")
    return total / kept.sum().clamp(min=1)


def channel_losses(focal, jaccard, instances: str) -> list:
    """The loss of each output channel: Focal + Jaccard of the particles, and of the boundaries (instances
    boundary), or the `distance_loss` (instances distance)."""
    mask_loss = lambda logits, y: focal(logits, y) + jaccard(logits, y)  # noqa: E731
    return [mask_loss] + {"none": [], "boundary": [mask_loss], "distance": [distance_loss]}[instances]


def _losses(losses: list, logits: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """The loss of each output channel (`channel_losses`)."""
    return [loss(logits[:, k:k + 1], y[:, k:k + 1]) for k, loss in enumerate(losses)]


def _fill(indices: list[int], size: int) -> list[int]:
    """The indices repeated often enough to draw `size` of them in an epoch."""
    return indices * -(-size // len(indices)) if size else []


def train_npssegnet(images: list[np.ndarray], masks: list[np.ndarray], opts: NPsSegNetOptions,
                    out_dir: str | os.PathLike, device: torch.device, seed: int = 0,
                    epoch_size: int | None = None,
                    real: tuple[list[np.ndarray], list[np.ndarray]] = ((), ())) -> Path:
    """Train on (image, mask) pairs; log loss and validation IoU per epoch; return the model path.

    masks: binary masks or instance labels; with opts.instances boundary, instance labels give the boundary
    channel its targets (`virtual_target`; a binary mask has no boundaries to learn).

    epoch_size: random crops drawn per epoch (default: one per training image). A few large real
    images (the supervised baseline) thus get as many training steps as a large virtual dataset.
    real: (real images, their rough masks), of which `opts.real_fraction` of each epoch's crops are
    cut (pseudo-labels, see the module docstring); validation stays on the (image, mask) pairs.
    `opts.members` networks are trained, member k with seed `seed + MEMBER_SEED_STEP * k` in out_dir
    (k = 0) or out_dir/member{k}; the model file holds them all (see the module docstring).
    """
    out_dir = Path(out_dir)
    if opts.members < 1:
        raise ValueError(f"experimental.npssegnet.members is {opts.members}: at least one network must be trained")
    real_images, real_masks = real
    use_real = opts.real_fraction > 0
    if use_real and not real_images:
        raise ValueError("npssegnet.real_fraction > 0 needs real images with rough masks to train on")
    images = [np.asarray(i, np.float32) for i in images]
    masks = [virtual_target(m, opts.instances) for m in masks]
    n_virtual = len(images)
    if use_real:
        images += [np.asarray(i, np.float32) for i in real_images]
        masks += [pseudo_target(m, opts.ignore_band_px, opts.instances) for m in real_masks]
    options = as_dict(opts)
    # what a member's checkpoint must match to be resumed, but its seed; the number of members is no setting
    # of a member (adding members resumes the ones already trained), and which real images were pseudo-
    # labelled is part of the data
    key = {"options": {k: v for k, v in options.items() if k not in ("members", "pseudo_labels")},
           "data": fingerprint(images + masks),
           "epoch_size": epoch_size}
    states = [_train_member(images, masks, n_virtual, opts, out_dir if k == 0 else out_dir / f"member{k}", device,
                            {**key, "seed": seed + MEMBER_SEED_STEP * k}, k)
              for k in range(opts.members)]
    path = out_dir / "model.pt"
    save_checkpoint(path, {"kind": "npssegnet", "arch": {k: options[k] for k in ARCH_KEYS}, "state_dicts": states})
    return path


def _train_member(images: list[np.ndarray], masks: list[np.ndarray], n_virtual: int, opts: NPsSegNetOptions,
                  out_dir: Path, device: torch.device, key: dict, member: int) -> dict:
    """One network on the first n_virtual (image, mask) pairs and the real crops after them, with the seed
    and epoch size of its checkpoint key; its state dict."""
    seed, epoch_size = key["seed"], key["epoch_size"]
    use_real = len(images) > n_virtual
    generator = seed_everything(seed)
    train_idx, val_idx = split_validation(n_virtual, opts.val_fraction, generator)
    size = epoch_size or len(train_idx)
    n_real = round(size * opts.real_fraction) if use_real else 0
    # each image often enough to fill its share of an epoch; the real crops replace virtual ones, so
    # the epoch keeps its length (and its time)
    pool = _fill(train_idx, size - n_real)
    real_pool = _fill(list(range(n_virtual, len(images))), n_real)
    augmentation_rngs = (np.random.default_rng(seed), random.Random(seed))
    transform = augmentation(opts, augmentation_rngs)

    net = networks.npssegnet(opts.encoder, opts.decoder_channels, opts.encoder_depth, opts.encoder_weights,
                             outputs(opts.instances)).to(device)
    focal = smp.losses.FocalLoss(smp.losses.BINARY_MODE, alpha=opts.focal_alpha, ignore_index=IGNORE)
    jaccard = smp.losses.JaccardLoss(smp.losses.BINARY_MODE, from_logits=True, ignore_index=IGNORE)
    losses = channel_losses(focal, jaccard, opts.instances)
    optimiser = torch.optim.AdamW(net.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimiser, step_size=opts.step_size, gamma=opts.gamma)
    ema = (AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(opts.ema_decay), use_buffers=True)
           if opts.ema_decay > 0 else None)
    model = ema.module if ema is not None else net  # what is validated and saved

    def run_epoch(epoch: int) -> dict[str, float]:
        net.train()
        order = [pool[i] for i in torch.randperm(len(pool), generator=generator).tolist()][:size - n_real]
        if n_real:
            order += [real_pool[i] for i in torch.randperm(len(real_pool), generator=generator).tolist()][:n_real]
            order = [order[i] for i in torch.randperm(len(order), generator=generator).tolist()]
        total, batches = 0.0, 0
        for start in range(0, len(order), opts.batch_size):
            x, y = _batch(images, masks, order[start:start + opts.batch_size], transform)
            x, y = x.to(device), y.to(device)
            if len(x) < 2 and len(order) >= 2:
                continue  # a batch of one breaks BatchNorm statistics
            optimiser.zero_grad()
            loss = sum(_losses(losses, net(x), y))
            loss.backward()
            optimiser.step()
            if ema is not None:
                ema.update_parameters(net)
            total, batches = total + loss.item(), batches + 1
        lr = optimiser.param_groups[0]["lr"]
        scheduler.step()
        val_loss, val_ious, val_distance = evaluate(model, images, masks, val_idx, opts.batch_size, device, losses)
        row = {"loss": total / max(batches, 1), "val_loss": val_loss, "val_iou": val_ious[PARTICLES], "lr": lr}
        if opts.instances == "distance":
            return row | {"val_distance_loss": val_distance}
        return row | ({"val_boundary_iou": val_ious[BOUNDARY]} if len(val_ious) > 1 else {})

    rngs = RandomStates(generator, augmentation_rngs[:1], augmentation_rngs[1:])
    trained = {"net": net, "optimiser": optimiser, "scheduler": scheduler, "rng": rngs}
    if ema is not None:
        trained["ema"] = ema
    run_epochs("train_npssegnet" + (f" member {member}" if member else ""), out_dir, key, trained, opts.epochs,
               run_epoch)
    return model.state_dict()


@torch.no_grad()
def evaluate(net, images, masks, indices, batch_size, device, losses) -> tuple[float, list[float], float]:
    """Mean loss, pooled (micro) IoU of each mask channel (particles; boundaries) on the given images, and the
    mean `distance_loss` of a distance channel (NaN without one)."""
    net.eval()
    totals, stats, distance = [], [], []
    masked = [k for k, loss in enumerate(losses) if loss is not distance_loss]
    for start in range(0, len(indices), batch_size):
        x, y = _batch(images, masks, indices[start:start + batch_size])
        x, y = x.to(device), y.to(device)
        logits = net(x)
        channels = _losses(losses, logits, y)
        totals.append(sum(channels).item())
        distance += [c.item() for c, loss in zip(channels, losses) if loss is distance_loss]
        stats.append([smp.metrics.get_stats(logits[:, k:k + 1].sigmoid(), y[:, k:k + 1].long(), mode="binary",
                                            threshold=0.5) for k in masked])
    ious = [float(smp.metrics.iou_score(*(torch.cat(s) for s in zip(*channel)), reduction="micro"))
            for channel in zip(*stats)]
    return float(np.mean(totals)), ious, float(np.mean(distance)) if distance else float("nan")


def outputs(instances: str) -> int:
    """NPsSegNet's output channels: particles, and with instances boundary or distance a second one."""
    return 1 if instances == "none" else 2


class MeanProbability(nn.Module):
    """Several NPsSegNets as one: the mean of their probabilities (of each output channel), returned as a logit
    (what `segment`, the tiles and the threshold expect)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logit(torch.stack([m(x).sigmoid() for m in self.members]).mean(0), eps=1e-6)


def load_model(path: str | os.PathLike, device: torch.device) -> nn.Module:
    """Rebuild NPsSegNet from its model file in eval mode (its members averaged when it has several), with its
    second channel's kind as `instances` (what `boundary_mask` needs)."""
    state = load_checkpoint(path)
    refuse_skipped(path, state)
    if state.get("kind") != "npssegnet":
        raise ValueError(f"{path}: not an NPsSegNet model file (kind {state.get('kind')!r})")
    arch = state["arch"]
    nets = []
    for state_dict in state.get("state_dicts") or [state["state_dict"]]:  # state_dict: files of before members
        nets.append(networks.npssegnet(arch["encoder"], arch["decoder_channels"], arch["encoder_depth"],
                                       outputs=outputs(arch.get("instances", "none"))))  # none: files of before
        nets[-1].load_state_dict(state_dict)
    net = nets[0] if len(nets) == 1 else MeanProbability(nets)
    net.instances = arch.get("instances", "none")
    return net.to(device).eval()


def probability(net: nn.Module, image: np.ndarray, device: torch.device, opts: SegmentOptions) -> np.ndarray:
    """Particle probability per pixel of a [0, 1] image of any size (whole when it fits, else tiled)."""
    return particle_probability(logits(net, image, device, opts))


def logits(net: nn.Module, image: np.ndarray, device: torch.device, opts: SegmentOptions) -> np.ndarray:
    """The network's logits of a [0, 1] image of any size, one H x W map per output channel (K x H x W): one
    forward pass gives the particles and, where NPsSegNet has them, the boundaries."""
    return tiled_apply(net, standardise(image), device, opts.tile, opts.overlap, opts.max_pixels)


def particle_probability(logits_: np.ndarray) -> np.ndarray:
    """The particle probability per pixel, of the `logits`."""
    return 1.0 / (1.0 + np.exp(-logits_[PARTICLES]))


def _above(logit: np.ndarray, threshold: float) -> np.ndarray:
    """The logits against the threshold's logit (the sigmoid of a million pixels costs more than the comparison
    and changes nothing)."""
    return logit >= np.log(threshold / (1.0 - threshold))


def particle_mask(logits_: np.ndarray, threshold: float) -> np.ndarray:
    """The binary particle mask, of the `logits`."""
    return _above(logits_[PARTICLES], threshold)


def boundary_mask(logits_: np.ndarray, threshold: float, instances: str = "boundary",
                  seed_depth: float = SegmentOptions.seed_depth) -> np.ndarray | None:
    """Where touching particles meet, of the `logits` of an NPsSegNet whose second channel is `instances` (its
    model's `instances`): the boundary channel above the threshold, or the boundaries between the particles of
    `distance_instances`; None for an NPsSegNet without a second channel. The PSD splits the mask along them."""
    if len(logits_) <= BOUNDARY:
        return None
    if instances == "distance":
        return instance_boundary(distance_instances(1.0 / (1.0 + np.exp(-logits_[BOUNDARY])),
                                                    particle_mask(logits_, threshold), seed_depth))
    return _above(logits_[BOUNDARY], threshold)


def distance_instances(distance: np.ndarray, mask: np.ndarray, seed_depth: float) -> np.ndarray:
    """Instance labels of a particle mask from a predicted distance map: a watershed of the map inside the mask,
    seeded at its maxima there that stand seed_depth above the saddle to a higher one (a particle's centre; on
    touching test pairs and a 20-epoch network, 0.05 gave 7-8 seeds for 6 particles, 0.1 six, 0.2 three or four);
    a part of the mask without a seed (its map below seed_depth) stays unlabelled (0), and the PSD's own watershed
    then treats it."""
    inside = np.where(mask, distance, 0.0).astype(np.float64)
    seeds = label(h_maxima(inside, seed_depth).astype(bool) & mask, connectivity=2)
    return watershed(-distance, seeds, mask=mask, connectivity=2)


def segment(net: nn.Module, image: np.ndarray, device: torch.device, opts: SegmentOptions) -> np.ndarray:
    """Binary particle mask of a [0, 1] image."""
    return particle_mask(logits(net, image, device, opts), opts.threshold)


def answer(net: nn.Module, image: np.ndarray, rough: np.ndarray, device: torch.device, opts: SegmentOptions,
           npssegnet_may_answer: bool = True, outline: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
           ignore: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray], dict]:
    """(the image's answer, NPsSegNet's own masks, the figures): the floor and quality estimate of tgan.quality
    with this network, run on the image and on its flips; what `segment` and `tgan watch` give each image.
    outline: (image, mask) -> mask, the rough masks' outline redrawing (rough_masks.outline), applied to
    NPsSegNet's mask too. The own masks are `npssegnet` (redrawn) and, for a network with a boundary channel
    that may answer, `boundary` (where touching particles meet: psd splits the answer along them, whichever
    mask it is). ignore: the burned-in annotations of the image (import record), no part of the sample."""
    out = logits(net, image, device, opts)
    answered, candidate, figures = quality.assess(
        image, particle_probability(out), rough, opts.threshold, lambda flipped: probability(net, flipped, device, opts),
        npssegnet_may_answer, outline, ignore)
    own = {"npssegnet": candidate}
    boundary = boundary_mask(out, opts.threshold, net.instances, opts.seed_depth)
    if boundary is not None and npssegnet_may_answer:
        own["boundary"] = boundary
    return answered, own, figures
