"""Where the STEM bench's methods gain and lose object F1 (box IoU >= 0.5), by box size: after `make bench`.

    python bench/stem_gap.py [--stack stem_catalysts]

For each method's masks (the label-free answer, NPsSegNet's candidate, the rough masks, the supervised baseline)
the particles are found as the evaluation finds them (the bench config's psd settings), and each annotated box is
classed by the predicted particle that holds its centre: `match` (a particle with box IoU >= 0.5), `merged` (the
particle holds two or more box centres), `small` / `large` (its box side below 0.7 / above 1.4 of the box's),
`offset` (otherwise), `miss` (no particle there). Prints, per method, matches, particles, precision, object F1 and
the particles whose centroid lies in no box (detections the annotator did not box), then the classes per box size.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml
from skimage.measure import regionprops

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tgan import metrics  # noqa: E402
from tgan.annotations import ignore_mask  # noqa: E402
from tgan.boxes import inside  # noqa: E402
from tgan.ground_truth import read_boxes  # noqa: E402
from tgan.images import read_image, read_mask  # noqa: E402
from tgan.options import PSDOptions, from_dict, validate_config  # noqa: E402
from tgan.psd import find_particles  # noqa: E402

SIZES = [(0, 6), (6, 10), (10, 16), (16, 30), (30, 1000)]
CLASSES = ["match", "miss", "merged", "small", "large", "offset"]


def classes(gt: np.ndarray, labels: np.ndarray) -> tuple[list[tuple[float, str]], int, int]:
    """([(box side, class)] per box, particles, particles whose centroid lies in no box)."""
    props = {r.label: r for r in regionprops(labels)}
    boxes = np.array([[r.bbox[1], r.bbox[0], r.bbox[3], r.bbox[2]] for r in props.values()], float).reshape(-1, 4)
    iou = metrics.box_iou(gt, boxes)
    cx, cy = (gt[:, 0] + gt[:, 2]) / 2, (gt[:, 1] + gt[:, 3]) / 2
    out = []
    for i, box in enumerate(gt):
        side = float(np.sqrt((box[2] - box[0]) * (box[3] - box[1])))
        holder = labels[min(int(cy[i]), labels.shape[0] - 1), min(int(cx[i]), labels.shape[1] - 1)]
        if iou.shape[1] and iou[i].max() >= 0.5:
            out.append((side, "match"))
        elif not holder:
            out.append((side, "miss"))
        else:
            top, left, bottom, right = props[holder].bbox
            centres = ((cx >= left) & (cx < right) & (cy >= top) & (cy < bottom)).sum()
            ratio = np.sqrt((right - left) * (bottom - top)) / side
            out.append((side, "merged" if centres >= 2 else "small" if ratio < 0.7 else "large" if ratio > 1.4
                        else "offset"))
    centroids = np.array([r.centroid[::-1] for r in props.values()]).reshape(-1, 2)  # (x, y)
    return out, len(props), int((~inside(gt, centroids).any(axis=0)).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="stem_catalysts", help="a bench STEM stack (or its --dose version)")
    args = parser.parse_args()
    config = validate_config(yaml.safe_load((ROOT / "results" / "bench" / "config.yaml").read_text()))
    options = from_dict(PSDOptions, config["psd"])
    folder = ROOT / "results" / args.stack
    if not (folder / "segmentation").is_dir():
        sys.exit(f"{folder / 'segmentation'}: not found; run the bench (make bench) first")
    labels_dir = ROOT.parent / "shared" / "data" / "stem_catalysts_yolo" / "labels"  # also of its low-dose versions
    methods = {"label_free": folder / "segmentation", "npssegnet": folder / "segmentation" / "npssegnet",
               "rough_masks": folder / "segmentation" / "rough_masks",
               "supervised": folder / "evaluation" / "masks" / "supervised"}
    names = sorted(p.stem for p in (folder / "images").glob("*.png"))
    for method, masks in methods.items():
        rows, n_pred, unboxed = [], 0, 0
        for name in names:
            image = read_image(folder / "images" / f"{name}.png")
            record = json.loads((folder / "images" / f"{name}.json").read_text())
            gt = read_boxes(labels_dir / f"{name}.txt", image.shape, record["crop"])
            labels, _ = find_particles(read_mask(masks / f"{name}.png"), image, None, options, "", name,
                                       ignore_mask(image.shape, record))
            found, n, off = classes(gt, labels)
            rows += found
            n_pred, unboxed = n_pred + n, unboxed + off
        side = np.array([r[0] for r in rows])
        kind = np.array([r[1] for r in rows])
        matched = int((kind == "match").sum())
        print(f"\n{method}: {len(rows)} boxes, {matched} matched (recall {matched / len(rows):.3f}), {n_pred} "
              f"particles (precision {matched / max(n_pred, 1):.3f}), object F1 {2 * matched / (len(rows) + n_pred):.3f}; "
              f"{unboxed} particles in no box")
        for low, high in SIZES:
            chosen = (side >= low) & (side < high)
            if chosen.any():
                print(f"  box side {low:>2}-{high:<4} px: {chosen.sum():4d} boxes  "
                      + "  ".join(f"{c} {np.mean(kind[chosen] == c):.2f}" for c in CLASSES))


if __name__ == "__main__":
    main()
