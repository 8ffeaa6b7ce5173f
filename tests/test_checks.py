"""Self-checks of the learned stages: each passes on output that does the stage's job and fails, with a
message naming the stage and the figure, on the output of a broken stage."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import ndimage
from torch import nn

from synthetic import particle_image
from tgan import checks
from tgan.generate import translate


class Constant(nn.Module):
    """A collapsed generator: the same grey value everywhere, whatever the mask."""

    def forward(self, x):
        return torch.zeros_like(x)


class Renders(nn.Module):
    """A generator that learned its job on these images: particles bright where the mask is."""

    def forward(self, x):
        return 0.3 * x - 0.2


def pairs(n=3, polarity="bright"):
    images, masks = [], []
    for seed in range(n):
        image, labels = particle_image((128, 128), radii=(6,) * 10, seed=seed, polarity=polarity)
        images.append(image)
        masks.append(labels > 0)
    return images, masks


LOSSES_FALLING = pd.DataFrame({"loss_g_l1": [0.30, 0.22, 0.15]})
LOSSES_FLAT = pd.DataFrame({"loss_g_l1": [0.33, 0.31, 0.34]})


def figure(figures, name):
    return next(f for f in figures if f.name == name)


def test_pix2pix_check_passes_a_generator_that_renders_particles_and_fails_a_constant_one():
    images, masks = pairs()
    device = torch.device("cpu")
    good = checks.pix2pix_figures([translate(Renders(), m, device) for m in masks], images, masks, LOSSES_FALLING,
                                  "bright")
    assert all(f.passed for f in good), [(f.name, f.value) for f in good]
    bad = checks.pix2pix_figures([translate(Constant(), m, device) for m in masks], images, masks, LOSSES_FLAT,
                                 "bright")
    failed = {f.name for f in bad if not f.passed}
    assert failed == {"contrast_ratio", "spread_ratio", "l1_drop"}, [(f.name, f.value) for f in bad]
    assert figure(bad, "contrast_ratio").value == pytest.approx(0.0, abs=1e-6)


def test_pix2pix_check_fails_on_rough_masks_of_the_wrong_polarity():
    images, masks = pairs(polarity="dark")  # dark particles, checked as if bright
    generated = [np.where(m, 0.2, 0.6).astype(np.float32) for m in masks]
    figures = checks.pix2pix_figures(generated, images, masks, LOSSES_FALLING, "bright")
    assert not figure(figures, "real_contrast").passed
    assert figure(checks.pix2pix_figures(generated, images, masks, LOSSES_FALLING, "dark"), "real_contrast").passed


def test_generation_check_fails_when_the_particles_are_gone():
    images, masks = pairs()
    contrast, spread = checks.particle_contrast(images, masks, "bright"), checks.spread(images)
    kept = checks.generation_figures(images, masks, contrast, spread, "bright")
    assert all(f.passed for f in kept)
    smeared = [ndimage.gaussian_filter(i, 25).astype(np.float32) for i in images]  # a CycleGAN that lost them
    failed = {f.name for f in checks.generation_figures(smeared, masks, contrast, spread, "bright") if not f.passed}
    assert failed == {"contrast_ratio", "rendered_fraction"}  # the support is still there, the particles are not
    flat = [np.full_like(i, 0.4) for i in images]  # an empty generation
    assert {f.name for f in checks.generation_figures(flat, masks, contrast, spread, "bright")
            if not f.passed} == {"contrast_ratio", "spread_ratio", "rendered_fraction"}
    half = images[:2] + [np.full_like(images[2], 0.4)]  # one image of three lost its particles
    assert {f.name for f in checks.generation_figures(half, masks, contrast, spread, "bright")
            if not f.passed} == {"rendered_fraction"}


def test_flat_images_of_particle_free_masks_pass_the_generation_check():
    """Large particles (EMPS): many 256-px synthetic masks hold no particle, and their images are rightly as
    flat as a crop of clean film; they must not fail the check (seen on the EMPS bench stack)."""
    images, masks = pairs()
    contrast, spread = checks.particle_contrast(images, masks, "bright"), checks.spread(images)
    empty = [np.zeros_like(m) for m in masks]
    generated = images + [np.full_like(i, 0.3) for i in images]
    assert all(f.passed for f in checks.generation_figures(generated, masks + empty, contrast, spread, "bright"))


def test_npssegnet_check_fails_when_it_misses_the_rough_masks():
    _, masks = pairs()
    assert all(f.passed for f in checks.agreement_figures([ndimage.binary_dilation(m) for m in masks], masks))
    empty = checks.agreement_figures([np.zeros_like(m) for m in masks], masks)
    assert [f.passed for f in empty] == [False, False]
    shifted = checks.agreement_figures([np.roll(m, 40, axis=1) for m in masks], masks)  # particles elsewhere
    assert not figure(shifted, "iou_with_rough_masks").passed


def test_judge_writes_a_failed_check_and_says_which_figure(tmp_path, caplog):
    """A stage writes its check failed or not (what a failure does is up to the stages after it, see
    test_fallback.py), and logs the failed figures."""
    failing = [checks.Figure("contrast_ratio", 0.01, 0.3, "generated over real"),
               checks.Figure("spread_ratio", 0.9, 0.2, "spread")]
    out = tmp_path / "checks" / "pix2pix.csv"
    assert checks.judge("pix2pix", failing, out) is False
    table = pd.read_csv(out)
    assert table["passed"].tolist() == [False, True]
    assert "self-check of pix2pix FAILED (contrast_ratio = 0.01, needs >= 0.3 (generated over real))" in caplog.text
    assert checks.reference(out, "spread_ratio") == pytest.approx(0.9)
    assert checks.judge("pix2pix", failing[1:], out) is True and pd.read_csv(out)["passed"].tolist() == [True]
