"""import_image: source file (any supported format) -> the stack's image PNG and its calibration JSON."""

import json

from tgan import job
from tgan.images import import_image, write_image

job.start(snakemake)
image, calibration = import_image(snakemake.input[0], snakemake.params.frame, snakemake.params.crop,
                                  snakemake.params.pixel_size_nm)
write_image(snakemake.output.image, image)
with open(snakemake.output.calibration, "w") as f:
    json.dump(calibration, f, indent=1)
print(json.dumps(calibration))
