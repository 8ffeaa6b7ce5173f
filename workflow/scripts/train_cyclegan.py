"""train_cyclegan: gen1 images <-> contrast subset of real images -> generator.pt (gen1 -> gen2)."""

import json
from pathlib import Path

from tgan import job
from tgan.cyclegan import train_cyclegan
from tgan.images import read_image
from tgan.options import CycleGANOptions, from_dict

device = job.start_network(snakemake)
contrast = json.loads(Path(snakemake.input.subsets).read_text())["contrast"]
gen1 = [read_image(p) for p in sorted(Path(snakemake.input.gen1).glob("*.png"))]
real = [read_image(p) for p in contrast.values()]
train_cyclegan(gen1, real, from_dict(CycleGANOptions, snakemake.params.options),
               Path(snakemake.output.generator).parent, device, snakemake.params.seed)
