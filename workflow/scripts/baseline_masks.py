"""baseline_masks: the masks of every comparison method on the images with ground truth.

masks/classical, masks/gen1_only (none when gen1 was left out; with masks/gen1_only/boundaries where its NPsSegNet
predicts touching particles' boundaries, npssegnet.instances), masks/supervised (each image by the fold model that did
not see it) and masks/rough_masks (the stack's rough-mask segmenter on every image, when it is not the plain
classical one: another method, or outlines moved by rough_masks.edge_level).
"""

import json
from pathlib import Path

from tgan import job
from tgan.annotations import ignore_mask
from tgan.classical import classical_mask
from tgan.images import boundary_path, read_image, write_mask
from tgan.npssegnet import boundary_mask, load_model, logits, particle_mask, segment
from tgan.options import SegmentOptions, from_dict
from tgan.rough_masks import make_segmenter, without_annotations
from tgan.training import load_checkpoint, skipped_reason

device = job.start_network(snakemake)
params = snakemake.params
settings = from_dict(SegmentOptions, params.segment)
# the rough-mask segmenters leave the burned-in annotations out, as the workflow's do
methods = {"classical": without_annotations(lambda image: classical_mask(image, params.polarity))}
if params.rough["method"] != "classical" or params.rough["edge_level"]:
    methods["rough_masks"] = make_segmenter(params.rough, params.polarity, device, snakemake.input.get("rough_model"),
                                            settings)
gen1_state = load_checkpoint(snakemake.input.gen1_model)
gen1_net = load_model(snakemake.input.gen1_model, device) if skipped_reason(gen1_state) is None else None
if gen1_net is None:  # gen1 was left out (fallback ladder): no gen1-only masks
    print(f"gen1_only: no masks, {skipped_reason(gen1_state)}")
fold_nets = {int(Path(p).parent.name.removeprefix("fold")): load_model(p, device)
             for p in snakemake.input.supervised}

out = Path(snakemake.output[0])
for name, path, record in zip(params.names, snakemake.input.images, snakemake.input.records):
    image = read_image(path)
    ignore = ignore_mask(image.shape, json.loads(Path(record).read_text()))
    masks = {method: segmenter(image, ignore) for method, segmenter in methods.items()}
    masks["supervised"] = segment(fold_nets[params.folds[name]], image, device, settings)
    if gen1_net is not None:  # the particle mask, and the boundaries where it predicts them
        gen1_logits = logits(gen1_net, image, device, settings)
        masks["gen1_only"] = particle_mask(gen1_logits, settings.threshold)
        boundary = boundary_mask(gen1_logits, settings.threshold, gen1_net.instances,
                                 settings.seed_depth)
        if boundary is not None:
            write_mask(boundary_path(out / "gen1_only" / f"{name}.png"), boundary)
    for method, mask in masks.items():
        write_mask(out / method / f"{name}.png", mask)
    print(name, ", ".join(f"{m} {mask.mean() * 100:.1f} %" for m, mask in masks.items()))
