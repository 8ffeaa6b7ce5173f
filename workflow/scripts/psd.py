"""psd: particles.csv, summary.csv and histogram.png of one stack from its segmentation masks and images, and
overlays/NAME.png, the particles outlined on each image (counted, cut by the border or an ignored region; a red
frame on the doubtful images); the
summary's method and method_reason columns say which method made the masks (segmentation/method.json); answer,
quality and doubtful, which mask is each image's answer and how good it is believed to be (segmentation/quality.csv);
the log warns of every image whose metadata and scale bar disagree (scale_bar_check)."""

from pathlib import Path

import imageio.v3 as iio
import pandas as pd

from tgan import job
from tgan.annotations import ignore_mask
from tgan.fallback import Method
from tgan.figures import histogram, overlay
from tgan.files import atomic, write_csv
from tgan.options import PSDOptions, from_dict
from tgan.psd import ALL_IMAGES, counted, log_sufficiency, measure_image, summarise, with_calibration
from tgan.quality import log_doubtful, with_quality

job.start(snakemake)
options = from_dict(PSDOptions, snakemake.params.settings)
stack = snakemake.wildcards.stack
segmentation, overlays = Path(snakemake.input.segmentation), Path(snakemake.output.overlays)
overlays.mkdir(parents=True, exist_ok=True)
quality = pd.read_csv(segmentation / "quality.csv")  # each image's answer and quality estimate (segment)
doubtful = set(quality.loc[quality["doubtful"].astype(bool), "image"])
tables, fields, records = [], {}, {}
for image_path, calibration in zip(snakemake.input.images, snakemake.input.calibrations):
    name = Path(image_path).stem
    image, labels, table, record = measure_image(segmentation / f"{name}.png", image_path, calibration, options, stack)
    tables.append(table)
    fields[name], records[name] = (image.shape, record["pixel_size_nm"]), record
    with atomic(overlays / f"{name}.png") as tmp:
        iio.imwrite(tmp, overlay(image, labels, table.loc[table["touches_border"], "particle_id"].tolist(),
                                 ignore_mask(image.shape, record), doubtful=name in doubtful))
particles = pd.concat(tables, ignore_index=True)
write_csv(snakemake.output.particles, particles)
summary = with_calibration(summarise(particles, fields, stack, options.bootstrap, snakemake.params.seed), records)
method = Method.read(segmentation / "method.json")  # which rung of the fallback ladder made the masks
summary["method"], summary["method_reason"] = method.method, method.reason
print(f"masks made by method {method.method}: {method.reason}")
summary = with_quality(summary, quality)
write_csv(snakemake.output.summary, summary)
histogram(counted(particles, options.exclude_border), summary.set_index("image").loc[ALL_IMAGES],
          snakemake.output.histogram, stack, options.bootstrap, snakemake.params.seed)
print(summary.to_string(index=False))
log_sufficiency(stack, summary.set_index("image").loc[ALL_IMAGES])
for name, record in records.items():
    if record.get("scale_bar_check"):
        print(f"WARNING {stack}/{name}: {record['scale_bar_check']}")
log_doubtful(stack, summary)
