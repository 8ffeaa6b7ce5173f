"""evaluate: every method's masks against the stack's ground truth -> metrics.csv and metrics.png; where a method's
NPsSegNet predicted boundaries between touching particles (boundaries/ beside its masks), its particles are split
along them, as psd splits them."""

import json
from pathlib import Path

from tgan import job
from tgan.annotations import ignore_mask
from tgan.evaluation import score_method, metrics_table
from tgan.figures import metrics_chart
from tgan.files import write_csv
from tgan.ground_truth import read_boxes, read_instances
from tgan.images import read_boundary, read_image, read_mask
from tgan.options import PSDOptions, from_dict

job.start(snakemake)
params = snakemake.params
names = params.names
images = {n: read_image(p) for n, p in zip(names, snakemake.input.images)}
# import_image's records: each image's crop (config, vendor metadata, a detected bar) is the ground truth's too
records = {n: json.loads(Path(p).read_text()) for n, p in zip(names, snakemake.input.calibrations)}
if params.kind == "masks":
    truth = {n: read_instances(p, records[n]["crop"]) for n, p in zip(names, snakemake.input.ground_truth)}
else:
    truth = {n: read_boxes(p, images[n].shape, records[n]["crop"])
             for n, p in zip(names, snakemake.input.ground_truth)}
for name, gt in truth.items():
    if params.kind == "masks" and gt.shape != images[name].shape:
        raise ValueError(f"{name}: ground truth {gt.shape} and image {images[name].shape} differ in size (is the "
                         f"image's crop {records[name]['crop']} ({records[name]['crop_from']}) applied to a ground "
                         "truth that was already cropped?)")

folder = Path(snakemake.input.masks)
# The rough masks of a classical stack are the classical segmenter's masks.
rough = folder / "rough_masks" if (folder / "rough_masks").is_dir() else folder / "classical"
sources = {"label_free": {n: Path(snakemake.input.segmentation) / f"{n}.png" for n in names},
           "rough_masks": {n: rough / f"{n}.png" for n in names},
           "gen1_only": {n: folder / "gen1_only" / f"{n}.png" for n in names},
           "supervised": {n: folder / "supervised" / f"{n}.png" for n in names},
           "classical": {n: folder / "classical" / f"{n}.png" for n in names}}
if not (folder / "gen1_only").is_dir():  # gen1 was left out by the fallback ladder: no ablation to score
    del sources["gen1_only"]
options = from_dict(PSDOptions, params.psd)
# the burned-in annotations import_image found: the psd rule leaves them out, so the scores do too
ignore = {n: ignore_mask(images[n].shape, records[n]) for n in names}
scores = {method: score_method({n: read_mask(p) for n, p in files.items()}, truth, images, params.kind, options, ignore,
                               {n: read_boundary(p) for n, p in files.items()})
          for method, files in sources.items()}
table = metrics_table(scores)
write_csv(snakemake.output.metrics, table)
metrics_chart(table, snakemake.output.chart, f"{snakemake.wildcards.stack}: {len(names)} images, {params.kind} ground truth")
print(table.pivot(index="metric", columns="method", values="value").to_string())
