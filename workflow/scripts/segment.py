"""segment: every image of one stack -> its answer (binary particle mask PNG) in the output folder, one model
load; quality.csv, each image's label-free quality figures and which mask is its answer; method.json, the
method that made the masks and why.

Each image is segmented by NPsSegNet (of the stack, or of its segment_with stack) and by the stack's rough-mask
segmenter; NPsSegNet's outlines are redrawn at the rough masks' edge level (rough_masks.edge_level); the
answer is NPsSegNet's mask unless the rough mask outlines the particles better or is the same answer
(tgan.quality: the floor), and both candidates are kept in npssegnet/ and rough_masks/; an NPsSegNet with a
second channel (npssegnet.instances boundary or distance) also writes where touching particles meet to
boundaries/, along which psd splits the answer, whichever it is. When NPsSegNet failed its own check, with
self_checks.on_failure fallback, the rough masks answer every image (method rough_masks, tgan.fallback), split by psd's watershed alone; the quality
estimate is still NPsSegNet's agreements with itself and with them (low: nothing confirms the rough masks). An
image segmented before with the same model, settings and code is read back from results/STACK/segment_cache/
(tgan.cache) instead of segmented again."""

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tgan import cache, checks, classical, edges, fallback, inference, job, networks, npssegnet, quality, rough_masks
from tgan.files import write_csv, write_json
from tgan.annotations import ignore_mask
from tgan.images import boundary_path, read_image, write_mask
from tgan.options import SegmentOptions, from_dict

device = job.start_network(snakemake)
params = snakemake.params
options = from_dict(SegmentOptions, params.settings)
method = fallback.segmentation(checks.outcome(snakemake.input.check), fallback.Method.read(snakemake.input.method),
                               params.on_failure, snakemake.wildcards.stack)
rough_model = snakemake.input.get("rough_model")
rough_segmenter = rough_masks.make_segmenter(params.rough_masks, params.polarity, device, rough_model, options)
outline = rough_masks.outline(params.rough_masks, params.polarity)  # NPsSegNet's outlines drawn as the rough masks'
net = npssegnet.load_model(snakemake.input.model, device)
print(f"method {method.method}: {method.reason}")
# what an image's masks and figures depend on besides the image itself (tgan.cache)
key = cache.digest(cache.file_digest(snakemake.input.model), cache.file_digest(rough_model),
                   json.dumps([params.settings, params.rough_masks, params.polarity, method.method], sort_keys=True),
                   cache.source_digest(quality, npssegnet, inference, networks, rough_masks, classical, edges))
store = cache.Cache(Path(snakemake.output[0]).parent / "segment_cache", key)


def segment_image(image: np.ndarray, ignore: np.ndarray) -> tuple[dict[str, np.ndarray], dict]:
    """The masks of one image (its answer, NPsSegNet's and the rough one; NPsSegNet's boundaries where it predicts
    them and passed its check) and its figures; `ignore`: its burned-in annotations, cleared in every mask."""
    rough = rough_segmenter(image, ignore)
    answer, own, figures = npssegnet.answer(net, image, rough, device, options,
                                            npssegnet_may_answer=method.method != "rough_masks", outline=outline,
                                            ignore=ignore)
    return {"answer": answer, "rough_masks": rough} | own, figures


out = Path(snakemake.output[0])
for folder in (out, out / "npssegnet", out / "rough_masks"):
    folder.mkdir(parents=True, exist_ok=True)
images = snakemake.input.images
rows = []
for i, path in enumerate(images, 1):
    start = time.perf_counter()
    name = Path(path).stem
    record = json.loads(Path(path).with_suffix(".json").read_text())
    regions = json.dumps(record.get("ignore", []))  # the image's annotations: part of what its result depends on
    stored = store.get(path, regions)
    if stored:
        masks, figures = stored
    else:
        image = read_image(path)
        masks, figures = segment_image(image, ignore_mask(image.shape, record))
        store.put(path, masks, figures, regions)
    write_mask(out / f"{name}.png", masks["answer"])
    if "boundary" in masks:
        write_mask(boundary_path(out / f"{name}.png"), masks["boundary"])
    for candidate in ("npssegnet", "rough_masks"):
        write_mask(out / candidate / f"{name}.png", masks[candidate])
    rows.append({"image": name, **figures})
    print(f"[{i}/{len(images)}] {name}: {masks['answer'].mean() * 100:.1f} % particle pixels ({figures['answer']}), "
          f"quality {figures['quality']:.2f}, {'from the cache' if stored else 'segmented'}, "
          f"{time.perf_counter() - start:.2f} s")
print(f"{store.misses} image(s) segmented, {store.hits} read back from {store.folder}; "
      f"{store.prune()} stale cache entries removed")
table = pd.DataFrame(rows)
table["doubtful"] = quality.doubtful(table["quality"].to_numpy())
write_csv(out / "quality.csv", table)
if table["doubtful"].any():
    print("doubtful (lowest fifth by quality estimate; look at their overlays first): "
          + ", ".join(table.loc[table["doubtful"], "image"]))
model_stack = Path(snakemake.input.method).parent.parent.name
write_json(out / "method.json", {**method.as_dict(), "model_stack": model_stack})
