"""generate_gen1 / generate_gen2: apply a trained generator to every image of a folder."""

from pathlib import Path

from tqdm import tqdm

from tgan import job
from tgan.generate import load_generator, translate
from tgan.images import read_image, write_image

device = job.start(snakemake)
net = load_generator(snakemake.input.generator, device)
settings = snakemake.params.settings
out = Path(snakemake.output[0])
out.mkdir(parents=True, exist_ok=True)
for path in tqdm(sorted(Path(snakemake.input.masks).glob("*.png")), desc=snakemake.rule, unit="image"):
    write_image(out / path.name, translate(net, read_image(path), device, settings["tile"], settings["overlap"]))
