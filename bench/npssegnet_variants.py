"""NPsSegNet variants on a finished demo run, scored against the demo stack's YOLO boxes.

    python bench/npssegnet_variants.py OUT_DIR [virtual=gen2|gen1] [threads=1] [KEY=VALUE ...]

Trains one NPsSegNet on results/demo's virtual dataset (gen2 or gen1 with the synthetic masks) and its
morphology subset's real images with their rough masks, with the CPU preset's npssegnet settings (config/presets/cpu.yaml)
and KEY=VALUE overrides (e.g. real_fraction=0.5 ignore_band_px=1); segments the ten demo images and prints
per image and in all: particles, box recall, centroid precision and mean diameter (px, against the
boxes' sqrt(w h)) at thresholds 0.3, 0.4 and 0.5.
The same gen2 serves every variant, so rows differ only by the NPsSegNet setting (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tgan.boxes import box_recall, centroid_precision, read_yolo  # noqa: E402
from tgan.cli import load_config  # noqa: E402
from tgan.evaluation import box_diameters  # noqa: E402
from tgan.images import read_image, read_mask  # noqa: E402
from tgan.npssegnet import load_model, probability, train_npssegnet  # noqa: E402
from tgan.options import NPsSegNetOptions, PSDOptions, SegmentOptions, from_dict, stack_section  # noqa: E402
from tgan.psd import counted, find_particles  # noqa: E402


def settings(section: str) -> dict:
    """A step section with the CPU preset's settings over the defaults, experimental ones included (merged as
    Snakemake and `tgan watch` merge them)."""
    return stack_section(load_config([str(ROOT / "config" / "presets" / "cpu.yaml")]), None, section)


def main() -> None:
    out = Path(sys.argv[1])
    overrides = dict(a.split("=", 1) for a in sys.argv[2:])
    virtual = overrides.pop("virtual", "gen2")
    torch.set_num_threads(int(overrides.pop("threads", 1)))
    run = ROOT / "results" / "demo"
    opts = from_dict(NPsSegNetOptions, {**settings("npssegnet"), **{k: yaml.safe_load(v) for k, v in overrides.items()}})
    names = sorted(p.name for p in (run / virtual).glob("*.png"))
    images = [read_image(run / virtual / n) for n in names]
    masks = [read_mask(run / "synthetic_masks" / n) for n in names]
    morphology = json.loads((run / "subsets.json").read_text())["morphology"]
    real = ([read_image(run / "images" / f"{n}.png") for n in morphology],
            [read_mask(run / "rough_masks" / f"{n}.png") for n in morphology])
    start = time.time()
    net = load_model(train_npssegnet(images, masks, opts, out, torch.device("cpu"), 0, real=real), torch.device("cpu"))
    print(f"trained in {time.time() - start:.0f} s")
    segment = from_dict(SegmentOptions, settings("segment"))
    demo = ROOT / "resources" / "demo"
    probs = {}
    for path in sorted((demo / "images").iterdir()):
        image = read_image(run / "images" / f"{path.stem}.png")
        boxes = read_yolo(demo / "labels" / f"{path.stem}.txt", image.shape)
        probs[path.stem] = (image, probability(net, image, torch.device("cpu"), segment), boxes)
    box_sides = np.concatenate([box_diameters(boxes, image.shape, PSDOptions()) for image, _, boxes in probs.values()])
    for threshold in (0.3, 0.4, 0.5):
        rows, diameters = [], []
        for name, (image, p, boxes) in probs.items():
            _, table = find_particles(p >= threshold, image, None, PSDOptions(), "demo", name)
            kept = counted(table, True)
            centroids = kept[["centroid_x_px", "centroid_y_px"]].to_numpy()
            diameters.append(kept["diameter_px"].to_numpy())
            rows.append({"image": name, "predicted": len(centroids), "boxes": len(boxes),
                         "box_recall": box_recall(boxes, centroids),
                         "centroid_precision": centroid_precision(boxes, centroids)})
        table = pd.DataFrame(rows)
        if threshold == 0.5:
            print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        print(f"threshold {threshold} {' '.join(sys.argv[2:])}: {table['predicted'].sum()} particles, "
              f"box recall {table['box_recall'].mean():.3f}, centroid precision {table['centroid_precision'].mean():.3f}, "
              f"mean diameter {np.concatenate(diameters).mean():.1f} px vs boxes {box_sides.mean():.1f} px")


if __name__ == "__main__":
    main()
