"""train_npssegnet, train_npssegnet_gen1: a virtual dataset (gen2 or gen1 image, synthetic mask), and real
images with their rough masks as pseudo-labels (npssegnet.real_fraction: the morphology subset's, or with
npssegnet.pseudo_labels all every image's) -> model.pt.
train_npssegnet then checks the model against the rough masks (results/{stack}/checks/npssegnet.csv)."""

import json
from pathlib import Path

from tgan import checks, job
from tgan.images import read_image, read_mask
from tgan.npssegnet import load_model, segment, train_npssegnet
from tgan.options import NPsSegNetOptions, SegmentOptions, from_dict
from tgan.subsets import pseudo_label_images

device = job.start_network(snakemake)
params = snakemake.params
names = sorted(p.name for p in Path(snakemake.input.images).glob("*.png"))
images = [read_image(Path(snakemake.input.images) / n) for n in names]
masks = [read_mask(Path(snakemake.input.masks) / n) for n in names]
subsets = json.loads(Path(snakemake.input.subsets).read_text())
pseudo = pseudo_label_images(subsets, params.pseudo_labels)  # holds the morphology subset either way
real_images = {name: read_image(path) for name, path in pseudo.items()}
# the morphology subset's rough masks (rule rough_masks), the contrast subset's (rule pseudo_labels)
folders = {name: snakemake.input.rough_masks for name in subsets["morphology"]}
rough = {name: read_mask(Path(folders.get(name) or snakemake.input.pseudo_labels) / f"{name}.png") for name in pseudo}
path = train_npssegnet(images, masks, from_dict(NPsSegNetOptions, params.options), Path(snakemake.output.model).parent,
                       device, params.seed, real=(list(real_images.values()), list(rough.values())))
if hasattr(snakemake.output, "checks"):  # the method's own model (not the gen1-only ablation)
    net = load_model(path, device)
    morphology = subsets["morphology"]
    # segmented with the default inference settings: a segment setting (threshold, tiles) changes the masks
    # of every image but not the model, so it must not rerun its training
    predicted = [segment(net, real_images[name], device, SegmentOptions()) for name in morphology]
    checks.judge("npssegnet", checks.agreement_figures(predicted, [rough[name] for name in morphology]),
                 snakemake.output.checks, params.on_failure,
                 "NPsSegNet, trained on the virtual dataset, does not find the particles of the rough masks on the "
                 "real morphology images: the virtual images are unlike the real ones (see the gen1 and gen2 checks), "
                 "or NPsSegNet needs more epochs; npssegnet.real_fraction > 0 adds real images to its training.")
