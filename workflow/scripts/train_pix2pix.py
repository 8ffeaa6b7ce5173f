"""train_pix2pix: (rough mask, image) pairs of the morphology subset -> generator.pt, and its self-check
(results/{stack}/checks/pix2pix.csv: does it reproduce its training pairs?)."""

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
checks.judge("pix2pix", figures, snakemake.output.checks, params.on_failure,
             "The generator did not learn the particles of its training pairs: look at the rough masks "
             f"(results/{snakemake.wildcards.stack}/rough_masks: do they cover the particles? is the stack's "
             "polarity right?) and the losses (pix2pix/losses.csv); try more pix2pix epochs or another pix2pix.lr.")
