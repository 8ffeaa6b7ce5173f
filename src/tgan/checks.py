"""Self-checks of the learned stages, without labels.

Users have no ground truth: a collapsed pix2pix (a flat grey square), an empty generation or a
CycleGAN that smeared the particles away would still give a PSD, of garbage. So every learned stage
checks that its own output does what the stage is for, writes the figures to
`results/{stack}/checks/{stage}.csv` (figure, value, limit, passed) and, when a figure is out of its
limit, stops the stack with a message that names the stage, the figure and what to try
(`self_checks.on_failure: stop`, the default) or only warns (`warn`).

The figures compare particle contrast: the mean intensity inside the masks minus outside (sign by
polarity) of the generated images, against that of the real images under their rough masks. It is
what a network trained on the virtual pairs learns from, and it is what the failures above destroy.
Limits are set well below what working runs give (see docs/benchmarks.md) and well above a
constant or an unrelated output.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .files import write_csv

log = logging.getLogger(__name__)

ON_FAILURE = ("stop", "warn")


class StageCheckFailed(RuntimeError):
    """A learned stage failed its self-check: its output must not reach the PSD."""


@dataclass
class Figure:
    name: str
    value: float
    limit: float
    meaning: str  # what the figure says, for the message and the report

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.value) and self.value >= self.limit)


def particle_contrast(images: list[np.ndarray], masks: list[np.ndarray], polarity: str) -> float:
    """Mean over images of (mean inside the mask - mean outside), positive for particles of the stack's
    polarity ('bright': brighter than their surroundings, 'dark': darker). Images whose mask is empty
    or full carry no contrast and are skipped; none left gives NaN."""
    sign = 1.0 if polarity == "bright" else -1.0
    values = []
    for image, mask in zip(images, masks, strict=True):
        mask = np.asarray(mask, bool)
        if mask.any() and not mask.all():
            values.append(sign * (float(image[mask].mean()) - float(image[~mask].mean())))
    return float(np.mean(values)) if values else float("nan")


def spread(images: list[np.ndarray]) -> float:
    """Median over images of the intensity standard deviation: near 0 for constant images."""
    return float(np.median([np.std(i) for i in images])) if images else 0.0


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


def judge(stage: str, figures: list[Figure], out: str | os.PathLike, on_failure: str, advice: str) -> None:
    """Write the figures of `stage` to `out` (CSV) and log them; on a failed figure stop or warn."""
    if on_failure not in ON_FAILURE:
        raise ValueError(f"self_checks.on_failure must be one of {ON_FAILURE}, got {on_failure!r}")
    table = pd.DataFrame([{"stage": stage, "figure": f.name, "value": f.value, "limit": f.limit,
                           "passed": f.passed, "meaning": f.meaning} for f in figures])
    for f in figures:
        log.info("self-check %s: %s = %.3g (limit >= %.3g): %s", stage, f.name, f.value, f.limit,
                 "passed" if f.passed else "FAILED")
    failed = [f for f in figures if not f.passed]
    if not failed:
        write_csv(out, table)
        return
    what = "; ".join(f"{f.name} = {f.value:.3g}, needs >= {f.limit:.3g} ({f.meaning})" for f in failed)
    message = f"self-check of {stage} failed: {what}. {advice}"
    if on_failure == "stop":
        raise StageCheckFailed(message)
    log.warning("%s (self_checks.on_failure is 'warn': going on)", message)
    write_csv(out, table)


def pix2pix_figures(generated: list[np.ndarray], real: list[np.ndarray], masks: list[np.ndarray],
                    losses: pd.DataFrame, polarity: str) -> list[Figure]:
    """pix2pix reproduces its training pairs: particles where the rough masks are, with a contrast near
    the real one; images that are not flat; an L1 loss that fell during training."""
    real_contrast = particle_contrast(real, masks, polarity)
    l1 = losses["loss_g_l1"].to_numpy()
    return [
        Figure("real_contrast", real_contrast, 0.005,
               "real particles under their rough masks stand out from the support (else: wrong polarity or "
               "rough masks that miss the particles)"),
        Figure("real_spread", spread(real), 1e-3, "intensity spread of the real images (0: flat images)"),
        Figure("contrast_ratio", _ratio(particle_contrast(generated, masks, polarity), real_contrast), 0.3,
               "generated particle contrast over the real one, on the training masks"),
        Figure("spread_ratio", _ratio(spread(generated), spread(real)), 0.2,
               "intensity spread of the generated images over the real ones (0: flat images)"),
        Figure("l1_drop", 1.0 - l1[-1] / l1[0] if len(l1) > 1 and l1[0] > 0 else float("nan"), 0.03,
               "relative fall of the L1 loss from the first to the last epoch"),
    ]


def rendered_fraction(images: list[np.ndarray], masks: list[np.ndarray], reference_contrast: float,
                      polarity: str, share: float = 0.25) -> float:
    """Share of the images whose mask holds particles and background in which the particles show at least
    `share` of the reference contrast. Images whose mask is all background (or all particle) may well be
    flat, as a crop of clean film is: they do not count."""
    rendered = [particle_contrast([i], [m], polarity) >= share * reference_contrast
                for i, m in zip(images, masks, strict=True) if np.any(m) and not np.all(m)]
    return float(np.mean(rendered)) if rendered else float("nan")


def generation_figures(generated: list[np.ndarray], masks: list[np.ndarray], reference_contrast: float,
                       reference_spread: float, polarity: str) -> list[Figure]:
    """A generation (gen1 or gen2) carries the particles of its synthetic masks: contrast and spread
    against the reference (the real images for gen1, gen1 for gen2), image by image as well as on average
    (an empty generation, or one that lost the particles on part of its images)."""
    return [
        Figure("contrast_ratio", _ratio(particle_contrast(generated, masks, polarity), reference_contrast), 0.3,
               "particle contrast on the synthetic masks over the reference's"),
        Figure("spread_ratio", _ratio(spread(generated), reference_spread), 0.2,
               "intensity spread over the reference's (0: flat images)"),
        Figure("rendered_fraction", rendered_fraction(generated, masks, reference_contrast, polarity), 0.8,
               "share of the images with particles in their mask that show them (>= 1/4 of the reference contrast)"),
    ]


def agreement_figures(predicted: list[np.ndarray], rough: list[np.ndarray]) -> list[Figure]:
    """NPsSegNet agrees with the rough masks on the morphology subset: the pooled IoU, and the share of
    rough-mask pixels it also calls particle (it may outline better, it must not miss them all)."""
    predicted = [np.asarray(p, bool) for p in predicted]
    rough = [np.asarray(r, bool) for r in rough]
    inter = sum(int((p & r).sum()) for p, r in zip(predicted, rough, strict=True))
    union = sum(int((p | r).sum()) for p, r in zip(predicted, rough, strict=True))
    rough_total = sum(int(r.sum()) for r in rough)
    return [
        Figure("iou_with_rough_masks", _ratio(inter, union), 0.2,
               "pooled IoU of NPsSegNet's masks and the rough masks on the morphology subset"),
        Figure("rough_recall", _ratio(inter, rough_total), 0.25,
               "share of rough-mask pixels NPsSegNet also calls particle"),
    ]


def reference(check_csv: str | os.PathLike, figure: str) -> float:
    """A figure written by an earlier stage's check (e.g. the real contrast measured by pix2pix's)."""
    table = pd.read_csv(check_csv)
    row = table[table["figure"] == figure]
    if row.empty:
        raise ValueError(f"{check_csv}: no figure {figure!r}")
    return float(row["value"].iloc[0])
