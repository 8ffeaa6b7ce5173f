"""train_pix2pix: (rough mask, image) pairs of the morphology subset -> generator.pt, and its self-check
(results/{stack}/checks/pix2pix.csv: does it reproduce its training pairs?), written failed or not: what a
failure does (self_checks.on_failure) is up to generate_gen1, so that the setting never retrains pix2pix."""

import json
from pathlib import Path

import pandas as pd

from tgan import checks, job
from tgan.generate import load_generator, translate
from tgan.options import Pix2PixOptions, from_dict
from tgan.pix2pix import conditions, morphology_pairs, train_pix2pix
from tgan.validation import check_training_crop

device = job.start_network(snakemake)
params = snakemake.params
options = from_dict(Pix2PixOptions, params.options)
masks, images = morphology_pairs(snakemake.input.subsets, snakemake.input.rough_masks)
morphology = json.loads(Path(snakemake.input.subsets).read_text())["morphology"]
check_training_crop(dict(zip(morphology.values(), images, strict=True)), options.crop_size, "pix2pix.crop_size")
path = train_pix2pix(masks, images, options, Path(snakemake.output.generator).parent, device, params.seed)
net = load_generator(path, device)
generated = [translate(net, c, device) for c in conditions(masks, images, net.takes_background)]
figures = checks.pix2pix_figures(generated, images, masks, pd.read_csv(snakemake.output.losses), params.polarity)
checks.judge("pix2pix", figures, snakemake.output.checks)  # a failure is decided by generate_gen1
