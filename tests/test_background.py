"""pix2pix.background: the particle-free support of a real image, its crops for gen1, and a pix2pix that
takes it as a second input."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from synthetic import particle_image, support
from tgan.background import BackgroundCrops, median_radius, particle_free
from tgan.generate import load_generator, translate
from tgan.options import Pix2PixOptions
from tgan.pix2pix import conditions, train_pix2pix

CPU = torch.device("cpu")


def test_median_radius_of_discs():
    _, labels = particle_image((200, 200), radii=(6,) * 9 + (12,), seed=1)
    assert median_radius(labels > 0) == pytest.approx(6, abs=0.5)
    assert median_radius(np.zeros((20, 20), bool)) == 0.0


def test_particles_are_removed_and_a_missed_one_is_blurred_away():
    rng = np.random.default_rng(3)
    floor = support((240, 240), rng)
    _, labels = particle_image((240, 240), radii=(6,) * 12, seed=4)
    image = floor + 0.35 * (labels > 0)
    mask = (labels > 0) & (labels != 1)  # particle 1 is missed by the "rough masks"
    background = particle_free(image, mask)
    smooth = ndimage.gaussian_filter(floor, 12)
    inside = mask
    assert image[inside].mean() - smooth[inside].mean() > 0.3  # the particles stand out of the support...
    assert abs(background[inside] - smooth[inside]).mean() < 0.03  # ...and are gone from the background
    missed = labels == 1
    assert (background - smooth)[missed].max() < 0.25 * 0.35  # a missed particle leaks at under 1/4 contrast
    assert background.dtype == np.float32 and background.shape == image.shape


def test_background_of_a_mask_that_covers_everything_is_the_mean():
    image = np.random.default_rng(0).random((30, 30)).astype(np.float32)
    assert np.allclose(particle_free(image, np.ones((30, 30), bool)), image.mean())


def test_background_crops_depend_only_on_seed_and_index():
    rng = np.random.default_rng(0)
    backgrounds = [rng.random((100, 120)).astype(np.float32), rng.random((40, 50)).astype(np.float32)]
    crops = BackgroundCrops(backgrounds, seed=5)
    first = crops.crop(7, (64, 64))
    assert first.shape == (64, 64)
    assert np.array_equal(first, BackgroundCrops(backgrounds, seed=5).crop(7, (64, 64)))
    assert not np.array_equal(first, crops.crop(8, (64, 64)))
    assert not np.array_equal(first, BackgroundCrops(backgrounds, seed=6).crop(7, (64, 64)))
    values = np.concatenate([b.ravel() for b in backgrounds])
    assert np.isin(crops.crop(3, (96, 80)), values).all()  # real background values, padded by reflection


def test_pix2pix_with_a_background_takes_it_as_a_second_input(tmp_path):
    pairs = [particle_image((64, 64), radii=(4,) * 5, seed=i) for i in range(3)]
    images, masks = [i for i, _ in pairs], [lab > 0 for _, lab in pairs]
    opts = Pix2PixOptions(crop_size=32, batch_size=2, crops_per_epoch=4, n_epochs=1, n_epochs_decay=0, ndf=8,
                          n_layers_d=2, encoder="resnet18", encoder_depth=3, decoder_channels=[16, 8, 4],
                          background=True)
    net = load_generator(train_pix2pix(masks, images, opts, tmp_path, CPU, seed=0), CPU)
    assert net.takes_background
    condition = conditions(masks, images, net.takes_background)[0]
    assert condition.shape == (2, 64, 64) and np.array_equal(condition[0], masks[0])
    out = translate(net, condition, CPU)
    assert out.shape == (64, 64)
    other = translate(net, np.stack([condition[0], 1 - condition[1]]), CPU)
    assert np.abs(out - other).mean() > 1e-3  # the background channel reaches the output
    with pytest.raises(RuntimeError):
        translate(net, condition[0], CPU)  # a mask alone is not enough for this generator
