"""compare: the PSDs of two or more stacks, each set against the first -> compare.csv and compare.png; the log
gives one line per stack (its D50, the shift, the test, the verdict)."""

import pandas as pd

from tgan import job
from tgan.compare import compare_stacks, read_summary_row, summary_line
from tgan.figures import compare_figure
from tgan.files import write_csv

job.start(snakemake)
params = snakemake.params
name = snakemake.wildcards.name
particles = {stack: pd.read_csv(path) for stack, path in zip(params.stacks, snakemake.input.particles)}
summaries = {stack: read_summary_row(path, stack) for stack, path in zip(params.stacks, snakemake.input.summaries)}
table = compare_stacks(name, particles, summaries, params.replicates, params.seed)
write_csv(snakemake.output.table, table)
compare_figure(particles, table, snakemake.output.figure, f"comparison {name}: each stack against {params.stacks[0]}",
               params.replicates, params.seed)
for _, row in table.iterrows():
    print(summary_line(row))
