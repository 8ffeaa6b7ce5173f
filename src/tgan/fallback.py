"""The fallback ladder (`self_checks.on_failure: fallback`, the default): a stage that fails its self-check is
left out, and the stack still ends with masks and a PSD, made by the best method whose stages passed.

Methods, from the full one down (the `method` column of psd/summary.csv):
- tgan: NPsSegNet trained on gen2 and the synthetic masks (the method).
- tgan_without_cyclegan: the gen2 check failed, or the CycleGAN is switched off (cyclegan.enabled: false, no
  CycleGAN trained): NPsSegNet trained on gen1 and the synthetic masks.
- pseudo_labels_only: the pix2pix or gen1 check failed (the CycleGAN is then not trained at all): NPsSegNet
  trained on the real images alone, their rough masks as pseudo-labels.
- rough_masks: NPsSegNet failed its own check (agreement with the rough masks): the rough-mask segmenter
  (rule rough_masks' method and settings) segments every image.

With `stop` the first stage that uses a failed stage's output stops the stack; with `warn` it goes on with it
(method tgan, the reason naming the failed checks). No stage is retried with other settings: a change that
would make a failed GAN pass is not known from measurements.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .checks import Outcome, go_on

METHODS = ("tgan", "tgan_without_cyclegan", "pseudo_labels_only", "rough_masks")


@dataclass
class Method:
    """Which method made a stack's masks, and why that one (the checks that failed above it)."""
    method: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def read(cls, path: str | os.PathLike) -> Method:
        """The method of a record written by train_npssegnet or segment (method.json)."""
        record = json.loads(Path(path).read_text())
        return cls(record["method"], record["reason"])


def _used_anyway(check: Outcome) -> str:
    return f"; {check.stage} failed its self-check ({check.why}) and is used anyway (self_checks.on_failure: warn)"


SWITCHED_OFF = "the CycleGAN switched off (cyclegan.enabled: false)"


def training_data(gen1: Outcome, gen2: Outcome | None, on_failure: str, stack: str) -> Method:
    """What NPsSegNet trains on, from the gen1 and gen2 checks: gen2, else gen1, else no virtual images. gen2 None:
    the CycleGAN is switched off (no gen2)."""
    if gen2 is not None and go_on(gen2, on_failure, stack):
        return Method("tgan", "NPsSegNet trained on gen2" + ("" if gen2.passed else _used_anyway(gen2)))
    if go_on(gen1, on_failure, stack):
        return Method("tgan_without_cyclegan", f"{SWITCHED_OFF if gen2 is None else left_out(gen2)}: NPsSegNet "
                      "trained on gen1" + ("" if gen1.passed else _used_anyway(gen1)))
    return Method("pseudo_labels_only", f"{left_out(gen1)}: NPsSegNet trained on the real images with their "
                                        "rough masks as pseudo-labels alone")


def segmentation(npssegnet: Outcome, trained: Method, on_failure: str, stack: str) -> Method:
    """What segments the stack: its NPsSegNet (with the method it was trained by), else the rough-mask segmenter."""
    if go_on(npssegnet, on_failure, stack):
        return trained if npssegnet.passed else Method(trained.method, trained.reason + _used_anyway(npssegnet))
    return Method("rough_masks", f"{left_out(npssegnet)}, trained by method {trained.method} ({trained.reason}): "
                                 "the rough-mask segmenter segments every image")


def left_out(check: Outcome) -> str:
    """Why a stage's output is left out, in words: its failed figures, or why it was skipped (which names the
    stage that failed first); also the reason a stage after it is skipped."""
    return check.why if check.state == "skipped" else f"{check.stage} left out (its self-check failed: {check.why})"

