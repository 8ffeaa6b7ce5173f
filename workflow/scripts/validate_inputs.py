"""validate_inputs: read every image of a stack as import_image will; validated.json, or one error naming
every bad file."""

import json

from tgan import job
from tgan.files import write_json
from tgan.validation import validate_stack

job.start(snakemake)
params = snakemake.params
report = validate_stack(snakemake.wildcards.stack, params.folder, params.sources, params.crop,
                        params.pixel_size_nm, params.trains)
write_json(snakemake.output[0], report)
print(json.dumps({k: report[k] for k in ("skipped", "notes")}, indent=1))
print(f"{len(report['images'])} images valid")
