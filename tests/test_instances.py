"""NPsSegNet's boundary channel (npssegnet.instances boundary): where touching particles meet, learned from the
synthetic masks' instances and the rough masks split by the PSD's watershed, and used by the PSD to count touching
particles one by one."""

import numpy as np
import pytest
import torch

from synthetic import touching_pairs
from tgan.npssegnet import (IGNORE, boundary_mask, instance_boundary, load_model, logits, particle_mask,
                            pseudo_target, train_npssegnet, virtual_target)
from tgan.options import NPsSegNetOptions, PSDOptions, SegmentOptions
from tgan.psd import find_particles

CPU = torch.device("cpu")


def test_the_boundary_is_a_band_where_two_particles_meet():
    labels = np.zeros((8, 12), int)
    labels[2:6, 1:6], labels[2:6, 6:10] = 1, 2
    boundary = instance_boundary(labels)
    assert boundary[2:6, 5:7].all() and boundary[2:6, 5:7].sum() == boundary[2:6].sum()  # 1 px on each side
    assert not boundary[:, :5].any() and not boundary[:, 7:].any()
    labels[:, 6] = 0  # a one-pixel gap: the gap is the boundary
    assert np.array_equal(np.flatnonzero(instance_boundary(labels).any(axis=0)), [6])
    # a particle alone, or a binary mask of touching particles, has no boundary to learn
    assert not instance_boundary(labels == 1).any() and not instance_boundary(labels > 0).any()


def test_the_targets_of_a_binary_network_are_its_mask():
    _, labels = touching_pairs(seed=1)
    assert np.array_equal(virtual_target(labels, "none"), (labels > 0).astype(np.uint8))
    target = virtual_target(labels, "boundary")
    assert target.shape == (*labels.shape, 2)
    assert np.array_equal(target[..., 0], labels > 0) and np.array_equal(target[..., 1], instance_boundary(labels))


def test_a_rough_mask_teaches_the_boundaries_its_watershed_finds():
    """Two discs meeting at a deep neck: the PSD's watershed splits the rough mask, and the real crop's boundary
    target is where the two halves meet; the ignore band of the particle labels is ignored there too."""
    yy, xx = np.mgrid[:40, :60]
    mask = ((yy - 20) ** 2 + (xx - 20) ** 2 <= 100) | ((yy - 20) ** 2 + (xx - 39) ** 2 <= 100)
    target = pseudo_target(mask, 0, "boundary")
    assert np.array_equal(target[..., 0], mask)
    columns = np.flatnonzero(target[..., 1].any(axis=0))
    assert len(columns) == 2 and 28 <= columns.min() and columns.max() <= 31  # the neck, midway
    banded = pseudo_target(mask, 1, "boundary")
    assert np.array_equal(banded[..., 1] == IGNORE, banded[..., 0] == IGNORE)
    assert np.array_equal(pseudo_target(mask, 1, "none"), banded[..., 0])


def counts(net, seeds, spacing):
    """(true particles, particles the PSD finds from the predicted mask alone, ... with the predicted boundaries)
    and the mean diameters, on touching pairs the network never saw."""
    found = {"truth": [], "mask": [], "boundary": []}
    for seed in seeds:
        image, truth = touching_pairs((96, 96), radius=7, spacing=spacing, n_pairs=3, seed=seed)
        out = logits(net, image, CPU, SegmentOptions())
        mask = particle_mask(out, 0.5)
        found["truth"].append(np.sqrt(4 / np.pi * np.bincount(truth.ravel())[1:]))
        found["mask"].append(find_particles(mask, image, None, PSDOptions(), "s", "a")[1]["diameter_px"])
        found["boundary"].append(find_particles(mask, image, None, PSDOptions(), "s", "a",
                                                boundary=boundary_mask(out, 0.5))[1]["diameter_px"])
    return {k: np.concatenate(v) for k, v in found.items()}


@pytest.fixture
def one_thread():
    """torch on one thread: the suite runs a pytest worker per core, and a second thread per worker only
    contends for a busy core (this training took 156 s on two threads beside another job, 9 s on one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_training_on_touching_pairs_learns_to_separate_them(tmp_path, one_thread):
    """NPsSegNet with a boundary channel, trained on 32 images of particle pairs overlapping by a radius (about
    9 s on a CPU): on new images the mask merges every pair, which the distance watershed cannot split (their
    outline hardly narrows), while the predicted boundaries give the PSD every particle, of its size."""
    data = [touching_pairs(spacing=1.0, seed=seed) for seed in range(32)]
    opts = NPsSegNetOptions(encoder="resnet18", encoder_depth=3, decoder_channels=[16, 8, 8], epochs=20, batch_size=4,
                            crop_size=64, lr=3e-3, instances="boundary")
    net = load_model(train_npssegnet([d[0] for d in data], [d[1] for d in data], opts, tmp_path, CPU), CPU)
    found = counts(net, range(100, 110), spacing=1.0)
    truth = len(found["truth"])  # 60 particles in 30 pairs
    assert len(found["mask"]) <= 0.6 * truth
    assert len(found["boundary"]) == pytest.approx(truth, rel=0.1)
    assert found["boundary"].mean() == pytest.approx(found["truth"].mean(), rel=0.1)
    assert found["mask"].mean() > 1.25 * found["truth"].mean()  # the merged pairs
