"""How good a label-free mask is believed to be, without labels, and the floor: per image, NPsSegNet's mask or
the rough-mask segmenter's, whichever outlines the particles better.

Our users have no ground truth, so both are built from what every image carries:

- The floor: the answer for an image is NPsSegNet's mask unless the rough mask is better by two label-free
  figures. Its `contrast`: how far the particles' mean grey level stands from the support's (in the image's
  standard deviations) times how much steeper the image is on the mask's outlines than on average (a mask that
  follows the particles' edges scores high; one that fills gaps, misses particles or cuts through them lower).
  Its `explained` share of the image's grey-level variance (Otsu's criterion of the mask's split into particles
  and support), on the image without its illumination's tilt (`detrended`): a mask of specks, or one that misses
  the plain particles, explains little of the image, whatever its outlines. The rough mask answers where it is
  higher on both; or clearly higher on one: a contrast over
  CONTRAST_MARGIN times NPsSegNet's, provided it explains at least CONTRAST_GATE times the variance (a rough mask
  of a few specks on sharp edges has a high contrast and misses the particles), or an explained share over
  EXPLAINED_MARGIN times NPsSegNet's; or where the two masks share at least SAME_ANSWER of their pixels
  (`agreement_pixels`, IoU): they are one answer (on the dev images as good as each other on average), and the
  rough mask is the one a user reproduces without the network. Both masks' outlines are drawn the same way
  (NPsSegNet's are redrawn as the rough masks' are), so the figures compare the particles found, not the edge
  level. Chosen on the dev images and the bench (bench/dev.py; docs/benchmarks.md). Burned-in labels and scale
  bars (the `ignore` regions of the image's import record) are no part of the sample: both masks are cleared
  there and every figure is taken on the rest of the image, as the PSD measures it (a rough mask of a white "(a)"
  label and a scale bar, sharp and far from the grey level of the sample, outscored NPsSegNet's particles).
- The quality estimate of an image is the mean of three figures in [0, 1]: NPsSegNet's agreement with itself
  under flips (`agreement_flips`: IoU of its mask with the masks of the flipped image, flipped back), the
  answer's `explained` variance (above), and the object agreement of NPsSegNet's and the rough mask
  (`agreement_objects`: object F1 of one against the other, particles matched at IoU >= 0.5 as the evaluation
  matches them: two segmenters that share no training find the same particles where they are plain). Validated
  on the images with ground truth in ../shared/data by bench/dev.py (Spearman correlation with the true
  per-image score; docs/benchmarks.md).

The images whose estimate is in the stack's lowest fifth are marked `doubtful`: the overlays to look at first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import ndimage
from skimage import filters, measure, segmentation

from .metrics import count_matches, instance_iou
from .psd import ALL_IMAGES

log = logging.getLogger(__name__)

DOUBTFUL_SHARE = 0.2  # the lowest fifth of a stack's images by quality estimate
# The rough mask answers an image when its contrast and explained variance are both higher than NPsSegNet's, or:
CONTRAST_MARGIN = 1.5  # its contrast is this many times NPsSegNet's
CONTRAST_GATE = 0.5  # and it explains at least this share of the variance that NPsSegNet's mask explains,
EXPLAINED_MARGIN = 1.2  # or it explains this many times the grey-level variance that NPsSegNet's mask does,
SAME_ANSWER = 0.95  # or the two masks' pixel IoU is at least this: they are the same answer
SAMPLE_MARGIN = 3  # px left out around burned-in annotations (the gradient: a Gaussian of 1 px, then Sobel)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two binary masks; 1 when both are empty (they agree that there is nothing)."""
    union = int((a | b).sum())
    return float((a & b).sum() / union) if union else 1.0


def flip_agreement(probability: Callable[[np.ndarray], np.ndarray], image: np.ndarray, mask: np.ndarray,
                   threshold: float, sample: np.ndarray | None = None) -> float:
    """Mean IoU of the mask with the masks of the left-right and up-down flipped image (flipped back), on the
    `sample` pixels (all without)."""
    sample = np.ones(mask.shape, bool) if sample is None else sample
    flips = [(np.fliplr, np.fliplr), (np.flipud, np.flipud)]
    return float(np.mean([iou(mask & sample, (undo(probability(np.ascontiguousarray(do(image)))) >= threshold) & sample)
                          for do, undo in flips]))


def object_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Object F1 of two masks against each other: their connected particles matched one to one at IoU >= 0.5
    (tgan.metrics, as the evaluation matches); 1 when both are empty (they agree that there is nothing)."""
    la, lb = measure.label(np.asarray(a, bool)), measure.label(np.asarray(b, bool))
    if not la.max() and not lb.max():
        return 1.0
    return 2 * count_matches(instance_iou(la, lb)) / (la.max() + lb.max())


def explained(image: np.ndarray, mask: np.ndarray, sample: np.ndarray | None = None) -> float:
    """The share of the image's grey-level variance that the mask's split into particles and support explains
    (Otsu's criterion: w (1 - w) (mean in - mean out)^2 / variance, w the mask's share of the pixels), over the
    `sample` pixels (all without); 0 for an empty or full mask or a flat image."""
    mask = np.asarray(mask, bool)
    if sample is not None:
        image, mask = image[sample], mask[sample]
    variance = float(image.var())
    if mask.all() or not mask.any() or not variance:
        return 0.0
    w = float(mask.mean())
    return w * (1 - w) * (float(image[mask].mean()) - float(image[~mask].mean())) ** 2 / variance


def detrended(image: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """The image minus the plane fitted to its `sample` pixels by least squares: what the particles and the support
    vary by, without a tilt of the illumination or of the film's thickness across the frame. A tilt is grey-level
    variance that a mask of the darker half of the frame explains: on the dev image 2cd773d930 NPsSegNet's mask of
    the lower half (particle IoU 0.08) explained 58 % of the variance, the rough mask of the particles (0.86) 19 %;
    without the plane 4 % and 66 %. A plane, not a smoother background: it cannot take in a particle, however
    large."""
    rows, cols = np.nonzero(sample)
    if rows.size < 3:
        return image
    h, w = image.shape
    design = np.column_stack([np.ones(rows.size), rows / h, cols / w])
    coef = np.linalg.lstsq(design, image[rows, cols].astype(np.float64), rcond=None)[0]
    plane = coef[0] + coef[1] * np.arange(h)[:, None] / h + coef[2] * np.arange(w)[None, :] / w
    return (image - plane).astype(np.float32)


def contrast(image: np.ndarray, mask: np.ndarray, gradient: np.ndarray | None = None,
             sample: np.ndarray | None = None) -> float:
    """How well a mask outlines the particles, label-free: the particles' distance from the support in grey
    levels (|mean in - mean out| / std of the image) times the image gradient on the mask's outlines over
    its mean gradient, all over the `sample` pixels (all without). 0 for an empty or a full mask (of the sample),
    or one without outline there."""
    mask = np.asarray(mask, bool)
    sample = np.ones(mask.shape, bool) if sample is None else sample
    inside, outside = mask & sample, ~mask & sample
    if not inside.any() or not outside.any():
        return 0.0
    if gradient is None:
        gradient = filters.sobel(filters.gaussian(image, 1))
    outline = segmentation.find_boundaries(mask, mode="inner") & sample
    if not outline.any():
        return 0.0
    separation = abs(float(image[inside].mean()) - float(image[outside].mean())) / (float(image[sample].std()) or 1.0)
    return separation * float(gradient[outline].mean()) / (float(gradient[sample].mean()) or 1.0)


def sample_pixels(ignore: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """The pixels the figures are taken on: all but the burned-in annotations (`ignore`) and a margin of SAMPLE_MARGIN
    px around them, where the smoothed gradient still sees their sharp edges."""
    if ignore is None or not ignore.any():
        return np.ones(shape, bool)
    return ~ndimage.binary_dilation(ignore, iterations=SAMPLE_MARGIN)


def assess(image: np.ndarray, prob: np.ndarray, rough: np.ndarray, threshold: float,
           probability: Callable[[np.ndarray], np.ndarray], npssegnet_may_answer: bool = True,
           outline: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
           ignore: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """(the image's answer, NPsSegNet's candidate, the figures): NPsSegNet's mask (`prob` >= threshold, its
    outlines redrawn by `outline` where given, as the rough masks' are), or the rough mask where the floor
    (`decide`) says so (always, when NPsSegNet may not answer: it failed its self-check), and the quality estimate.
    `probability` is the network (image -> probability), run on the flipped image: the flip agreement is the
    network's own, before any redrawing. `ignore`: the image's burned-in annotations (cleared in both masks)."""
    mask = prob >= threshold
    agreement = flip_agreement(probability, image, mask, threshold, sample_pixels(ignore, image.shape))
    candidate = mask if outline is None else outline(image, mask)
    if ignore is not None:
        candidate = candidate & ~ignore
    answer, figures = decide(image, candidate, rough, agreement, npssegnet_may_answer, ignore)
    return answer, candidate, figures


def decide(image: np.ndarray, mask: np.ndarray, rough: np.ndarray, agreement_flips: float,
           npssegnet_may_answer: bool = True, ignore: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """assess, given NPsSegNet's mask and its flip agreement: the floor and the quality estimate from the two
    candidates (also what bench/requality.py applies to a finished run's saved candidates)."""
    mask, rough = np.asarray(mask, bool), np.asarray(rough, bool)
    if ignore is not None:
        mask, rough = mask & ~ignore, rough & ~ignore
    sample = sample_pixels(ignore, image.shape)
    gradient = filters.sobel(filters.gaussian(image, 1))
    flat = detrended(image, sample)
    figures = {"agreement_flips": agreement_flips, "agreement_objects": object_agreement(mask, rough),
               "agreement_pixels": iou(mask, rough),
               "contrast_npssegnet": contrast(image, mask, gradient, sample),
               "contrast_rough": contrast(image, rough, gradient, sample),
               "explained_npssegnet": explained(flat, mask, sample), "explained_rough": explained(flat, rough, sample)}
    rough_contrast, net_contrast = figures["contrast_rough"], figures["contrast_npssegnet"]
    rough_explained, net_explained = figures["explained_rough"], figures["explained_npssegnet"]
    use_rough = (not npssegnet_may_answer
                 or figures["agreement_pixels"] >= SAME_ANSWER
                 or (rough_contrast > net_contrast and rough_explained > net_explained)
                 or (rough_contrast > CONTRAST_MARGIN * net_contrast
                     and rough_explained >= CONTRAST_GATE * net_explained)
                 or rough_explained > EXPLAINED_MARGIN * net_explained)
    figures["answer"] = "rough_masks" if use_rough else "npssegnet"
    figures["quality"] = float(np.mean([figures["agreement_flips"], figures["agreement_objects"],
                                        figures["explained_rough" if use_rough else "explained_npssegnet"]]))
    return (rough if use_rough else mask), figures


def doubtful(quality: np.ndarray) -> np.ndarray:
    """The images whose quality estimate is in the stack's lowest fifth (at least one when there are five or
    more images; NaN estimates are not ranked)."""
    quality = np.asarray(quality, float)
    out = np.zeros(len(quality), bool)
    ranked = np.flatnonzero(~np.isnan(quality))
    k = int(round(len(ranked) * DOUBTFUL_SHARE))
    if k:
        out[ranked[np.argsort(quality[ranked], kind="stable")[:k]]] = True
    return out


def with_quality(summary: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The PSD summary with segment's figures per image (`answer`: npssegnet or rough_masks, `quality`, `doubtful`);
    the stack row (ALL) gives the mean quality and how many images each answer made."""
    summary = summary.copy()
    table = table.set_index("image")
    for column in ("answer", "quality", "doubtful"):
        summary[column] = summary["image"].map(table[column])
    stack = summary["image"] == ALL_IMAGES
    counts = table["answer"].value_counts()
    summary.loc[stack, "answer"] = ", ".join(f"{answer}: {n} images" for answer, n in counts.items())
    summary.loc[stack, "quality"] = table["quality"].mean()
    summary.loc[stack, "doubtful"] = int(table["doubtful"].sum())
    return summary


def log_doubtful(stack: str, summary: pd.DataFrame) -> str:
    """Log and return one line on the stack's answer: which images the rough masks answer, and the doubtful
    images whose overlays to look at first."""
    rows = summary[summary["image"] != ALL_IMAGES]
    rough = rows.loc[rows["answer"] == "rough_masks", "image"].tolist()
    worst = rows.loc[rows["doubtful"].astype(bool), "image"].tolist()
    line = (f"{stack}: mean quality estimate {rows['quality'].mean():.2f}; "
            + (f"the rough masks outline {len(rough)} of {len(rows)} images better than NPsSegNet: {', '.join(rough)}"
               if rough else "NPsSegNet answers every image")
            + (f"; doubtful (lowest fifth by quality estimate, look at their overlays first): {', '.join(worst)}"
               if worst else ""))
    log.info(line)
    return line
