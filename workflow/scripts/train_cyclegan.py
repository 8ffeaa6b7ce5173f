"""train_cyclegan: gen1 images <-> contrast subset of real images -> generator.pt (gen1 -> gen2)."""

import json
from pathlib import Path

from tgan import job
from tgan.cyclegan import train_cyclegan
from tgan.images import read_image
from tgan.options import CycleGANOptions, from_dict
from tgan.validation import check_training_crop

device = job.start_network(snakemake)
options = from_dict(CycleGANOptions, snakemake.params.options)
contrast = {path: read_image(path) for path in json.loads(Path(snakemake.input.subsets).read_text())["contrast"].values()}
check_training_crop(contrast, options.crop_size, "cyclegan.crop_size")
gen1 = [read_image(p) for p in sorted(Path(snakemake.input.gen1).glob("*.png"))]
train_cyclegan(gen1, list(contrast.values()), options, Path(snakemake.output.generator).parent, device,
               snakemake.params.seed)
