"""synthesize_masks: fit particle statistics to the morphology subset's rough masks, draw `count` random masks:
the binary masks, and the same masks as instance labels (one value per particle drawn; the boundary channel of
NPsSegNet learns where touching particles meet from them)."""

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tgan import job
from tgan.files import write_json
from tgan.images import read_mask, write_labels, write_mask
from tgan.synthetic_masks import measure_particles, synthesize_instances

job.start(snakemake)
morphology = sorted(json.loads(Path(snakemake.input.subsets).read_text())["morphology"])
stats = measure_particles([read_mask(Path(snakemake.input.rough_masks) / f"{name}.png") for name in morphology])
write_json(snakemake.output.statistics, stats.to_dict())
print(json.dumps(stats.summary(), indent=1))

settings = snakemake.params.settings
rng = np.random.default_rng(snakemake.params.seed)
out, instances = Path(snakemake.output.masks), Path(snakemake.output.instances)
for i in tqdm(range(settings["count"]), desc="synthesize_masks", unit="mask"):
    labels = synthesize_instances(stats, settings["size"], rng)
    write_mask(out / f"{i:05d}.png", labels > 0)
    write_labels(instances / f"{i:05d}.png", labels)
