"""The label-free quality estimate and the floor (tgan.quality): figures that need no labels rank masks the way
the true particles do, and each image's answer is the mask that outlines them better."""

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from synthetic import particle_image
from tgan import quality
from tgan.psd import ALL_IMAGES


def blurred_truth(labels: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """A network-like probability map of the true particles: the truth blurred, so that outlines are soft."""
    return ndimage.gaussian_filter((labels > 0).astype(float), sigma)


def test_contrast_ranks_the_true_mask_above_wrong_ones():
    image, labels = particle_image((192, 192), radii=(7,) * 14, seed=3)
    truth = labels > 0
    wrong = {"swollen": ndimage.binary_dilation(truth, iterations=4),
             "shrunk": ndimage.binary_erosion(truth, iterations=3),
             "half the particles": np.isin(labels, np.arange(1, labels.max() // 2 + 1)) | (image > 0.9),
             "noise specks": truth | (np.random.default_rng(0).random(truth.shape) > 0.97)}
    true_score = quality.contrast(image, truth)
    for name, mask in wrong.items():
        assert quality.contrast(image, mask) < true_score, name
    assert quality.contrast(image, np.zeros_like(truth)) == 0.0
    assert quality.contrast(image, np.ones_like(truth)) == 0.0


def test_flip_agreement_is_one_for_a_flip_equivariant_segmenter_and_low_for_one_that_is_not():
    image, labels = particle_image(seed=1)
    threshold = 0.5

    def equivariant(img):  # a fixed grey-level threshold commutes with flips
        return (img > 0.6).astype(float)

    def biased(img):  # calls particle what lies in the left half, wherever the particles are
        out = np.zeros_like(img)
        out[:, : img.shape[1] // 2] = 1.0
        return out * (img > 0.6)

    mask = equivariant(image) >= threshold
    assert quality.flip_agreement(equivariant, image, mask, threshold) == 1.0
    assert quality.flip_agreement(biased, image, biased(image) >= threshold, threshold) < 0.6


def test_explained_variance_is_highest_for_the_mask_of_the_particles():
    image, labels = particle_image((192, 192), radii=(7,) * 14, seed=3)
    truth = labels > 0
    rng = np.random.default_rng(0)
    wrong = {"half the particles": np.isin(labels, np.arange(1, labels.max() // 2 + 1)),
             "noise specks": rng.random(truth.shape) > 0.97,
             "shifted off the particles": np.roll(truth, 9, axis=1),
             "swollen": ndimage.binary_dilation(truth, iterations=4)}
    true_score = quality.explained(image, truth)
    assert 0.5 < true_score <= 1.0
    for name, mask in wrong.items():
        assert quality.explained(image, mask) < true_score, name
    assert quality.explained(image, wrong["half the particles"]) < 0.75 * true_score  # half the variance, about
    assert quality.explained(image, np.zeros_like(truth)) == quality.explained(image, np.ones_like(truth)) == 0.0
    assert quality.explained(np.full((8, 8), 0.5), np.eye(8, dtype=bool)) == 0.0  # a flat image


def test_object_agreement_counts_the_particles_two_masks_share():
    _, labels = particle_image((192, 192), radii=(7,) * 14, seed=2)
    truth = labels > 0
    n = labels.max()
    half = np.isin(labels, np.arange(1, n // 2 + 1))
    assert quality.object_agreement(truth, truth) == 1.0
    assert quality.object_agreement(truth, half) == pytest.approx(2 * (n // 2) / (n + n // 2))
    assert quality.object_agreement(truth, ndimage.binary_erosion(truth, iterations=2)) == 1.0  # IoU >= 0.5 each
    assert quality.object_agreement(truth, np.roll(truth, 40, axis=0) & ~truth) == 0.0
    assert quality.object_agreement(truth, np.zeros_like(truth)) == 0.0
    assert quality.object_agreement(np.zeros_like(truth), np.zeros_like(truth)) == 1.0


def test_assess_answers_with_the_mask_that_outlines_the_particles():
    image, labels = particle_image((192, 192), radii=(7,) * 14, seed=4)
    truth = labels > 0
    good_prob = blurred_truth(labels, 1.0)

    def network(img):  # the same network on the flipped image: the flip of its map (it is equivariant)
        return blurred_truth(np.fliplr(labels) if np.array_equal(img, np.fliplr(image)) else np.flipud(labels), 1.0)

    bad_rough = ndimage.binary_dilation(truth, iterations=5)
    answer, _, figures = quality.assess(image, good_prob, bad_rough, 0.5, network)
    assert figures["answer"] == "npssegnet" and np.array_equal(answer, good_prob >= 0.5)
    assert figures["agreement_flips"] > 0.95
    assert figures["agreement_objects"] < 0.5  # the swollen rough mask merges most particles
    flat = quality.detrended(image, np.ones(image.shape, bool))
    assert figures["quality"] == pytest.approx(np.mean([figures["agreement_flips"], figures["agreement_objects"],
                                                        quality.explained(flat, good_prob >= 0.5)]))

    # a rough mask a little closer to the edges answers where it also explains more of the image (it is better on
    # both figures); one that is sharper but misses particles (explains less) does not, short of CONTRAST_MARGIN
    thin_prob = blurred_truth(ndimage.binary_erosion(labels > 0), 1.0)
    thin = thin_prob >= 0.5
    for missed, expected in ((0, "rough_masks"), (4, "npssegnet")):
        rough = truth & ~np.isin(labels, np.arange(1, missed + 1))
        figures = quality.assess(image, thin_prob, rough, 0.5, lambda img: thin_prob)[2]
        assert 1.0 < figures["contrast_rough"] / figures["contrast_npssegnet"] < quality.CONTRAST_MARGIN
        assert (figures["explained_rough"] > figures["explained_npssegnet"]) == (expected == "rough_masks")
        assert figures["agreement_pixels"] == pytest.approx(quality.iou(thin, rough))
        assert figures["agreement_pixels"] < quality.SAME_ANSWER
        assert figures["answer"] == expected, missed

    # NPsSegNet's mask misses half the particles, with outlines as good as the rough mask's: the contrast does
    # not tell them apart, the share of the image's variance that each explains does
    half_prob = blurred_truth(np.where(labels <= labels.max() // 2, labels, 0), 1.0)
    ratio = quality.contrast(image, truth) / quality.contrast(image, half_prob >= 0.5)
    assert ratio < quality.CONTRAST_MARGIN
    answer, _, figures = quality.assess(image, half_prob, truth, 0.5, lambda img: half_prob)
    assert figures["explained_rough"] > quality.EXPLAINED_MARGIN * figures["explained_npssegnet"]
    assert figures["answer"] == "rough_masks" and np.array_equal(answer, truth)
    assert figures["agreement_objects"] == pytest.approx(quality.object_agreement(half_prob >= 0.5, truth))
    assert figures["quality"] == pytest.approx(np.mean([figures["agreement_flips"], figures["agreement_objects"],
                                                        figures["explained_rough"]]))

    # an NPsSegNet that failed its self-check only estimates: the rough mask answers, and its figures count
    answer, _, figures = quality.assess(image, good_prob, bad_rough, 0.5, network, npssegnet_may_answer=False)
    assert figures["answer"] == "rough_masks" and np.array_equal(answer, bad_rough)
    assert figures["quality"] == np.mean([figures["agreement_flips"], figures["agreement_objects"],
                                          figures["explained_rough"]])

    bad_prob = ndimage.gaussian_filter(np.roll(truth, 6, axis=1).astype(float), 1.0)  # shifted off the particles
    answer, _, figures = quality.assess(image, bad_prob, truth, 0.5, lambda img: bad_prob)
    assert figures["answer"] == "rough_masks" and np.array_equal(answer, truth)
    assert figures["quality"] < 0.75  # NPsSegNet's mask shares no particle with the rough mask


def test_a_rough_mask_of_a_few_sharp_particles_does_not_replace_one_that_finds_them_all():
    """The contrast compares outlines only between masks that both explain the image: a rough mask of two exact
    particles out of fourteen has the sharper outlines (twice NPsSegNet's swollen ones), yet misses the rest."""
    image, labels = particle_image((192, 192), radii=(7,) * 14, seed=4)
    swollen = ndimage.binary_dilation(labels > 0, iterations=2)
    few = np.isin(labels, [1, 2])
    answer, figures = quality.decide(image, swollen, few, 1.0)
    assert figures["contrast_rough"] > quality.CONTRAST_MARGIN * figures["contrast_npssegnet"]
    assert figures["explained_rough"] < quality.CONTRAST_GATE * figures["explained_npssegnet"]
    assert figures["answer"] == "npssegnet" and np.array_equal(answer, swollen)


def test_burned_in_annotations_are_no_part_of_the_floor():
    """A white label and a scale bar burned into a grey image of dark particles: a rough mask of them (sharp, far
    from the sample's grey levels) outscores NPsSegNet's particles when they count; with them left out, as the PSD
    leaves them out, NPsSegNet's mask answers, and both masks are cleared there."""
    image, labels = particle_image((192, 192), radii=(7,) * 14, seed=5)
    image = 0.7 - 0.4 * image  # dark particles on a grey film
    ignore = np.zeros(image.shape, bool)
    ignore[:24, :40] = ignore[176:184, 10:90] = True
    image[ignore] = 1.0
    particles = (labels > 0) & ~ignore
    rough = ignore | (labels == labels[~ignore & (labels > 0)].max())  # the annotations and one particle
    _, figures = quality.decide(image, particles, rough, 1.0)
    assert figures["answer"] == "rough_masks"
    answer, figures = quality.decide(image, particles, rough, 1.0, ignore=ignore)
    assert figures["answer"] == "npssegnet" and np.array_equal(answer, particles)
    assert figures["explained_npssegnet"] > 0.5 > figures["explained_rough"]
    rough_answer, _ = quality.decide(image, particles, rough, 1.0, npssegnet_may_answer=False, ignore=ignore)
    assert not rough_answer[ignore].any() and rough_answer.sum() == (rough & ~ignore).sum()


def test_two_masks_that_share_nearly_every_pixel_are_answered_by_the_rough_one():
    """NPsSegNet's mask is the truth, the rough mask the truth with one particle a pixel thinner: NPsSegNet's
    outlines are (a little) better, but the two are one answer, and the rough mask answers."""
    image, labels = particle_image((192, 192), radii=(7,) * 14, seed=4)
    truth = labels > 0
    rough = truth & ~((labels == 1) & ~ndimage.binary_erosion(labels == 1))
    answer, figures = quality.decide(image, truth, rough, 1.0)
    assert figures["agreement_pixels"] == pytest.approx(quality.iou(truth, rough))
    assert quality.SAME_ANSWER <= figures["agreement_pixels"] < 1.0
    assert figures["contrast_rough"] < figures["contrast_npssegnet"]
    assert figures["answer"] == "rough_masks" and np.array_equal(answer, rough)


def test_the_quality_estimate_ranks_worse_answers_lower():
    """Both candidates noisier and noisier (NPsSegNet's map, and a rough mask of its own noise): whichever
    answers is truly worse each time, and its estimate falls with it."""
    image, labels = particle_image((192, 192), radii=(7,) * 14, seed=5)
    truth = labels > 0
    rng = np.random.default_rng(0)
    estimates, true_scores = [], []
    for noise in (0.0, 0.25, 0.5):
        prob = np.clip(blurred_truth(labels, 1.0 + 4 * noise) + noise * rng.normal(size=truth.shape), 0, 1)
        rough = blurred_truth(labels, 1.0) + noise * rng.normal(size=truth.shape) >= 0.5
        noisy = lambda img, p=prob: p  # noqa: E731 - flips do not move its noise: it disagrees with itself
        answer, _, figures = quality.assess(image, prob, rough, 0.5, noisy)
        estimates.append(figures["quality"])
        true_scores.append(quality.iou(answer, truth))
    assert true_scores[0] > true_scores[1] > true_scores[2]
    assert estimates[0] > estimates[1] > estimates[2]


def test_doubtful_marks_the_lowest_fifth_and_skips_missing_estimates():
    scores = np.array([0.9, 0.2, 0.8, 0.7, np.nan, 0.1, 0.95, 0.6, 0.85, 0.75, 0.65])
    marked = quality.doubtful(scores)
    assert set(np.flatnonzero(marked)) == {1, 5}  # 10 ranked images: the two lowest
    assert not quality.doubtful(np.array([0.5, 0.4])).any()  # fewer than three images: none singled out
    assert not quality.doubtful(np.full(6, np.nan)).any()


def test_the_summary_gets_each_images_answer_and_the_stacks_mean_quality():
    summary = pd.DataFrame({"image": ["a", "b", "c", ALL_IMAGES], "count": [10, 12, 8, 30]})
    table = pd.DataFrame({"image": ["a", "b", "c"], "answer": ["npssegnet", "rough_masks", "npssegnet"],
                          "quality": [0.9, 0.5, 0.7], "doubtful": [False, True, False]})
    out = quality.with_quality(summary, table).set_index("image")
    assert list(out.loc[["a", "b", "c"], "answer"]) == ["npssegnet", "rough_masks", "npssegnet"]
    assert abs(out.loc[ALL_IMAGES, "quality"] - 0.7) < 1e-12
    assert out.loc[ALL_IMAGES, "answer"] == "npssegnet: 2 images, rough_masks: 1 images"
    line = quality.log_doubtful("s", quality.with_quality(summary, table))
    assert "rough masks outline 1 of 3 images better than NPsSegNet: b" in line and "overlays first): b" in line


def test_assess_redraws_npssegnets_outlines_as_the_rough_masks_are_drawn():
    """A network whose outlines lie inside the particles (as NPsSegNet's inside the rough masks' it learned from)
    answers with each particle redrawn at the rough masks' edge level; its flip agreement stays its own."""
    from tgan.rough_masks import outline

    image, labels = particle_image((192, 192), radii=(10,) * 12, seed=5, noise=0.01)
    image = ndimage.gaussian_filter(image, 1.0)  # a soft edge, as a microscope's
    truth = labels > 0
    tight = blurred_truth(ndimage.binary_erosion(truth, iterations=2), 1.0)
    redraw = outline({"edge_level": 0.25}, "bright")
    plain, raw, plain_figures = quality.assess(image, tight, truth, 0.5, lambda img: tight)
    answer, candidate, figures = quality.assess(image, tight, truth, 0.5, lambda img: tight, outline=redraw)
    assert np.array_equal(raw, tight >= 0.5) and np.array_equal(candidate, redraw(image, tight >= 0.5))
    assert quality.iou(candidate, truth) > 0.9 > quality.iou(raw, truth) + 0.2  # 0.94 and 0.67
    assert figures["agreement_flips"] == plain_figures["agreement_flips"]
    assert outline({"edge_level": 0.0}, "bright") is None


def test_a_mask_of_the_brighter_half_of_a_tilted_frame_does_not_beat_the_particles():
    """An illumination (or film thickness) that tilts across the frame is grey-level variance that a mask of the
    brighter half explains; the floor measures what each mask explains without the tilt, so the rough mask of the
    particles answers, not NPsSegNet's mask of half the frame (dev image 2cd773d930)."""
    image, labels = particle_image((192, 192), radii=(6,) * 14, seed=5)
    tilted = np.clip(0.6 * image + np.linspace(0.0, 0.4, 192)[:, None], 0, 1).astype(np.float32)
    half = np.zeros(image.shape, bool)
    half[96:] = True
    assert quality.explained(tilted, half) > 2 * quality.explained(tilted, labels > 0)  # the tilt, not particles
    answer, figures = quality.decide(tilted, half, labels > 0, 1.0)
    assert figures["explained_rough"] > 10 * figures["explained_npssegnet"]
    assert figures["answer"] == "rough_masks" and np.array_equal(answer, labels > 0)
