"""train_npssegnet, train_npssegnet_gen1: a virtual dataset (generated images, synthetic masks as instance
labels: npssegnet.instances boundary or distance learns where touching particles meet, or each particle's
distance to its background, from them), and real images with their rough masks as pseudo-labels
(npssegnet.real_fraction: the morphology subset's, or with npssegnet.pseudo_labels all every image's) -> model.pt.

train_npssegnet picks its virtual dataset from the gen1 and gen2 checks (tgan.fallback: gen2, else gen1, else
none: the real images with their pseudo-labels alone; gen1 when cyclegan.enabled is false), writes which in
npssegnet/method.json, then checks the model against the rough masks (results/{stack}/checks/npssegnet.csv); segment decides what a failure does.
train_npssegnet_gen1 is the gen1-only ablation of the evaluation; with no gen1 (skipped) it trains nothing."""

import json
from pathlib import Path

import pandas as pd

from tgan import checks, fallback, job
from tgan.files import write_csv, write_json
from tgan.images import read_image, read_labels, read_mask
from tgan.npssegnet import load_model, pseudo_label_dataset, segment, train_npssegnet
from tgan.options import NPsSegNetOptions, SegmentOptions, from_dict
from tgan.subsets import pseudo_label_images
from tgan.training import save_skipped

device = job.start_network(snakemake)
params = snakemake.params
inputs, outputs = snakemake.input, snakemake.output
stack = snakemake.wildcards.stack
opts = from_dict(NPsSegNetOptions, params.options)
subsets = json.loads(Path(inputs.subsets).read_text())
pseudo = pseudo_label_images(subsets, params.pseudo_labels)  # holds the morphology subset either way
real_images = {name: read_image(path) for name, path in pseudo.items()}
# the morphology subset's rough masks (rule rough_masks), the contrast subset's (rule pseudo_labels)
folders = {name: inputs.rough_masks for name in subsets["morphology"]}
rough = {name: read_mask(Path(folders.get(name) or inputs.pseudo_labels) / f"{name}.png") for name in pseudo}
synthetic = sorted(Path(inputs.masks).glob("*.png"))


def train(folder: str | None):
    """NPsSegNet on the virtual pairs of `folder` (gen1 or gen2) or, with None, on the real images with their
    pseudo-labels alone (as many crops per epoch as the virtual dataset would have given); its model path."""
    if folder is not None:
        images = [read_image(Path(folder) / p.name) for p in synthetic]
        masks, options, epoch_size = [read_labels(Path(inputs.instances) / p.name) for p in synthetic], opts, None
    else:
        images, masks, options = pseudo_label_dataset(list(real_images.values()), list(rough.values()),
                                                      read_mask(synthetic[0]).shape[0], opts)
        epoch_size = len(synthetic)
    return train_npssegnet(images, masks, options, Path(outputs.model).parent, device, params.seed, epoch_size,
                           real=(list(real_images.values()), list(rough.values())))


if snakemake.rule == "train_npssegnet":  # the method's own model: its training data from the checks
    # no gen2 check when the CycleGAN is switched off (cyclegan.enabled: false)
    gen2 = checks.outcome(inputs.gen2_check) if hasattr(inputs, "gen2_check") else None
    method = fallback.training_data(checks.outcome(inputs.gen1_check), gen2, params.on_failure, stack)
    folder = {"tgan": getattr(inputs, "gen2", None), "tgan_without_cyclegan": inputs.gen1}.get(method.method)
    print(f"method {method.method}: {method.reason}")
    net = load_model(train(folder), device)
    uses_real = folder is None or opts.real_fraction > 0
    write_json(outputs.method, {**method.as_dict(), "virtual_images": folder and Path(folder).name,
                                "virtual_pairs": len(synthetic) if folder else 0,
                                "pseudo_labelled_images": sorted(real_images) if uses_real else []})
    morphology = subsets["morphology"]
    # segmented with the default inference settings: a segment setting (threshold, tiles) changes the masks
    # of every image but not the model, so it must not rerun its training
    predicted = [segment(net, real_images[name], device, SegmentOptions()) for name in morphology]
    checks.judge("npssegnet", checks.agreement_figures(predicted, [rough[name] for name in morphology]),
                 outputs.checks)
elif any(Path(inputs.images).glob("*.png")):
    train(inputs.images)
else:  # the gen1-only ablation, on a gen1 left out by the fallback ladder
    reason = checks.outcome(inputs.gen1_check).why
    save_skipped(outputs.model, "npssegnet_gen1", f"no gen1: {reason}")
    write_csv(outputs.losses, pd.DataFrame(columns=["epoch"]))  # no epoch trained
