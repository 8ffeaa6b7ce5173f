"""image_stream: real image, rough mask, synthetic mask, gen1, gen2 and segmentation side by side."""

import json
from pathlib import Path

from tgan import job
from tgan.figures import image_stream, image_stream_examples

job.start(snakemake)
morphology = json.loads(Path(snakemake.input.subsets).read_text())["morphology"]
rows = image_stream_examples(morphology, snakemake.input.rough_masks, snakemake.input.synthetic_masks,
                             snakemake.input.gen1, getattr(snakemake.input, "gen2", None), snakemake.input.segmentation)
image_stream(rows, snakemake.output[0], f"{snakemake.wildcards.stack}: image stream")
