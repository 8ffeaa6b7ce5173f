"""pix2pix mask -> image (step 3): learns how particles of a given shape look on this support.

Trained on (rough mask, real image) pairs of the morphology subset with random crops; with
`background`, on (rough mask, particle-free background of the image, image) triples, so that the
generator is given the real support instead of inventing it (see background.py). The generator
file holds its architecture next to its weights, so `generate_gen1` rebuilds it alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import networks
from .background import particle_free
from .data import CropSampler, to_gan
from .diffaugment import augmenter
from .images import read_image, read_mask
from .options import Pix2PixOptions, as_dict
from .training import RandomStates, fingerprint, linear_decay, run_epochs, save_checkpoint, seed_everything


def build_generator(arch: dict) -> nn.Module:
    return networks.pix2pix_generator(arch["encoder"], arch["decoder_channels"], arch["encoder_depth"],
                                      2 if arch.get("background") else 1)


def morphology_pairs(subsets: str | os.PathLike, rough_masks: str | os.PathLike) -> tuple[list, list]:
    """The morphology subset's rough masks and images (subsets.json and the rough_masks folder), in order."""
    morphology = json.loads(Path(subsets).read_text())["morphology"]
    return ([read_mask(Path(rough_masks) / f"{name}.png") for name in morphology],
            [read_image(path) for path in morphology.values()])


def conditions(masks: list[np.ndarray], images: list[np.ndarray], background: bool) -> list[np.ndarray]:
    """What the generator is given for each real image: its mask, and with `background` its particle-free
    background too (C x H x W, [0, 1])."""
    return [np.stack([m.astype(np.float32)] + ([particle_free(i, m)] if background else []))
            for m, i in zip(masks, images, strict=True)]


def train_pix2pix(masks: list[np.ndarray], images: list[np.ndarray], opts: Pix2PixOptions,
                  out_dir: str | os.PathLike, device: torch.device, seed: int = 0) -> Path:
    """Train, checkpointing every epoch in out_dir; return the path of the generator file."""
    out_dir = Path(out_dir)
    options = as_dict(opts)
    arch = {k: options[k] for k in ("encoder", "encoder_depth", "decoder_channels", "background")}
    inputs = conditions(masks, images, opts.background)
    pairs = [to_gan(np.concatenate([c, i[None].astype(np.float32)])) for c, i in zip(inputs, images, strict=True)]
    n_in = len(inputs[0])
    key = {"options": options, "seed": seed, "data": fingerprint(pairs)}
    generator = seed_everything(seed)
    sampler = CropSampler(pairs, opts.crop_size, generator)

    net_g = build_generator(arch).to(device)
    net_d = networks.discriminator(opts.discriminator, n_in + 1, opts.ndf, opts.n_layers_d, opts.encoder,
                                   opts.decoder_channels, opts.encoder_depth).to(device)
    opt_g = torch.optim.Adam(net_g.parameters(), lr=opts.lr, betas=(opts.beta1, 0.999))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=opts.lr, betas=(opts.beta1, 0.999))
    schedule = linear_decay(opts.n_epochs, opts.n_epochs_decay)
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, schedule)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, schedule)
    mse, l1 = nn.MSELoss(), nn.L1Loss()
    steps = max(1, opts.crops_per_epoch // opts.batch_size)
    augment = augmenter(opts.diffaugment, generator)  # of (condition, image): photometric on the image only

    def run_epoch(epoch: int) -> dict[str, float]:
        sums = np.zeros(3)
        for _ in range(steps):
            batch = sampler.batch(opts.batch_size).to(device)
            condition, real = batch[:, :n_in], batch[:, n_in:]  # mask (and background), image
            fake = net_g(condition)

            opt_d.zero_grad()
            pred_fake = net_d(augment(torch.cat([condition, fake.detach()], 1)))
            pred_real = net_d(augment(torch.cat([condition, real], 1)))
            loss_d = 0.5 * (mse(pred_fake, torch.zeros_like(pred_fake)) + mse(pred_real, torch.ones_like(pred_real)))
            loss_d.backward()
            opt_d.step()

            opt_g.zero_grad()
            pred_fake = net_d(augment(torch.cat([condition, fake], 1)))
            loss_gan = mse(pred_fake, torch.ones_like(pred_fake))
            loss_l1 = l1(fake, real)
            (loss_gan + opts.lambda_l1 * loss_l1).backward()
            opt_g.step()
            sums += [loss_d.item(), loss_gan.item(), loss_l1.item()]
        lr = opt_g.param_groups[0]["lr"]
        sched_g.step()
        sched_d.step()
        d, g, l1_mean = sums / steps
        return {"loss_d": d, "loss_g_gan": g, "loss_g_l1": l1_mean, "lr": lr}

    trained = {"net_g": net_g, "net_d": net_d, "opt_g": opt_g, "opt_d": opt_d, "sched_g": sched_g, "sched_d": sched_d,
               "rng": RandomStates(generator)}
    run_epochs("train_pix2pix", out_dir, key, trained, opts.n_epochs + opts.n_epochs_decay, run_epoch)
    path = out_dir / "generator.pt"
    save_checkpoint(path, {"kind": "pix2pix", "arch": arch, "state_dict": net_g.state_dict()})
    return path
