"""train_supervised: one fold of the manual-labelling baseline, NPsSegNet on the ground-truth masks (or on
the ellipses inscribed in the ground-truth boxes)."""

import json
from pathlib import Path

from tgan import job
from tgan.evaluation import cover_tiles
from tgan.ground_truth import read_truth_mask
from tgan.images import read_image
from tgan.npssegnet import train_npssegnet
from tgan.options import NPsSegNetOptions, from_dict

device = job.start_network(snakemake)
params = snakemake.params
images, masks = [], []
for image_path, record_path, truth_path in zip(snakemake.input.images, snakemake.input.calibrations,
                                               snakemake.input.ground_truth):
    image = read_image(image_path)
    # the crop import_image gave the image (config, vendor metadata, a detected bar) is the ground truth's too
    truth = read_truth_mask(truth_path, params.kind, image.shape, json.loads(Path(record_path).read_text())["crop"])
    images += cover_tiles(image, params.tile)
    masks += cover_tiles(truth, params.tile)
print(f"fold {snakemake.wildcards.fold}: {len(snakemake.input.images)} images, {len(images)} tiles of {params.tile} px")
train_npssegnet(images, masks, from_dict(NPsSegNetOptions, params.options), Path(snakemake.output.model).parent,
                device, params.seed, epoch_size=params.epoch_size)
