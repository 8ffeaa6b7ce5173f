"""import_image: one image of the stack -> its image PNG and its calibration JSON. Everything but the pixels
(crop and information bar, pixel size and where it came from, the scale bar's reading, the burned-in
annotations) is the record validate_inputs wrote when it read the file; the log says when an information bar
was cut off, when the pixel size comes from the scale bar or the bar is unread, and warns when the metadata and
the scale bar disagree."""

import json
from pathlib import Path

from tgan import job
from tgan.files import write_json
from tgan.images import calibration_note, crop_note, import_validated, write_image

job.start(snakemake)
name = snakemake.wildcards.image
calibration = json.loads(Path(snakemake.input.validated).read_text())["images"][name]
write_image(snakemake.output.image, import_validated(calibration))
write_json(snakemake.output.calibration, calibration)
for note in (crop_note(calibration), calibration_note(calibration)):
    if note:
        print(f"{name}: {note}")
if calibration["scale_bar_check"]:
    print(f"WARNING {name}: {calibration['scale_bar_check']}")
print(json.dumps(calibration))
