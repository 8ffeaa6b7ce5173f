"""psd: particles.csv, summary.csv and histogram.png of one stack from its segmentation masks."""

from pathlib import Path

import pandas as pd

from tgan import job
from tgan.images import read_mask
from tgan.psd import histogram, measure, summarise

job.start(snakemake)
names = [Path(p).stem for p in snakemake.input]
tables = [measure(read_mask(p), name) for p, name in zip(snakemake.input, names)]
particles = pd.concat(tables, ignore_index=True)
particles.to_csv(snakemake.output.particles, index=False)
summary = summarise(particles, names)
summary.to_csv(snakemake.output.summary, index=False)
histogram(particles, snakemake.output.histogram, snakemake.wildcards.stack)
print(summary.to_string(index=False))
