"""train_cyclegan: gen1 images <-> contrast subset of real images -> generator.pt (gen1 -> gen2).

First gen1's check: when gen1 failed it (or was skipped) the CycleGAN is not trained on it (self_checks.on_failure
fallback: generator.pt is then the record of a skipped stage, which no loader takes for a network; stop: the
stack stops here)."""

import json
from pathlib import Path

import pandas as pd

from tgan import checks, job
from tgan.cyclegan import train_cyclegan
from tgan.fallback import left_out
from tgan.files import write_csv
from tgan.images import read_image
from tgan.options import CycleGANOptions, from_dict
from tgan.training import save_skipped
from tgan.validation import check_training_crop

device = job.start_network(snakemake)
params = snakemake.params
gen1_check = checks.outcome(snakemake.input.gen1_check)
if checks.go_on(gen1_check, params.on_failure, snakemake.wildcards.stack):
    options = from_dict(CycleGANOptions, params.options)
    subsets = json.loads(Path(snakemake.input.subsets).read_text())
    contrast = {path: read_image(path) for path in subsets["contrast"].values()}
    check_training_crop(contrast, options.crop_size, "cyclegan.crop_size")
    gen1 = [read_image(p) for p in sorted(Path(snakemake.input.gen1).glob("*.png"))]
    train_cyclegan(gen1, list(contrast.values()), options, Path(snakemake.output.generator).parent, device, params.seed)
else:
    reason = left_out(gen1_check)
    print(f"cyclegan skipped: {reason}")
    save_skipped(snakemake.output.generator, "cyclegan", reason)
    write_csv(snakemake.output.losses, pd.DataFrame(columns=["epoch"]))  # no epoch trained
