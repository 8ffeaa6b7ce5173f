"""Compare a finished run's particles with the demo stack's YOLO boxes.

    python bench/demo_boxes.py [results/demo/psd/particles.csv] [resources/demo]

Prints, per image: predicted particles, boxes, box recall (boxes holding a predicted centroid) and
centroid precision (predicted centroids inside some box); then the totals.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tgan.boxes import box_recall, centroid_precision, read_yolo  # noqa: E402
from tgan.images import read_image  # noqa: E402


def main() -> None:
    particles_csv = Path(sys.argv[1] if len(sys.argv) > 1 else "results/demo/psd/particles.csv")
    demo = Path(sys.argv[2] if len(sys.argv) > 2 else "resources/demo")
    particles = pd.read_csv(particles_csv)
    rows = []
    for image in sorted((demo / "images").iterdir()):
        boxes = read_yolo(demo / "labels" / f"{image.stem}.txt", read_image(image).shape)
        mine = particles[particles["image"] == image.stem]
        centroids = mine[["centroid_x_px", "centroid_y_px"]].to_numpy()
        rows.append({"image": image.stem, "predicted": len(mine), "boxes": len(boxes),
                     "box_recall": box_recall(boxes, centroids),
                     "centroid_precision": centroid_precision(boxes, centroids)})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"total: {table['predicted'].sum()} predicted, {table['boxes'].sum()} boxes; "
          f"mean box recall {np.nanmean(table['box_recall']):.2f}, "
          f"mean centroid precision {np.nanmean(table['centroid_precision']):.2f}")


if __name__ == "__main__":
    main()
