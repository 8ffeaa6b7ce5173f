"""train_npssegnet, train_npssegnet_gen1: a virtual dataset (gen2 or gen1 image, synthetic mask) -> model.pt."""

from pathlib import Path

from tgan import job
from tgan.images import read_image, read_mask
from tgan.npssegnet import train_npssegnet
from tgan.options import NPsSegNetOptions, from_dict

device = job.start(snakemake)
names = sorted(p.name for p in Path(snakemake.input.images).glob("*.png"))
images = [read_image(Path(snakemake.input.images) / n) for n in names]
masks = [read_mask(Path(snakemake.input.masks) / n) for n in names]
train_npssegnet(images, masks, from_dict(NPsSegNetOptions, snakemake.params.options),
                Path(snakemake.output.model).parent, device, snakemake.params.seed)
