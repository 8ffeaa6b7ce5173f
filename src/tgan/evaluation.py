"""Scores of one segmentation method on a stack's ground truth, pooled over the evaluated images.

Predicted particles are those the psd rule would report (watershed split, along the predicted boundaries
between touching particles where the method has them, noise dropped, nothing
inside a burned-in annotation that import_image found, and what touches one left out of the size
statistics like a particle cut by the border), so the object and PSD scores say how far the user's
particle table is from the manual one. Those annotations are no part of the sample: their pixels
are left out of the pixel scores too. Pixel scores
need mask ground truth; YOLO boxes give object-level and count/size scores only (predicted
particles are matched through their bounding boxes, and a box side sqrt(w h) stands for the
diameter).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from skimage.measure import regionprops

from . import metrics
from .boxes import box_recall, centroid_precision
from .data import pad_to
from .psd import counted, cut_zone, find_particles, touches_border
from .options import PSDOptions

METHODS = {  # name in metrics.csv: what it is
    "label_free": "NPsSegNet trained on the virtual dataset (gen2): the method",
    "rough_masks": "the stack's rough-mask segmenter alone",
    "gen1_only": "NPsSegNet trained on gen1 (no CycleGAN): the paper's ablation",
    "supervised": "NPsSegNet trained on the ground truth (masks, or ellipses in the boxes), k-fold: manual labelling",
    "classical": "the classical segmenter",
}


def truth_diameters(labels: np.ndarray, options: PSDOptions, ignore: np.ndarray) -> np.ndarray:
    """Equivalent diameters (px) of the true particles that a PSD counts (the psd rule's filters: one
    that touches the border or an ignored annotation is cut)."""
    cut = cut_zone(ignore)
    return np.array([r.equivalent_diameter_area for r in regionprops(labels)
                     if r.equivalent_diameter_area >= options.min_diameter_px
                     and not (options.exclude_border and (touches_border(r.bbox, labels.shape)
                                                          or cut[tuple(r.coords.T)].any()))], float)


def box_diameters(boxes: np.ndarray, shape: tuple[int, int], options: PSDOptions) -> np.ndarray:
    """Box sides sqrt(w h) (px) of the true particles that a PSD counts; a box within a pixel of the
    image edge is a particle cut by the border."""
    if len(boxes) == 0:
        return np.zeros(0)
    side = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    keep = side >= options.min_diameter_px
    if options.exclude_border:
        h, w = shape
        keep &= (boxes[:, 0] >= 1) & (boxes[:, 1] >= 1) & (boxes[:, 2] <= w - 1) & (boxes[:, 3] <= h - 1)
    return side[keep]


def score_method(masks: dict[str, np.ndarray], truth: dict[str, np.ndarray], images: dict[str, np.ndarray],
                 kind: str, options: PSDOptions, ignore: dict[str, np.ndarray] | None = None,
                 boundaries: dict[str, np.ndarray | None] | None = None) -> dict[str, float]:
    """All scores of one method's binary masks against the ground truth (instance labels for kind
    'masks', boxes for 'yolo'), pooled over the images of `truth`. ignore: per image, the pixels of
    burned-in annotations (scale bars, labels) that the psd rule leaves out; boundaries: per image, where
    the method's NPsSegNet predicts touching particles to meet (none: the distance watershed alone)."""
    counts = np.zeros(4, np.int64)
    matched = n_true = n_pred = 0
    true_d, pred_d, recalls, precisions = [], [], [], []
    for name, gt in truth.items():
        mask, image = masks[name], images[name]
        skip = (ignore or {}).get(name)
        skip = np.zeros(mask.shape, bool) if skip is None else skip
        labels, particles = find_particles(mask, image, None, options, "", name, skip, (boundaries or {}).get(name))
        pred_d.append(counted(particles, options.exclude_border)["diameter_px"].to_numpy())
        if kind == "masks":
            counts += metrics.confusion(mask[~skip], gt[~skip] > 0)
            matched += metrics.count_matches(metrics.instance_iou(gt, labels))
            n_true += int(len(np.unique(gt[gt > 0])))
            true_d.append(truth_diameters(gt, options, skip))
        else:
            pred_boxes = np.array([[r.bbox[1], r.bbox[0], r.bbox[3], r.bbox[2]] for r in regionprops(labels)],
                                  float).reshape(-1, 4)
            matched += metrics.count_matches(metrics.box_iou(gt, pred_boxes))
            n_true += len(gt)
            true_d.append(box_diameters(gt, mask.shape, options))
            centroids = particles[["centroid_x_px", "centroid_y_px"]].to_numpy()
            recalls.append((box_recall(gt, centroids), len(gt)))
            precisions.append((centroid_precision(gt, centroids), len(centroids)))
        n_pred += len(particles)
    scores = metrics.pixel_scores(counts) if kind == "masks" else {}
    scores |= metrics.detection_scores(matched, n_true, n_pred)
    if kind == "yolo":  # the lenient centroid-in-box scores of tgan.boxes, pooled over particles
        scores["box_recall"] = _weighted(recalls)
        scores["centroid_precision"] = _weighted(precisions)
    scores |= metrics.psd_agreement(np.concatenate(true_d), np.concatenate(pred_d))
    return scores


def _weighted(pairs: list[tuple[float, int]]) -> float:
    """Mean of per-image fractions weighted by their denominators (= the pooled fraction)."""
    total = sum(n for _, n in pairs)
    return float(sum(v * n for v, n in pairs if n) / total) if total else float("nan")


def metrics_table(scores: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Long table (method, metric, value) in the order of METHODS."""
    rows = [{"method": method, "metric": metric, "value": value}
            for method in METHODS if method in scores for metric, value in scores[method].items()]
    return pd.DataFrame(rows, columns=["method", "metric", "value"])


def cover_tiles(array: np.ndarray, size: int) -> list[np.ndarray]:
    """Square tiles of side `size` that cover a 2-D array (overlapping where the side does not divide
    it; reflect-padded when the array is smaller). The supervised baseline trains on the tiles of its
    labelled images, which then have the virtual images' size."""
    array = pad_to(array, size)
    h, w = array.shape
    ys = np.linspace(0, h - size, -(-h // size)).round().astype(int)
    xs = np.linspace(0, w - size, -(-w // size)).round().astype(int)
    return [array[y:y + size, x:x + size] for y in ys for x in xs]
