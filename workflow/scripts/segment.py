"""segment: every image of one stack -> its answer (binary particle mask PNG) in the output folder, one model
load; quality.csv, each image's label-free quality figures and which mask is its answer; method.json, the
method that made the masks and why.

Each image is segmented by NPsSegNet (of the stack, or of its segment_with stack) and by the stack's rough-mask
segmenter; the answer is the one that outlines the particles better (tgan.quality: the floor), and both
candidates are kept in npssegnet/ and rough_masks/. When NPsSegNet failed its own check, with
self_checks.on_failure fallback, the rough-mask segmenter alone makes the masks (method rough_masks,
tgan.fallback) and there is no quality estimate."""

import time
from pathlib import Path

import numpy as np
import pandas as pd

from tgan import checks, fallback, job, quality
from tgan.files import write_csv, write_json
from tgan.images import read_image, write_mask
from tgan.npssegnet import load_model, probability
from tgan.options import SegmentOptions, from_dict
from tgan.rough_masks import make_segmenter

device = job.start_network(snakemake)
params = snakemake.params
options = from_dict(SegmentOptions, params.settings)
method = fallback.segmentation(checks.outcome(snakemake.input.check), fallback.Method.read(snakemake.input.method),
                               params.on_failure, snakemake.wildcards.stack)
rough_segmenter = make_segmenter(params.rough_masks, params.polarity, device, snakemake.input.get("rough_model"),
                                 options)
net = None if method.method == "rough_masks" else load_model(snakemake.input.model, device)
print(f"method {method.method}: {method.reason}")
out = Path(snakemake.output[0])
for folder in ([out] if net is None else [out, out / "npssegnet", out / "rough_masks"]):
    folder.mkdir(parents=True, exist_ok=True)
images = snakemake.input.images
rows = []
for i, path in enumerate(images, 1):
    start = time.perf_counter()
    name, image = Path(path).stem, read_image(path)
    rough = rough_segmenter(image)
    if net is None:
        answer, figures = rough, {"answer": "rough_masks", "quality": np.nan}
    else:
        prob = probability(net, image, device, options)
        answer, figures = quality.assess(image, prob, rough, options.threshold,
                                         lambda flipped: probability(net, flipped, device, options))
        write_mask(out / "npssegnet" / f"{name}.png", prob >= options.threshold)
        write_mask(out / "rough_masks" / f"{name}.png", rough)
    write_mask(out / f"{name}.png", answer)
    rows.append({"image": name, **figures})
    print(f"[{i}/{len(images)}] {name}: {answer.mean() * 100:.1f} % particle pixels ({figures['answer']}), "
          f"quality {figures['quality']:.2f}, {time.perf_counter() - start:.2f} s")
table = pd.DataFrame(rows)
table["doubtful"] = quality.doubtful(table["quality"].to_numpy())
write_csv(out / "quality.csv", table)
if table["doubtful"].any():
    print("doubtful (lowest fifth by quality estimate; look at their overlays first): "
          + ", ".join(table.loc[table["doubtful"], "image"]))
model_stack = Path(snakemake.input.method).parent.parent.name
write_json(out / "method.json", {**method.as_dict(), "model_stack": model_stack})
