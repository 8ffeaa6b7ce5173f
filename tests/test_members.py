"""NPsSegNet members (npssegnet.members): networks of different seeds on the same data, averaged."""

import logging

import numpy as np
import pytest
import torch

from synthetic import particle_image
from tgan.npssegnet import MEMBER_SEED_STEP, MeanProbability, load_model, probability, train_npssegnet
from tgan.options import NPsSegNetOptions, SegmentOptions
from tgan.training import load_checkpoint

TINY = dict(encoder="resnet18", encoder_depth=3, decoder_channels=[16, 8, 8], epochs=2, batch_size=2, crop_size=32)
CPU = torch.device("cpu")


def pairs(n=4):
    images, masks = [], []
    for seed in range(n):
        image, labels = particle_image((48, 48), radii=(5,) * 3, seed=seed)
        images.append(image)
        masks.append(labels > 0)
    return images, masks


def test_the_model_averages_its_members_probabilities(tmp_path):
    images, masks = pairs()
    path = train_npssegnet(images, masks, NPsSegNetOptions(**TINY, members=2), tmp_path / "both", CPU, seed=3)
    members = load_checkpoint(path)["state_dicts"]
    assert len(members) == 2
    assert not all(torch.equal(members[0][k], members[1][k]) for k in members[0])  # other seeds, other weights
    # member k is the single network of seed 3 + k * MEMBER_SEED_STEP
    for k in range(2):
        single = train_npssegnet(images, masks, NPsSegNetOptions(**TINY), tmp_path / f"seed{k}", CPU,
                                 seed=3 + k * MEMBER_SEED_STEP)
        (alone,) = load_checkpoint(single)["state_dicts"]
        assert all(torch.equal(alone[name], members[k][name]) for name in alone)
    net = load_model(path, CPU)
    assert isinstance(net, MeanProbability)
    image = particle_image((48, 48), radii=(5,) * 3, seed=9)[0]
    opts = SegmentOptions(tile=48, overlap=8)
    expected = np.mean([probability(load_model(tmp_path / f"seed{k}" / "model.pt", CPU), image, CPU, opts)
                        for k in range(2)], axis=0)
    assert np.allclose(probability(net, image, CPU, opts), expected, atol=1e-5)


def test_adding_members_resumes_the_trained_ones(tmp_path, caplog):
    images, masks = pairs()
    train_npssegnet(images, masks, NPsSegNetOptions(**TINY), tmp_path, CPU)
    with caplog.at_level(logging.INFO, logger="tgan.training"):
        path = train_npssegnet(images, masks, NPsSegNetOptions(**TINY, members=2), tmp_path, CPU)
    assert "train_npssegnet: resuming after epoch 2 of 2" in caplog.text  # member 0: nothing to redo
    assert (tmp_path / "member1" / "losses.csv").read_text().count("\n") == 3  # member 1 trained: header + 2
    assert len(load_checkpoint(path)["state_dicts"]) == 2


def test_a_single_member_model_is_the_plain_network(tmp_path):
    images, masks = pairs(2)
    net = load_model(train_npssegnet(images, masks, NPsSegNetOptions(**TINY), tmp_path, CPU), CPU)
    assert not isinstance(net, MeanProbability)


def test_members_must_be_at_least_one(tmp_path):
    images, masks = pairs(2)
    with pytest.raises(ValueError, match="members"):
        train_npssegnet(images, masks, NPsSegNetOptions(**TINY, members=0), tmp_path, CPU)
