"""CycleGAN gen1 <-> real contrast images (step 6): learns the real contrast and noise.

Domain A is the 1st generation (pix2pix output, right geometry, too clean), domain B the contrast
subset of real images. Only G_A->B is kept: it turns gen1 into gen2. The cycle loss is what keeps
gen2 on the geometry of gen1, hence of its synthetic mask.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import networks
from .data import CropSampler, to_gan
from .diffaugment import augmenter
from .options import CycleGANOptions, as_dict
from .training import (ImagePool, RandomStates, fingerprint, linear_decay, run_epochs, save_checkpoint,
                       seed_everything)


def build_generator(arch: dict) -> nn.Module:
    return networks.ResnetGenerator(1, 1, arch["ngf"], arch["n_blocks"], arch.get("identity_init", False))


def train_cyclegan(gen1: list[np.ndarray], real: list[np.ndarray], opts: CycleGANOptions,
                   out_dir: str | os.PathLike, device: torch.device, seed: int = 0) -> Path:
    """Train, checkpointing every epoch in out_dir; return the path of the gen1 -> gen2 generator file."""
    out_dir = Path(out_dir)
    options = as_dict(opts)
    arch = {"ngf": opts.ngf, "n_blocks": opts.n_blocks, "identity_init": opts.identity_init}
    domain_a = [to_gan(i)[None] for i in gen1]
    domain_b = [to_gan(i)[None] for i in real]
    key = {"options": options, "seed": seed, "data": fingerprint(domain_a + domain_b)}
    generator = seed_everything(seed)
    sampler_a = CropSampler(domain_a, opts.crop_size, generator)
    sampler_b = CropSampler(domain_b, opts.crop_size, generator)

    def make_d() -> nn.Module:
        return networks.discriminator(opts.discriminator, 1, opts.ndf, opts.n_layers_d, opts.encoder,
                                      opts.decoder_channels, opts.encoder_depth).to(device)

    g_ab, g_ba = build_generator(arch).to(device), build_generator(arch).to(device)
    d_a, d_b = make_d(), make_d()
    betas = (opts.beta1, 0.999)
    opt_g = torch.optim.Adam(itertools.chain(g_ab.parameters(), g_ba.parameters()), lr=opts.lr, betas=betas)
    opt_d = torch.optim.Adam(itertools.chain(d_a.parameters(), d_b.parameters()), lr=opts.lr, betas=betas)
    schedule = linear_decay(opts.n_epochs, opts.n_epochs_decay)
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, schedule)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, schedule)
    pool_a, pool_b = ImagePool(opts.pool_size, generator), ImagePool(opts.pool_size, generator)
    mse, l1 = nn.MSELoss(), nn.L1Loss()
    steps = max(1, opts.crops_per_epoch // opts.batch_size)
    augment = augmenter(opts.diffaugment, generator)

    def gan_loss(pred: torch.Tensor, is_real: bool) -> torch.Tensor:
        return mse(pred, torch.ones_like(pred) if is_real else torch.zeros_like(pred))

    def run_epoch(epoch: int) -> dict[str, float]:
        sums = np.zeros(4)
        for _ in range(steps):
            real_a = sampler_a.batch(opts.batch_size).to(device)
            real_b = sampler_b.batch(opts.batch_size).to(device)
            fake_b, fake_a = g_ab(real_a), g_ba(real_b)

            opt_g.zero_grad()
            for p in itertools.chain(d_a.parameters(), d_b.parameters()):
                p.requires_grad_(False)
            loss_gan = gan_loss(d_b(augment(fake_b)), True) + gan_loss(d_a(augment(fake_a)), True)
            loss_cycle = l1(g_ba(fake_b), real_a) + l1(g_ab(fake_a), real_b)
            loss_idt = l1(g_ab(real_b), real_b) + l1(g_ba(real_a), real_a) if opts.lambda_identity > 0 else torch.zeros(())
            (loss_gan + opts.lambda_cycle * loss_cycle
             + opts.lambda_cycle * opts.lambda_identity * loss_idt).backward()
            opt_g.step()

            for p in itertools.chain(d_a.parameters(), d_b.parameters()):
                p.requires_grad_(True)
            opt_d.zero_grad()
            pooled_b, pooled_a = pool_b.query(fake_b), pool_a.query(fake_a)
            loss_d = 0.5 * (gan_loss(d_b(augment(real_b)), True) + gan_loss(d_b(augment(pooled_b)), False)
                            + gan_loss(d_a(augment(real_a)), True) + gan_loss(d_a(augment(pooled_a)), False))
            loss_d.backward()
            opt_d.step()
            sums += [loss_d.item(), loss_gan.item(), loss_cycle.item(), loss_idt.item()]
        lr = opt_g.param_groups[0]["lr"]
        sched_g.step()
        sched_d.step()
        d, g, cyc, idt = sums / steps
        return {"loss_d": d, "loss_g_gan": g, "loss_cycle": cyc, "loss_identity": idt, "lr": lr}

    trained = {"g_ab": g_ab, "g_ba": g_ba, "d_a": d_a, "d_b": d_b, "opt_g": opt_g, "opt_d": opt_d,
               "sched_g": sched_g, "sched_d": sched_d, "pool_a": pool_a, "pool_b": pool_b,
               "rng": RandomStates(generator)}
    run_epochs("train_cyclegan", out_dir, key, trained, opts.n_epochs + opts.n_epochs_decay, run_epoch)
    path = out_dir / "generator.pt"
    save_checkpoint(path, {"kind": "cyclegan", "arch": arch, "state_dict": g_ab.state_dict()})
    return path
