"""NPsSegNet's second channel (npssegnet.instances boundary or distance): where touching particles meet, or each
particle's distance to its own background, learned from the synthetic masks' instances and the rough masks split by
the PSD's watershed, and used by the PSD to count touching particles one by one."""

import numpy as np
import pandas as pd
import pytest
import torch

from synthetic import touching_pairs
from tgan.npssegnet import (DISTANCE_BAND_PX, IGNORE, boundary_mask, distance_instances, instance_boundary,
                            instance_distance, load_model, logits, particle_mask, pseudo_target, train_npssegnet,
                            virtual_target)
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


def test_the_distance_target_is_each_particles_own():
    """Each particle's distance to its background and to the particle it touches, 1 at its own centre (a small
    particle's as a large one's), learned on the particles and a band around them only."""
    labels = np.zeros((30, 50), int)
    labels[5:25, 5:25], labels[5:25, 25:35], labels[12:15, 42:45] = 1, 2, 3
    distance = instance_distance(labels)
    for k in (1, 2, 3):
        assert distance[labels == k].max() == 1.0
    assert distance[14, 24] < 0.15 and distance[14, 25] < 0.25  # both fall where they meet
    assert distance[13, 43] == 1.0 and distance[12, 42] == 0.5  # 3 x 3: its centre 2 px from the background
    assert not distance[labels == 0].any()
    target = virtual_target(labels, "distance")
    assert target.dtype == np.float32 and np.array_equal(target[..., 0], labels > 0)
    far = target[..., 1] == IGNORE
    assert np.array_equal(target[..., 1][~far], distance[~far])
    assert not far[labels > 0].any() and not far[5:25, 35 + DISTANCE_BAND_PX - 1].any()  # the band: learned
    assert far[:, 45 + DISTANCE_BAND_PX:].all() and far[:5 - DISTANCE_BAND_PX].all()  # beyond it: ignored
    banded = pseudo_target(labels > 0, 1, "distance")  # the real crops: the pseudo-labels' ignore band too
    assert (banded[..., 1][banded[..., 0] == IGNORE] == IGNORE).all()


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def test_a_distance_map_splits_two_touching_discs():
    """Two discs overlapping by a radius: one blob that the PSD's distance watershed keeps whole, but the
    distance map of the two discs, given as NPsSegNet's prediction, has a core in each, and the PSD splits the
    blob where their watershed meets into the two discs, each of its own size."""
    image, truth = touching_pairs((64, 64), radius=9, spacing=1.0, n_pairs=1, seed=3)
    mask = truth > 0
    out = np.stack([logit(mask.astype(float)), logit(instance_distance(truth))])
    assert len(find_particles(mask, image, None, PSDOptions(), "s", "a")[1]) == 1
    boundary = boundary_mask(out, 0.5, "distance")
    table = find_particles(mask, image, None, PSDOptions(), "s", "a", boundary=boundary)[1]
    assert len(table) == 2
    assert sorted(table["area_px2"]) == pytest.approx(sorted(np.bincount(truth.ravel())[1:]), rel=0.1)
    # the watershed alone gives the two discs, pixel for pixel but for a few on the line where they meet
    split = distance_instances(instance_distance(truth), mask, 0.1)
    agree = max(((split == 1) & (truth == 1)).sum() + ((split == 2) & (truth == 2)).sum(),
                ((split == 1) & (truth == 2)).sum() + ((split == 2) & (truth == 1)).sum())
    assert agree >= 0.97 * mask.sum()


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
                                                boundary=boundary_mask(out, 0.5, net.instances))[1]["diameter_px"])
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


def test_training_a_distance_channel_lowers_its_loss_and_separates_pairs(tmp_path, one_thread):
    """NPsSegNet with a distance channel, on the same 32 images of overlapping pairs (about 10 s on a CPU): the
    channel's validation loss falls to a fraction of its first epoch's, and on new images the seeded watershed of
    the predicted map gives the PSD the particles the mask alone merges, of their size."""
    data = [touching_pairs(spacing=1.0, seed=seed) for seed in range(32)]
    opts = NPsSegNetOptions(encoder="resnet18", encoder_depth=3, decoder_channels=[16, 8, 8], epochs=20, batch_size=4,
                            crop_size=64, lr=3e-3, instances="distance")
    net = load_model(train_npssegnet([d[0] for d in data], [d[1] for d in data], opts, tmp_path, CPU), CPU)
    assert net.instances == "distance"
    loss = pd.read_csv(tmp_path / "losses.csv")["val_distance_loss"]
    assert loss.iloc[-1] < 0.6 * loss.iloc[0]  # cross-entropy: its floor is the targets' own entropy, not 0
    found = counts(net, range(100, 110), spacing=1.0)
    truth = len(found["truth"])
    assert len(found["mask"]) <= 0.6 * truth
    assert len(found["boundary"]) == pytest.approx(truth, rel=0.1)
    assert found["boundary"].mean() == pytest.approx(found["truth"].mean(), rel=0.1)
