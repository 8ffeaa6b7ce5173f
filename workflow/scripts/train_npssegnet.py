"""train_npssegnet, train_npssegnet_gen1: a virtual dataset (gen2 or gen1 image, synthetic mask), and the
morphology subset's real images with their rough masks as pseudo-labels (npssegnet.real_fraction) -> model.pt.
train_npssegnet then checks the model against the rough masks (results/{stack}/checks/npssegnet.csv)."""

import json
from pathlib import Path

from tgan import checks, job
from tgan.images import read_image, read_mask
from tgan.npssegnet import load_model, segment, train_npssegnet
from tgan.options import NPsSegNetOptions, SegmentOptions, from_dict

device = job.start(snakemake)
params = snakemake.params
names = sorted(p.name for p in Path(snakemake.input.images).glob("*.png"))
images = [read_image(Path(snakemake.input.images) / n) for n in names]
masks = [read_mask(Path(snakemake.input.masks) / n) for n in names]
morphology = json.loads(Path(snakemake.input.subsets).read_text())["morphology"]
real = ([read_image(path) for path in morphology.values()],
        [read_mask(Path(snakemake.input.rough_masks) / f"{name}.png") for name in morphology])
path = train_npssegnet(images, masks, from_dict(NPsSegNetOptions, params.options), Path(snakemake.output.model).parent,
                       device, params.seed, real=real)
if hasattr(snakemake.output, "checks"):  # the method's own model (not the gen1-only ablation)
    net = load_model(path, device)
    predicted = [segment(net, image, device, from_dict(SegmentOptions, params.segment)) for image in real[0]]
    checks.judge("npssegnet", checks.agreement_figures(predicted, real[1]), snakemake.output.checks,
                 params.on_failure,
                 "NPsSegNet, trained on the virtual dataset, does not find the particles of the rough masks on the "
                 "real morphology images: the virtual images are unlike the real ones (see the gen1 and gen2 checks), "
                 "or NPsSegNet needs more epochs; npssegnet.real_fraction > 0 adds real images to its training.")
