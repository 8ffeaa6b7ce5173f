"""image_quality: how close gen1 and gen2 come to the real images of the stack.

Paired (SSIM, PSNR): pix2pix applied to each rough mask gives a gen1 image of that real image, and
CycleGAN applied to it the gen2 image; both are compared with the real image. Sets (kernel MMD of
crop features; FID, KID and Inception Score only with a local Inception weights file): the gen1
and gen2 folders against all real images.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from tgan import job, metrics
from tgan.files import write_csv
from tgan.generate import load_generator, translate
from tgan.images import read_image
from tgan.pix2pix import conditions, morphology_pairs
from tgan.training import load_checkpoint, skipped_reason

device = job.start_network(snakemake)
params = snakemake.params
pix2pix = load_generator(snakemake.input.pix2pix, device)
# the CycleGAN switched off (cyclegan.enabled: false: no input) or left out (the fallback ladder's record)
cyclegan = getattr(snakemake.input, "cyclegan", None)
if cyclegan is not None:
    cyclegan = load_generator(cyclegan, device) if skipped_reason(load_checkpoint(cyclegan)) is None else None
masks, morphology = morphology_pairs(snakemake.input.subsets, snakemake.input.rough_masks)

paired = {"gen1": [], "gen2": []}
for condition, real in zip(conditions(masks, morphology, pix2pix.takes_background), morphology, strict=True):
    gen1 = translate(pix2pix, condition, device)
    paired["gen1"].append(metrics.ssim_psnr(gen1, real))
    if cyclegan is not None:
        paired["gen2"].append(metrics.ssim_psnr(translate(cyclegan, gen1, device), real))

real_images = [read_image(p) for p in snakemake.input.images]
rng = np.random.default_rng(params.seed)
real_features = np.vstack([metrics.crop_features(i, rng) for i in real_images])
rows = []
for generation in ("gen1", "gen2"):
    folder = getattr(snakemake.input, generation, None)  # no gen2 with cyclegan.enabled: false
    generated = [read_image(p) for p in sorted(Path(folder).glob("*.png"))] if folder else []
    if not generated or not paired[generation]:  # left out by the fallback ladder (checks/gen1.csv, gen2.csv)
        rows += [{"generation": generation, "metric": k, "value": np.nan, "note": f"no {generation}: left out"}
                 for k in ("ssim", "psnr_db", "kernel_mmd", "fid", "kid", "inception_score")]
        continue
    features = np.vstack([metrics.crop_features(i, rng) for i in generated])
    ssim, psnr = np.mean(paired[generation], axis=0)
    values = {"ssim": ssim, "psnr_db": psnr, "kernel_mmd": metrics.standardised_mmd(features, real_features, rng)}
    notes = {"ssim": f"paired: mean over {len(morphology)} morphology images from their rough masks",
             "psnr_db": f"paired: mean over {len(morphology)} morphology images from their rough masks",
             "kernel_mmd": f"{len(generated)} generated vs {len(real_images)} real images, crop features "
                           f"(at most {metrics.MMD_MAX_ROWS} crops of each)"}
    if params.inception_weights:
        values |= metrics.inception_scores(generated, real_images, params.inception_weights)
        notes |= {k: "Inception: " + params.inception_weights for k in ("fid", "kid", "inception_score")}
    else:
        values |= {k: np.nan for k in ("fid", "kid", "inception_score")}
        notes |= {k: "not computed: no evaluate.inception_weights file configured" for k in ("fid", "kid",
                                                                                                 "inception_score")}
    rows += [{"generation": generation, "metric": k, "value": v, "note": notes[k]} for k, v in values.items()]
table = pd.DataFrame(rows)
write_csv(snakemake.output[0], table)
print(table.to_string(index=False))
