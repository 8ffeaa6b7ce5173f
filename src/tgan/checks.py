"""Self-checks of the learned stages, without labels, and what the stack does when one fails.

Users have no ground truth: a collapsed pix2pix (a flat grey square), an empty generation or a
CycleGAN that smeared the particles away would still give a PSD, of garbage. So every learned stage
checks that its own output does what the stage is for and writes the figures to
`results/{stack}/checks/{stage}.csv` (figure, value, limit, passed), failed or not. What a failure does is
decided by the rules that use the stage's output (see `go_on` and tgan.fallback), so that the stage itself
does not depend on `self_checks.on_failure`: `fallback` (the default) leaves the failed stage out and goes
down the ladder of tgan.fallback, `stop` stops the stack with a message that names the stage, the figure and
what to try, `warn` goes on with the failed stage's output.

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

ON_FAILURE = ("fallback", "stop", "warn")
SKIPPED = "skipped"  # the figure of a stage that did not run (an earlier stage failed its check)

# What to try when a stage's check fails ({stack}: the stack's name), in the message of `stop`.
ADVICE = {
    "pix2pix": "The generator did not learn the particles of its training pairs: look at the rough masks "
               "(results/{stack}/rough_masks: do they cover the particles? is the stack's polarity right?) and the "
               "losses (pix2pix/losses.csv); try more pix2pix epochs or another pix2pix.lr.",
    "gen1": "pix2pix makes particles on its training masks but not on the synthetic ones: look at "
            "results/{stack}/synthetic_masks (sizes, density) against the rough masks.",
    "gen2": "The CycleGAN lost the geometry of gen1: try cyclegan.identity_init: true, a larger "
            "cyclegan.lambda_cycle or fewer CycleGAN epochs.",
    "npssegnet": "NPsSegNet does not find the particles of the rough masks on the real morphology images: the "
                 "virtual images are unlike the real ones (see the gen1 and gen2 checks), or NPsSegNet needs more "
                 "epochs; npssegnet.real_fraction > 0 adds real images to its training.",
}


class StageCheckFailed(RuntimeError):
    """A learned stage failed its self-check and self_checks.on_failure is 'stop'."""


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


def judge(stage: str, figures: list[Figure], out: str | os.PathLike) -> bool:
    """Write the figures of `stage` to `out` (CSV) and log them, failed or not; whether all passed. The rules
    that use the stage's output decide what a failure does (`go_on`)."""
    table = pd.DataFrame([{"stage": stage, "figure": f.name, "value": f.value, "limit": f.limit,
                           "passed": f.passed, "meaning": f.meaning} for f in figures])
    for f in figures:
        log.info("self-check %s: %s = %.3g (limit >= %.3g): %s", stage, f.name, f.value, f.limit,
                 "passed" if f.passed else "FAILED")
    write_csv(out, table)
    if not table["passed"].all():
        log.warning("self-check of %s FAILED (%s)", stage, failure(table))
    return bool(table["passed"].all())


def skip(stage: str, out: str | os.PathLike, reason: str) -> None:
    """The check file of a stage that did not run, saying why (an earlier stage failed its check)."""
    log.warning("%s skipped: %s", stage, reason)
    write_csv(out, pd.DataFrame([{"stage": stage, "figure": SKIPPED, "value": float("nan"), "limit": float("nan"),
                                  "passed": False, "meaning": reason}]))


def failure(table: pd.DataFrame) -> str:
    """The failed figures of a check table, in words."""
    failed = table[~table["passed"].astype(bool)]
    return "; ".join(f"{r.figure} = {r.value:.3g}, needs >= {r.limit:.3g} ({r.meaning})" for r in failed.itertuples())


@dataclass
class Outcome:
    """A stage's check as the next stages see it: passed, failed (with the figures in words) or skipped."""
    stage: str
    state: str  # "passed", "failed" or "skipped"
    why: str    # "" when passed

    @property
    def passed(self) -> bool:
        return self.state == "passed"


def outcome(check_csv: str | os.PathLike) -> Outcome:
    """Read a stage's check file."""
    table = pd.read_csv(check_csv)
    stage = str(table["stage"].iloc[0])
    if (table["figure"] == SKIPPED).any():
        return Outcome(stage, "skipped", str(table["meaning"].iloc[0]))
    if table["passed"].astype(bool).all():
        return Outcome(stage, "passed", "")
    return Outcome(stage, "failed", failure(table))


def go_on(check: Outcome, on_failure: str, stack: str) -> bool:
    """Whether the stage's output is used: yes when it passed; when it failed, stop (StageCheckFailed with the
    figures and what to try), go on with it (warn) or leave it out (fallback: False). A skipped stage is
    never used."""
    if on_failure not in ON_FAILURE:
        raise ValueError(f"self_checks.on_failure must be one of {ON_FAILURE}, got {on_failure!r}")
    if check.passed:
        return True
    if on_failure == "stop":
        if check.state == "skipped":
            raise StageCheckFailed(f"{check.stage} was skipped: {check.why}")
        raise StageCheckFailed(f"self-check of {check.stage} failed: {check.why}. "
                               f"{ADVICE.get(check.stage, '').format(stack=stack)} To go on without it, set "
                               "self_checks.on_failure: fallback (the default); to go on with it, warn.")
    if check.state == "skipped":
        return False
    if on_failure == "warn":
        log.warning("self-check of %s failed (%s); self_checks.on_failure is 'warn': going on with it", check.stage,
                    check.why)
        return True
    log.warning("self-check of %s failed (%s); self_checks.on_failure is 'fallback': leaving it out", check.stage,
                check.why)
    return False


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
