"""How good a label-free mask is believed to be, without labels, and the floor: per image, NPsSegNet's mask or
the rough-mask segmenter's, whichever outlines the particles better.

Our users have no ground truth, so both are built from what every image carries:

- The quality estimate of an image is the mean of four figures in [0, 1]: NPsSegNet's agreement with itself
  under flips (`agreement_flips`: IoU of the mask with the masks of the flipped image, flipped back), with the
  rough mask (`agreement_rough`: two segmenters that share no training agree where particles are plain), its
  certainty (`certainty`: 1 / (1 + the pixels of probability 0.1-0.9 over the particle pixels); a mask drawn
  with hesitation has wide uncertain rims), and the answer's own contrast (below) as c / (c + CONTRAST_HALF):
  where the rough mask answers, NPsSegNet's agreements say little about it. Validated on the images with ground
  truth in ../shared/data by bench/dev.py (Spearman correlation with the true per-image score;
  docs/benchmarks.md).
- The floor: of NPsSegNet's mask and the rough mask, the answer for an image is NPsSegNet's unless the rough
  mask's `contrast` is more than CONTRAST_MARGIN times higher. `contrast` is how far the particles' mean grey
  level stands from the support's (in the image's standard deviations) times how much steeper the image is on
  the mask's outlines than on average: a mask that follows the particles' edges scores high; one that fills
  gaps, misses particles or cuts through them scores lower. The margin: rough outlines drawn at the particles'
  outer edge (rough_masks.edge_level) sit on the steepest pixels and score 5-15 % higher than NPsSegNet's even
  where NPsSegNet's masks are the better ones (bench EMPS, seeds 0 and 1); where NPsSegNet failed, the rough
  mask scores 1.7-3.5x higher. Measured with the bench models on the 63 dark-particle EMPS test images: mean
  particle IoU 0.583 (NPsSegNet alone), 0.426 (rough masks), 0.574 with no margin, 0.593 at 1.5.

The images whose estimate is in the stack's lowest fifth are marked `doubtful`: the overlays to look at first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
from skimage import filters, segmentation

from .psd import ALL_IMAGES

log = logging.getLogger(__name__)

UNCERTAIN = (0.1, 0.9)  # probabilities the network is not sure of
DOUBTFUL_SHARE = 0.2  # the lowest fifth of a stack's images by quality estimate
CONTRAST_MARGIN = 1.5  # the rough mask answers an image when its contrast is this many times NPsSegNet's
CONTRAST_HALF = 10.0  # the answer's contrast that counts one half in the quality estimate (bench images: 2-40)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two binary masks; 1 when both are empty (they agree that there is nothing)."""
    union = int((a | b).sum())
    return float((a & b).sum() / union) if union else 1.0


def flip_agreement(probability: Callable[[np.ndarray], np.ndarray], image: np.ndarray, mask: np.ndarray,
                   threshold: float) -> float:
    """Mean IoU of the mask with the masks of the left-right and up-down flipped image (flipped back)."""
    flips = [(np.fliplr, np.fliplr), (np.flipud, np.flipud)]
    return float(np.mean([iou(mask, undo(probability(np.ascontiguousarray(do(image)))) >= threshold)
                          for do, undo in flips]))


def certainty(prob: np.ndarray, threshold: float) -> float:
    """1 / (1 + uncertain pixels per particle pixel): 1 for a crisp mask, 1/2 when the rims are as large as
    the particles. 0 when the network calls nothing particle but is unsure somewhere."""
    uncertain = int(((prob > UNCERTAIN[0]) & (prob < UNCERTAIN[1])).sum())
    particles = int((prob >= threshold).sum())
    if not particles:
        return 1.0 if not uncertain else 0.0
    return 1.0 / (1.0 + uncertain / particles)


def contrast(image: np.ndarray, mask: np.ndarray, gradient: np.ndarray | None = None) -> float:
    """How well a mask outlines the particles, label-free: the particles' distance from the support in grey
    levels (|mean in - mean out| / std of the image) times the image gradient on the mask's outlines over
    its mean gradient. 0 for an empty or a full mask."""
    mask = np.asarray(mask, bool)
    if mask.all() or not mask.any():
        return 0.0
    if gradient is None:
        gradient = filters.sobel(filters.gaussian(image, 1))
    outline = segmentation.find_boundaries(mask, mode="inner")
    separation = abs(float(image[mask].mean()) - float(image[~mask].mean())) / (float(image.std()) or 1.0)
    return separation * float(gradient[outline].mean()) / (float(gradient.mean()) or 1.0)


def assess(image: np.ndarray, prob: np.ndarray, rough: np.ndarray, threshold: float,
           probability: Callable[[np.ndarray], np.ndarray], npssegnet_may_answer: bool = True) -> tuple[np.ndarray, dict]:
    """(the image's answer, its figures): NPsSegNet's mask (`prob` >= threshold), or the rough mask where its
    contrast is more than CONTRAST_MARGIN times higher (always, when NPsSegNet may not answer: it failed its
    self-check), and the quality estimate. `probability` is the network (image -> probability), run on the
    flipped image."""
    mask = prob >= threshold
    rough = np.asarray(rough, bool)
    gradient = filters.sobel(filters.gaussian(image, 1))
    figures = {"agreement_flips": flip_agreement(probability, image, mask, threshold),
               "agreement_rough": iou(mask, rough), "certainty": certainty(prob, threshold),
               "contrast_npssegnet": contrast(image, mask, gradient), "contrast_rough": contrast(image, rough, gradient)}
    use_rough = not npssegnet_may_answer or figures["contrast_rough"] > CONTRAST_MARGIN * figures["contrast_npssegnet"]
    figures["answer"] = "rough_masks" if use_rough else "npssegnet"
    shown = figures["contrast_rough" if use_rough else "contrast_npssegnet"]
    figures["quality"] = float(np.mean([figures["agreement_flips"], figures["agreement_rough"], figures["certainty"],
                                        shown / (shown + CONTRAST_HALF)]))
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
    estimate = (f"mean quality estimate {rows['quality'].mean():.2f}" if rows["quality"].notna().any()
                else "no quality estimate (NPsSegNet failed its self-check)")
    line = (f"{stack}: {estimate}; "
            + (f"the rough masks outline {len(rough)} of {len(rows)} images better than NPsSegNet: {', '.join(rough)}"
               if rough else "NPsSegNet answers every image")
            + (f"; doubtful (lowest fifth by quality estimate, look at their overlays first): {', '.join(worst)}"
               if worst else ""))
    log.info(line)
    return line
