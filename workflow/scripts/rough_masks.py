"""rough_masks: one rough mask PNG per image of the morphology subset (of every image with params.images 'all')."""

import json
from pathlib import Path

from tqdm import tqdm

from tgan import job
from tgan.images import read_image, write_mask
from tgan.options import PSDOptions, SegmentOptions, from_dict
from tgan.rough_masks import make_segmenter
from tgan.subsets import pseudo_label_images

device = job.start(snakemake)
images = pseudo_label_images(json.loads(Path(snakemake.input.subsets).read_text()), snakemake.params.images)
segmenter = make_segmenter(snakemake.params.settings, snakemake.params.polarity, device, snakemake.input.get("model"),
                           from_dict(SegmentOptions, snakemake.params.segment), from_dict(PSDOptions, snakemake.params.psd))
out = Path(snakemake.output[0])
for name, path in tqdm(images.items(), desc="rough_masks", unit="image"):
    mask = segmenter(read_image(path))
    write_mask(out / f"{name}.png", mask)
    print(f"{name}: {mask.mean() * 100:.1f} % particle pixels")
