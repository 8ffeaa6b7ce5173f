"""Metrics that compare segmentations with ground truth, and generated images with real ones.

Pixel scores follow the paper: pixel accuracy = correct pixels / all pixels; IoU of the background
and of the particles, mean IoU their mean; Dice of the particles. Object scores match predicted and
true particles one-to-one at IoU >= 0.5. PSD agreement compares the diameters the psd rule would
report with those of the ground truth.

A ratio whose denominator is zero (a class absent from both truth and prediction, precision with no
predicted particle) is NaN: undefined, never a made-up 0 or 1. Means over classes skip NaN.

torch, smp and torchvision are imported by the functions that use them: the psd job takes the particle
matching of this module (through `quality`) and would otherwise spend seconds loading torch for nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.spatial.distance import cdist
from scipy.optimize import linear_sum_assignment
from skimage.metrics import contingency_table, peak_signal_noise_ratio, structural_similarity

MATCH_IOU = 0.5
# Kernel MMD features: crops of this side, this many per image; at most this many crops of each set (a
# random sample): the kernel matrix grows with the square of the pooled count (2,000 generated images of the
# paper settings give 32,000 crops: 8 GB per matrix), and the estimate's spread is small at a few thousand.
MMD_CROP = 64
MMD_CROPS_PER_IMAGE = 16
MMD_MAX_ROWS = 2000


# ---------------------------------------------------------------- pixels

def confusion(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(tp, fp, fn, tn) pixel counts of the particle class; add them up to pool several images."""
    import segmentation_models_pytorch as smp
    import torch

    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {truth.shape} differ in size")
    p = torch.from_numpy(np.asarray(pred, bool).astype(np.int64))[None, None]
    t = torch.from_numpy(np.asarray(truth, bool).astype(np.int64))[None, None]
    return np.array([int(s.sum()) for s in smp.metrics.get_stats(p, t, mode="binary")], np.int64)


def pixel_scores(counts: np.ndarray) -> dict[str, float]:
    """Pixel accuracy, IoU of background and particles, their mean, and Dice from (tp, fp, fn, tn)."""
    import segmentation_models_pytorch as smp
    import torch

    tp, fp, fn, tn = (torch.tensor([[int(c)]]) for c in counts)
    nan = float("nan")

    def score(fn_, *args):
        return float(fn_(*args, reduction="micro", zero_division=nan))

    iou_particles = score(smp.metrics.iou_score, tp, fp, fn, tn)
    iou_background = score(smp.metrics.iou_score, tn, fn, fp, tp)  # background as the positive class
    ious = [v for v in (iou_background, iou_particles) if not np.isnan(v)]
    return {"pixel_accuracy": score(smp.metrics.accuracy, tp, fp, fn, tn),
            "iou_background": iou_background, "iou_particles": iou_particles,
            "mean_iou": float(np.mean(ious)) if ious else nan,
            "dice": score(smp.metrics.f1_score, tp, fp, fn, tn)}


# ---------------------------------------------------------------- objects

def count_matches(iou: np.ndarray, threshold: float = MATCH_IOU) -> int:
    """Number of one-to-one pairs (rows: truth, columns: prediction) with IoU >= threshold.

    Above 0.5 a particle can overlap only one partner that much, but at exactly 0.5 two can tie;
    the optimal assignment keeps the count right in every case.
    """
    if iou.size == 0:
        return 0
    eligible = np.where(iou >= threshold, iou, 0.0)
    rows, cols = linear_sum_assignment(eligible, maximize=True)
    return int((eligible[rows, cols] > 0).sum())


def instance_iou(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """IoU of every true instance (rows, labels 1..) with every predicted one (columns) of two label images."""
    if truth.shape != pred.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {truth.shape} differ in size")
    t_ids, t_inv = np.unique(truth, return_inverse=True)
    p_ids, p_inv = np.unique(pred, return_inverse=True)
    overlap = contingency_table(t_inv.reshape(truth.shape), p_inv.reshape(pred.shape)).toarray()
    overlap = overlap[:len(t_ids), :len(p_ids)]
    area_t, area_p = overlap.sum(axis=1), overlap.sum(axis=0)
    union = area_t[:, None] + area_p[None, :] - overlap
    iou = overlap / np.maximum(union, 1)
    return iou[t_ids > 0][:, p_ids > 0]


def box_iou(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes (x0, y0, x1, y1): rows truth, columns prediction (torchvision's; 0 for boxes
    without area)."""
    import torch
    from torchvision.ops import boxes as box_ops

    truth, pred = (torch.as_tensor(np.asarray(b, float).reshape(-1, 4)) for b in (truth, pred))
    return np.nan_to_num(box_ops.box_iou(truth, pred).numpy())


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


def detection_scores(matched: int, n_true: int, n_pred: int) -> dict[str, float]:
    """Object precision, recall and F1 from the number of matched pairs and of particles on each side."""
    return {"object_precision": _ratio(matched, n_pred), "object_recall": _ratio(matched, n_true),
            "object_f1": _ratio(2 * matched, n_true + n_pred)}


# ---------------------------------------------------------------- particle-size distributions

def psd_agreement(true_d: np.ndarray, pred_d: np.ndarray) -> dict[str, float]:
    """How well the predicted particle diameters reproduce the true ones.

    Errors are signed (prediction minus truth, in % of the truth): a negative count error means
    particles were missed or merged. Wasserstein distance (in the diameters' unit) and the
    two-sample Kolmogorov-Smirnov statistic compare the whole distributions.
    """
    true_d, pred_d = np.asarray(true_d, float), np.asarray(pred_d, float)
    nan = float("nan")
    both = true_d.size > 0 and pred_d.size > 0
    mean_true = true_d.mean() if true_d.size else nan
    mean_pred = pred_d.mean() if pred_d.size else nan
    return {"count_true": float(true_d.size), "count_predicted": float(pred_d.size),
            "count_error_pct": 100 * _ratio(pred_d.size - true_d.size, true_d.size),
            "mean_diameter_true_px": mean_true, "mean_diameter_predicted_px": mean_pred,
            "mean_diameter_error_pct": 100 * (mean_pred - mean_true) / mean_true if both else nan,
            "wasserstein_px": stats.wasserstein_distance(true_d, pred_d) if both else nan,
            "ks_statistic": stats.ks_2samp(true_d, pred_d).statistic if both else nan}


# ---------------------------------------------------------------- generated images

def ssim_psnr(generated: np.ndarray, real: np.ndarray) -> tuple[float, float]:
    """SSIM and PSNR (dB) of a generated image against its real counterpart, both in [0, 1]."""
    if generated.shape != real.shape:
        raise ValueError(f"generated {generated.shape} and real {real.shape} images differ in size")
    generated, real = np.asarray(generated, np.float64), np.asarray(real, np.float64)
    return (float(structural_similarity(generated, real, data_range=1.0)),
            float(peak_signal_noise_ratio(real, generated, data_range=1.0)))


def kernel_mmd(x: np.ndarray, y: np.ndarray, bandwidth: float | None = None) -> float:
    """Squared maximum mean discrepancy between two samples (rows) with a Gaussian kernel.

    The biased (V-statistic) estimate, which is 0 for identical samples. bandwidth: the kernel's
    sigma; by default the median distance between all pooled rows (the usual heuristic).
    """
    x, y = np.asarray(x, float).reshape(len(x), -1), np.asarray(y, float).reshape(len(y), -1)
    pooled = np.vstack([x, y])
    sq = cdist(pooled, pooled, "sqeuclidean")
    if bandwidth is None:
        off = sq[~np.eye(len(pooled), dtype=bool)]
        bandwidth = float(np.sqrt(np.median(off))) if off.size and np.median(off) > 0 else 1.0
    k = np.exp(-sq / (2 * bandwidth ** 2))
    n = len(x)
    return float(k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean())


def crop_features(image: np.ndarray, rng: np.random.Generator, size: int = MMD_CROP,
                  count: int = MMD_CROPS_PER_IMAGE) -> np.ndarray:
    """Features of random crops of an image for kernel MMD: what a microscopist sees in a patch.

    Per crop: 16 intensity quantiles (contrast of particles and support) and the radially averaged
    log power spectrum in 8 bands (noise, texture and sharpness). Without an Inception network this
    is the set-level comparison of generated and real images.
    """
    h, w = image.shape
    size = min(size, h, w)
    freq = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij"))
    bands = np.minimum((freq / freq.max() * 8).astype(int), 7)
    rows = []
    for _ in range(count):
        y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        crop = image[y:y + size, x:x + size].astype(np.float64)
        power = np.abs(np.fft.fft2(crop - crop.mean())) ** 2
        spectrum = np.log1p(np.bincount(bands.ravel(), power.ravel(), 8) / np.bincount(bands.ravel(), minlength=8))
        rows.append(np.concatenate([np.quantile(crop, np.linspace(0.02, 0.98, 16)), spectrum]))
    return np.array(rows)


def standardised_mmd(generated: np.ndarray, real: np.ndarray, rng: np.random.Generator | None = None,
                     max_rows: int = MMD_MAX_ROWS) -> float:
    """kernel_mmd of two feature sets after scaling every feature by its pooled mean and std; of a random
    sample of `max_rows` rows (drawn by `rng`) from a set that has more."""
    rng = rng if rng is not None else np.random.default_rng(0)
    generated, real = (rows[np.sort(rng.choice(len(rows), max_rows, replace=False))] if len(rows) > max_rows else rows
                       for rows in (np.asarray(generated, float), np.asarray(real, float)))
    pooled = np.vstack([generated, real])
    scale = pooled.std(axis=0)
    scale[scale == 0] = 1.0
    mean = pooled.mean(axis=0)
    return kernel_mmd((generated - mean) / scale, (real - mean) / scale)


def inception_scores(generated: list[np.ndarray], real: list[np.ndarray],
                     weights: str | os.PathLike) -> dict[str, float]:
    """FID, KID (mean) and Inception Score of the generated images, with torchmetrics and the
    Inception weights file at `weights` (torch-fidelity's pt_inception-2015-12-05 file). Nothing is
    downloaded: a missing file is an error."""
    if not Path(weights).is_file():
        raise FileNotFoundError(f"{weights}: Inception weights file not found (evaluate.inception_weights); "
                                "set it to a local pt_inception-2015-12-05 file or to null")
    from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance
    import torch

    def batch(images):
        return torch.stack([torch.from_numpy((np.clip(i, 0, 1) * 255).astype(np.uint8)).expand(3, *i.shape)
                            for i in images])

    # FID and KID need one image size per batch: every image goes through as its own batch
    fid = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights))
    subset = min(len(generated), len(real))
    kid = KernelInceptionDistance(feature=NoTrainInceptionV3("inception-v3-compat", ["2048"], str(weights)),
                                  subsets=10, subset_size=subset)
    inception = InceptionScore(feature=NoTrainInceptionV3("inception-v3-compat", ["logits_unbiased"], str(weights)),
                               splits=1)
    for images, is_real in ((real, True), (generated, False)):
        for image in images:
            x = batch([image])
            fid.update(x, real=is_real)
            kid.update(x, real=is_real)
            if not is_real:
                inception.update(x)
    return {"fid": float(fid.compute()), "kid": float(kid.compute()[0]), "inception_score": float(inception.compute()[0])}
