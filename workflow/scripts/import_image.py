"""import_image: source file (any supported format) -> the stack's image PNG and its calibration JSON; the log
says when an information bar was cut off."""

import json

from tgan import job
from tgan.files import write_json
from tgan.images import crop_note, import_image, write_image

job.start(snakemake)
image, calibration = import_image(snakemake.input.source, snakemake.params.frame, snakemake.params.crop,
                                  snakemake.params.pixel_size_nm)
write_image(snakemake.output.image, image)
write_json(snakemake.output.calibration, calibration)
if note := crop_note(calibration):
    print(f"{snakemake.wildcards.image}: {note}")
print(json.dumps(calibration))
