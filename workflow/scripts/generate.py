"""generate_gen1 / generate_gen2: apply a trained generator to every image of a folder, then the
generation's self-check (results/{stack}/checks/gen1.csv or gen2.csv)."""

from pathlib import Path

import numpy as np
from tqdm import tqdm

from tgan import checks, job
from tgan.background import BackgroundCrops, particle_free
from tgan.generate import load_generator, translate
from tgan.images import read_image, read_mask, write_image
from tgan.pix2pix import morphology_pairs

device = job.start_network(snakemake)
net = load_generator(snakemake.input.generator, device)
params = snakemake.params
out = Path(snakemake.output.images)
out.mkdir(parents=True, exist_ok=True)
sources = sorted(Path(snakemake.input.masks).glob("*.png"))
backgrounds = None
if net.takes_background:  # pix2pix.background: each synthetic mask on a crop of a real particle-free support
    rough, real = morphology_pairs(snakemake.input.subsets, snakemake.input.rough_masks)
    backgrounds = BackgroundCrops([particle_free(i, m) for m, i in zip(rough, real, strict=True)], params.seed)
inputs, generated = [], []
for index, path in enumerate(tqdm(sources, desc=snakemake.rule, unit="image")):
    inputs.append(read_image(path))
    condition = inputs[-1] if backgrounds is None else np.stack([inputs[-1], backgrounds.crop(index, inputs[-1].shape)])
    generated.append(translate(net, condition, device))
    write_image(out / path.name, generated[-1])
stack = snakemake.wildcards.stack
if snakemake.rule == "generate_gen1":  # against the real images, as measured by pix2pix's check
    masks = [input_ > 0.5 for input_ in inputs]  # the synthetic masks just read (0 or 1)
    contrast = checks.reference(snakemake.input.reference, "real_contrast")
    spread = checks.reference(snakemake.input.reference, "real_spread")
    stage, advice = "gen1", ("pix2pix makes particles on its training masks but not on the synthetic ones: look at "
                             f"results/{stack}/synthetic_masks (sizes, density) against the rough masks.")
else:  # gen2 against gen1: the CycleGAN must keep the particles where the synthetic masks put them
    masks = [read_mask(Path(snakemake.input.synthetic_masks) / path.name) for path in sources]
    contrast = checks.particle_contrast(inputs, masks, params.polarity)  # inputs: gen1
    spread = checks.spread(inputs)
    stage, advice = "gen2", ("The CycleGAN lost the geometry of gen1: try cyclegan.identity_init: true, a larger "
                             "cyclegan.lambda_cycle or fewer CycleGAN epochs.")
figures = checks.generation_figures(generated, masks, contrast, spread, params.polarity)
checks.judge(stage, figures, snakemake.output.checks, params.on_failure,
             f"{advice} To keep the images and look at them, rerun with --config self_checks='{{on_failure: warn}}'.")
