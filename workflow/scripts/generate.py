"""generate_gen1 / generate_gen2: apply a trained generator to every image of a folder, then the
generation's self-check (results/{stack}/checks/gen1.csv or gen2.csv), written failed or not.

generate_gen1 first reads pix2pix's check (self_checks.on_failure: stop stops here, fallback leaves gen1 out);
generate_gen2 leaves gen2 out when the CycleGAN was skipped. A generation left out is an empty folder and a
check file that says why (tgan.fallback)."""

from pathlib import Path

import numpy as np
from tqdm import tqdm

from tgan import checks, job
from tgan.background import BackgroundCrops, particle_free
from tgan.fallback import left_out
from tgan.generate import load_generator, translate
from tgan.images import read_image, read_mask, write_image
from tgan.pix2pix import morphology_pairs
from tgan.training import load_checkpoint, skipped_reason

device = job.start_network(snakemake)
params = snakemake.params
stack = snakemake.wildcards.stack
stage = "gen1" if snakemake.rule == "generate_gen1" else "gen2"
out = Path(snakemake.output.images)
out.mkdir(parents=True, exist_ok=True)


def generate_and_check():
    """The generation, written image by image, and its check."""
    net = load_generator(snakemake.input.generator, device)
    sources = sorted(Path(snakemake.input.masks).glob("*.png"))
    backgrounds = None
    if net.takes_background:  # pix2pix.background: each synthetic mask on a crop of a real particle-free support
        rough, real = morphology_pairs(snakemake.input.subsets, snakemake.input.rough_masks)
        backgrounds = BackgroundCrops([particle_free(i, m) for m, i in zip(rough, real, strict=True)], params.seed)
    inputs, generated = [], []
    for index, path in enumerate(tqdm(sources, desc=snakemake.rule, unit="image")):
        inputs.append(read_image(path))
        condition = inputs[-1]
        if backgrounds is not None:
            condition = np.stack([condition, backgrounds.crop(index, condition.shape)])
        generated.append(translate(net, condition, device))
        write_image(out / path.name, generated[-1])
    if stage == "gen1":  # against the real images, as measured by pix2pix's check
        masks = [input_ > 0.5 for input_ in inputs]  # the synthetic masks just read (0 or 1)
        contrast = checks.reference(snakemake.input.reference, "real_contrast")
        spread = checks.reference(snakemake.input.reference, "real_spread")
    else:  # gen2 against gen1: the CycleGAN must keep the particles where the synthetic masks put them
        masks = [read_mask(Path(snakemake.input.synthetic_masks) / path.name) for path in sources]
        contrast = checks.particle_contrast(inputs, masks, params.polarity)  # inputs: gen1
        spread = checks.spread(inputs)
    checks.judge(stage, checks.generation_figures(generated, masks, contrast, spread, params.polarity),
                 snakemake.output.checks)


if stage == "gen1":
    pix2pix = checks.outcome(snakemake.input.reference)
    skipped = None if checks.go_on(pix2pix, params.on_failure, stack) else left_out(pix2pix)
else:
    skipped = skipped_reason(load_checkpoint(snakemake.input.generator))
if skipped is None:
    generate_and_check()
else:
    checks.skip(stage, snakemake.output.checks, skipped)
