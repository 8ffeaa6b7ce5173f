"""pix2pix/cyclegan.diffaugment: what the discriminators see is augmented, differentiably, with the
condition kept aligned and unchanged in contrast."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from synthetic import particle_image
from tgan import networks
from tgan.cyclegan import train_cyclegan
from tgan.diffaugment import TRANSLATION, augmenter
from tgan.options import CycleGANOptions, Pix2PixOptions
from tgan.pix2pix import train_pix2pix

CPU = torch.device("cpu")
SIDE = 32


def blobs(n=6) -> torch.Tensor:
    """n x 2 x SIDE x SIDE in [-1, 1]: a 6-px square (its place differs per sample) in both channels."""
    x = -torch.ones(n, 2, SIDE, SIDE)
    for i in range(n):
        x[i, :, 10 + i:16 + i, 12:18] = 1.0
    return x


def test_translation_moves_condition_and_image_together_by_at_most_an_eighth():
    x = blobs()
    y = augmenter(["translation"], torch.Generator().manual_seed(0))(x + 1) - 1  # pad value 0 = background
    assert torch.equal(y[:, 0], y[:, 1])
    moved = 0
    for before, after in zip(x[:, 0] > 0, y[:, 0] > 0):
        assert after.sum() == before.sum() == 36  # shifted, not cut: the square is far from the border
        shift = np.subtract(ndimage.center_of_mass(after.numpy()), ndimage.center_of_mass(before.numpy()))
        assert np.all(np.abs(shift) <= TRANSLATION * SIDE + 0.5)
        moved += bool(np.any(shift != 0))
    assert moved >= 4


def test_cutout_zeroes_one_square_in_every_channel():
    y = augmenter(["cutout"], torch.Generator().manual_seed(1))(blobs())
    cut = y == 0  # the inputs are +-1: zero only where cut out
    assert torch.equal(cut[:, 0], cut[:, 1])
    for sample in cut[:, 0]:
        rows, cols = np.nonzero(sample.numpy())
        assert len(rows) >= (SIDE // 4) ** 2  # the square may hang over the border by up to half its side
        assert len(rows) == (np.ptp(rows) + 1) * (np.ptp(cols) + 1) <= (SIDE // 2) ** 2  # one filled rectangle


def test_photometric_policies_change_the_image_channel_only():
    x = blobs()
    y = augmenter(["brightness"], torch.Generator().manual_seed(2))(x)
    assert torch.equal(y[:, 0], x[:, 0])
    offset = (y[:, 1] - x[:, 1]).flatten(1)
    assert torch.allclose(offset, offset[:, :1].expand_as(offset), atol=1e-6)  # one offset per sample
    assert offset[:, 0].abs().max() > 0.05 and offset[:, 0].abs().max() <= 0.5

    y = augmenter(["contrast"], torch.Generator().manual_seed(3))(x)
    assert torch.equal(y[:, 0], x[:, 0])
    assert torch.allclose(y[:, 1].mean((1, 2)), x[:, 1].mean((1, 2)), atol=1e-5)  # scaled about its mean
    spread = y[:, 1].std((1, 2)) / x[:, 1].std((1, 2))
    assert bool(((spread >= 0.5) & (spread <= 1.5)).all()) and spread.max() - spread.min() > 0.1


def test_gradients_pass_through_every_policy():
    fake = blobs(3).requires_grad_(True)
    augment = augmenter(["brightness", "contrast", "translation", "cutout"], torch.Generator().manual_seed(4))
    augment(fake).square().sum().backward()
    assert fake.grad is not None and (fake.grad[:, 1] != 0).float().mean() > 0.3


def test_no_policy_is_the_identity_and_draws_nothing():
    generator = torch.Generator().manual_seed(5)
    state = generator.get_state()
    x = blobs()
    assert augmenter([], generator)(x) is x
    assert torch.equal(generator.get_state(), state)


def test_draws_come_from_the_given_generator():
    policy = ["brightness", "contrast", "translation", "cutout"]
    a = augmenter(policy, torch.Generator().manual_seed(6))(blobs())
    b = augmenter(policy, torch.Generator().manual_seed(6))(blobs())
    c = augmenter(policy, torch.Generator().manual_seed(7))(blobs())
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_unknown_policy_is_refused_by_name():
    with pytest.raises(ValueError, match="saturation"):
        augmenter(["translation", "saturation"], torch.Generator())


def spy_on_discriminators(monkeypatch) -> list[torch.Tensor]:
    """Every batch a discriminator built from now on is given."""
    seen, build = [], networks.discriminator

    def spied(*args, **kwargs):
        net = build(*args, **kwargs)
        net.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].detach().clone()))
        return net

    monkeypatch.setattr(networks, "discriminator", spied)
    return seen


def binary_stack(n=3):
    """Images and masks of +-1 values only once scaled to [-1, 1]: exact zeros are cut-out pixels."""
    masks = [particle_image((48, 48), radii=(5,) * 4, seed=i)[1] > 0 for i in range(n)]
    return [m.astype(np.float32) for m in masks], masks


@pytest.mark.parametrize("policy", [[], ["cutout"]])
def test_pix2pix_discriminator_sees_the_augmented_pairs(monkeypatch, tmp_path, policy):
    seen = spy_on_discriminators(monkeypatch)
    images, masks = binary_stack()
    opts = Pix2PixOptions(crop_size=SIDE, batch_size=2, crops_per_epoch=4, n_epochs=1, n_epochs_decay=0, ndf=8,
                          n_layers_d=2, encoder="resnet18", encoder_depth=3, decoder_channels=[16, 8, 4],
                          diffaugment=policy)
    train_pix2pix(masks, images, opts, tmp_path, CPU, seed=0)
    assert len(seen) == 6  # 2 steps: D's fake and real pairs, G's fake pair
    assert_cut_out(seen, policy)


@pytest.mark.parametrize("policy", [[], ["cutout"]])
def test_cyclegan_discriminators_see_augmented_images(monkeypatch, tmp_path, policy):
    seen = spy_on_discriminators(monkeypatch)
    images, masks = binary_stack()
    # no pool, so D sees this step's fakes (pool_size 0, which the schema allows, crashed here until the pool
    # detached the fakes it hands on)
    opts = CycleGANOptions(crop_size=SIDE, batch_size=2, crops_per_epoch=4, n_epochs=1, n_epochs_decay=0, ngf=4,
                           n_blocks=1, ndf=8, n_layers_d=2, pool_size=0, diffaugment=policy)
    train_cyclegan(images, [m.astype(np.float32) for m in masks], opts, tmp_path, CPU, seed=0)
    assert len(seen) == 12  # 2 steps: G's two fakes, D's two reals and two fakes
    assert_cut_out(seen, policy)


def assert_cut_out(batches: list[torch.Tensor], policy: list[str]) -> None:
    """Channel 0 of every batch is +-1 (a mask, or a binary image and the generators' near copies of it)
    except where cutout zeroed a square: in every sample with the policy, nowhere without it."""
    for batch in batches:
        zeros = (batch[:, 0] == 0).flatten(1).sum(1)
        assert bool((zeros >= (SIDE // 4) ** 2).all()) if policy else int(zeros.sum()) == 0
