"""rough_masks, pseudo_labels: one rough mask PNG per image of the morphology (rough_masks) or the contrast subset
(pseudo_labels), as params.subset says."""

import json
from pathlib import Path

from tqdm import tqdm

from tgan import job
from tgan.annotations import ignore_mask
from tgan.images import read_image, write_mask
from tgan.options import SegmentOptions, from_dict
from tgan.rough_masks import make_segmenter

if snakemake.params.settings["method"] == "classical":  # no network: the job does without torch (seconds a job)
    job.start(snakemake)
    device = None
else:
    device = job.start_network(snakemake)
images = json.loads(Path(snakemake.input.subsets).read_text())[snakemake.params.subset]
segmenter = make_segmenter(snakemake.params.settings, snakemake.params.polarity, device, snakemake.input.get("model"),
                           from_dict(SegmentOptions, snakemake.params.segment))
out = Path(snakemake.output[0])
out.mkdir(parents=True, exist_ok=True)  # a subset may be empty
for name, path in tqdm(images.items(), desc=snakemake.rule, unit="image"):
    image = read_image(path)
    mask = segmenter(image, ignore_mask(image.shape, json.loads(Path(path).with_suffix(".json").read_text())))
    write_mask(out / f"{name}.png", mask)
    print(f"{name}: {mask.mean() * 100:.1f} % particle pixels")
