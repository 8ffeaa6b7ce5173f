"""Particle boxes as ground truth (YOLO files: `class cx cy w h`, normalised to the image size).

Boxes give no pixel masks, so they support object-level checks only: particles per image, and the
fraction of boxes that hold a predicted particle's centroid (box recall).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def read_yolo(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """Boxes of one image in pixels as rows (x0, y0, x1, y1)."""
    rows = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    if any(len(r) != 5 for r in rows):
        raise ValueError(f"{path}: expected 5 numbers per line (class cx cy w h)")
    data = np.array(rows, float).reshape(-1, 5)
    h, w = shape
    cx, cy, bw, bh = data[:, 1] * w, data[:, 2] * h, data[:, 3] * w, data[:, 4] * h
    return np.column_stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])


def inside(boxes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Boolean matrix (boxes x points): whether point (x, y) lies in box (x0, y0, x1, y1)."""
    x, y = points[:, 0][None], points[:, 1][None]
    return (boxes[:, [0]] <= x) & (x <= boxes[:, [2]]) & (boxes[:, [1]] <= y) & (y <= boxes[:, [3]])


def box_recall(boxes: np.ndarray, centroids: np.ndarray) -> float:
    """Fraction of boxes that contain at least one predicted centroid (NaN when there are no boxes)."""
    if len(boxes) == 0:
        return float("nan")
    if len(centroids) == 0:
        return 0.0
    return float(inside(boxes, centroids).any(axis=1).mean())


def centroid_precision(boxes: np.ndarray, centroids: np.ndarray) -> float:
    """Fraction of predicted centroids that fall inside some box (NaN when nothing was predicted)."""
    if len(centroids) == 0:
        return float("nan")
    if len(boxes) == 0:
        return 0.0
    return float(inside(boxes, centroids).any(axis=0).mean())
