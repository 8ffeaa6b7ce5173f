"""segment: one real image -> binary particle mask PNG."""

from tgan import job
from tgan.images import read_image, write_mask
from tgan.npssegnet import load_model, segment
from tgan.options import SegmentOptions, from_dict

device = job.start(snakemake)
net = load_model(snakemake.input.model, device)
mask = segment(net, read_image(snakemake.input.image), device, from_dict(SegmentOptions, snakemake.params.settings))
write_mask(snakemake.output[0], mask)
print(f"{snakemake.wildcards.image}: {mask.mean() * 100:.1f} % particle pixels")
