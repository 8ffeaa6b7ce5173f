"""segment: every image of one stack -> binary particle mask PNGs in the output folder, one model load; and
method.json, the method that made them and why. The masks are NPsSegNet's (of the stack, or of its
segment_with stack), unless NPsSegNet failed its own check: then, with self_checks.on_failure fallback, the
stack's rough-mask segmenter makes them (method rough_masks, tgan.fallback)."""

import time
from pathlib import Path

from tgan import checks, fallback, job
from tgan.files import write_json
from tgan.images import read_image, write_mask
from tgan.npssegnet import load_model, segment
from tgan.options import SegmentOptions, from_dict
from tgan.rough_masks import make_segmenter

device = job.start_network(snakemake)
params = snakemake.params
options = from_dict(SegmentOptions, params.settings)
method = fallback.segmentation(checks.outcome(snakemake.input.check), fallback.Method.read(snakemake.input.method),
                               params.on_failure, snakemake.wildcards.stack)
if method.method == "rough_masks":
    segmenter = make_segmenter(params.rough_masks, params.polarity, device, snakemake.input.get("rough_model"),
                               options)
else:
    net = load_model(snakemake.input.model, device)

    def segmenter(image):
        return segment(net, image, device, options)
print(f"method {method.method}: {method.reason}")
out = Path(snakemake.output[0])
out.mkdir(parents=True, exist_ok=True)
images = snakemake.input.images
for i, path in enumerate(images, 1):
    start = time.perf_counter()
    mask = segmenter(read_image(path))
    write_mask(out / f"{Path(path).stem}.png", mask)
    print(f"[{i}/{len(images)}] {Path(path).stem}: {mask.mean() * 100:.1f} % particle pixels, "
          f"{time.perf_counter() - start:.2f} s")
model_stack = Path(snakemake.input.method).parent.parent.name
write_json(out / "method.json", {**method.as_dict(), "model_stack": model_stack})
