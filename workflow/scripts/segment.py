"""segment: every image of one stack -> binary particle mask PNGs in the output folder, one model load."""

import time
from pathlib import Path

from tgan import job
from tgan.images import read_image, write_mask
from tgan.npssegnet import load_model, segment
from tgan.options import SegmentOptions, from_dict

device = job.start_network(snakemake)
net = load_model(snakemake.input.model, device)
options = from_dict(SegmentOptions, snakemake.params.settings)
out = Path(snakemake.output[0])
out.mkdir(parents=True, exist_ok=True)
images = snakemake.input.images
for i, path in enumerate(images, 1):
    start = time.perf_counter()
    mask = segment(net, read_image(path), device, options)
    write_mask(out / f"{Path(path).stem}.png", mask)
    print(f"[{i}/{len(images)}] {Path(path).stem}: {mask.mean() * 100:.1f} % particle pixels, "
          f"{time.perf_counter() - start:.2f} s")
