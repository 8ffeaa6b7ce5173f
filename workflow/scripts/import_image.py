"""import_image: source file (any supported format) -> the stack's image PNG and its calibration JSON; the log
says when an information bar was cut off, when the pixel size comes from the scale bar or the bar is unread, and
warns when the metadata and the scale bar disagree."""

import json

from tgan import job
from tgan.files import write_json
from tgan.images import calibration_note, crop_note, import_image, write_image

job.start(snakemake)
image, calibration = import_image(snakemake.input.source, snakemake.params.frame, snakemake.params.crop,
                                  snakemake.params.pixel_size_nm)
write_image(snakemake.output.image, image)
write_json(snakemake.output.calibration, calibration)
for note in (crop_note(calibration), calibration_note(calibration)):
    if note:
        print(f"{snakemake.wildcards.image}: {note}")
if calibration["scale_bar_check"]:
    print(f"WARNING {snakemake.wildcards.image}: {calibration['scale_bar_check']}")
print(json.dumps(calibration))
