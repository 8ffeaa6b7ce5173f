"""validate_inputs: read every image of a stack as import_image will; validated.json, or one error naming
every bad file."""

import json
from pathlib import Path

from tgan import annotations, cache, images, job, scale_bar, validation
from tgan.files import write_json
from tgan.validation import validate_stack

job.start(snakemake)
params = snakemake.params
# an image checked before with the same crop, pixel size and code is read back (tgan.cache): a frame added to a
# long series is the only one read
store = cache.Cache(Path(snakemake.output[0]).parent / "validate_cache",
                    cache.digest(json.dumps([params.crop, params.pixel_size_nm], sort_keys=True),
                                 cache.source_digest(validation, images, annotations, scale_bar)))
report = validate_stack(snakemake.wildcards.stack, params.folder, params.sources, params.crop,
                        params.pixel_size_nm, params.trains, store)
store.prune()
print(f"{store.misses} image(s) read, {store.hits} read back")
write_json(snakemake.output[0], report)
print(json.dumps({k: report[k] for k in ("skipped", "notes")}, indent=1))
print(f"{len(report['images'])} images valid")
