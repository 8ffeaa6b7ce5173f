"""psd: particles.csv, summary.csv and histogram.png of one stack from its segmentation masks and images; the
summary's method and method_reason columns say which method made the masks (segmentation/method.json); answer,
quality and doubtful, which mask is each image's answer and how good it is believed to be (segmentation/quality.csv);
the log warns of every image whose metadata and scale bar disagree (scale_bar_check)."""

from pathlib import Path

import pandas as pd

from tgan import job
from tgan.fallback import Method
from tgan.figures import histogram
from tgan.files import write_csv
from tgan.options import PSDOptions, from_dict
from tgan.psd import ALL_IMAGES, counted, log_sufficiency, measure_image, summarise, with_calibration
from tgan.quality import log_doubtful, with_quality

job.start(snakemake)
options = from_dict(PSDOptions, snakemake.params.settings)
stack = snakemake.wildcards.stack
tables, fields, records = [], {}, {}
for mask, image_path, calibration in zip(snakemake.input.masks, snakemake.input.images,
                                         snakemake.input.calibrations):
    image, _, table, record = measure_image(mask, image_path, calibration, options, stack)
    tables.append(table)
    fields[Path(image_path).stem] = (image.shape, record["pixel_size_nm"])
    records[Path(image_path).stem] = record
particles = pd.concat(tables, ignore_index=True)
write_csv(snakemake.output.particles, particles)
summary = with_calibration(summarise(particles, fields, stack, options.bootstrap, snakemake.params.seed), records)
method = Method.read(snakemake.input.method)  # which rung of the fallback ladder made the masks
summary["method"], summary["method_reason"] = method.method, method.reason
print(f"masks made by method {method.method}: {method.reason}")
summary = with_quality(summary, pd.read_csv(snakemake.input.quality))
write_csv(snakemake.output.summary, summary)
histogram(counted(particles, options.exclude_border), summary.set_index("image").loc[ALL_IMAGES],
          snakemake.output.histogram, stack, options.bootstrap, snakemake.params.seed)
print(summary.to_string(index=False))
log_sufficiency(stack, summary.set_index("image").loc[ALL_IMAGES])
for name, record in records.items():
    if record.get("scale_bar_check"):
        print(f"WARNING {stack}/{name}: {record['scale_bar_check']}")
log_doubtful(stack, summary)
