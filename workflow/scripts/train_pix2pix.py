"""train_pix2pix: (rough mask, image) pairs of the morphology subset -> generator.pt."""

import json
from pathlib import Path

from tgan import job
from tgan.images import read_image, read_mask
from tgan.options import Pix2PixOptions, from_dict
from tgan.pix2pix import train_pix2pix

device = job.start(snakemake)
morphology = json.loads(Path(snakemake.input.subsets).read_text())["morphology"]
masks = [read_mask(Path(snakemake.input.rough_masks) / f"{name}.png") for name in morphology]
images = [read_image(path) for path in morphology.values()]
train_pix2pix(masks, images, from_dict(Pix2PixOptions, snakemake.params.options),
              Path(snakemake.output.generator).parent, device, snakemake.params.seed)
