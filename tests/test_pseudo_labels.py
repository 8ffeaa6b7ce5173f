"""NPsSegNet's real crops with rough-mask pseudo-labels (npssegnet.real_fraction, ignore_band_px) and its
moving average of the weights (npssegnet.ema_decay)."""

import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch

from synthetic import particle_image
from tgan import networks
from tgan.npssegnet import IGNORE, load_model, pseudo_labels, segment, train_npssegnet
from tgan.options import NPsSegNetOptions, SegmentOptions
from tgan.training import seed_everything

TINY = dict(encoder="resnet18", encoder_depth=3, decoder_channels=[32, 16, 8], epochs=6, batch_size=4, crop_size=64)


def test_pseudo_labels_mark_a_band_around_each_outline():
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    labels = pseudo_labels(mask, 2)
    assert labels[10, 10] == 1 and labels[0, 0] == 0
    assert labels[3, 10] == IGNORE and labels[5, 10] == IGNORE and labels[6, 10] == IGNORE  # 2 px each side
    assert labels[2, 10] == 0 and labels[7, 10] == 1
    assert np.array_equal(pseudo_labels(mask, 0), mask.astype(np.uint8))


def test_ignored_pixels_do_not_count_in_the_loss():
    focal = smp.losses.FocalLoss(smp.losses.BINARY_MODE, alpha=0.25, ignore_index=IGNORE)
    jaccard = smp.losses.JaccardLoss(smp.losses.BINARY_MODE, from_logits=True, ignore_index=IGNORE)
    y = torch.zeros(1, 1, 8, 8)
    y[..., 2:6, 2:6] = 1
    y[..., 0, :] = IGNORE
    logits = torch.randn(1, 1, 8, 8)
    other = logits.clone()
    other[..., 0, :] = 50.0  # a confident particle where the label is unsure
    for loss in (focal, jaccard):
        assert loss(logits, y).item() == pytest.approx(loss(other, y).item(), abs=1e-6)


def real_and_virtual(n=3):
    """Real images with particles and their masks; 'virtual' images without any particle (a generation
    that carries none), so only the real crops can teach NPsSegNet what a particle is."""
    real, masks = [], []
    for seed in range(n):
        image, labels = particle_image((96, 96), radii=(6,) * 8, seed=seed)
        real.append(image)
        masks.append(labels > 0)
    virtual = [particle_image((96, 96), radii=(), seed=10 + i)[0] for i in range(6)]
    return real, masks, virtual, [np.zeros((96, 96), bool)] * len(virtual)


@pytest.mark.parametrize("fraction", [0.0, 0.75])
def test_real_crops_teach_what_the_virtual_pairs_do_not(tmp_path, fraction):
    real, masks, virtual, empty = real_and_virtual()
    opts = NPsSegNetOptions(**TINY, real_fraction=fraction)
    path = train_npssegnet(virtual, empty, opts, tmp_path, torch.device("cpu"), epoch_size=24, real=(real, masks))
    net = load_model(path, torch.device("cpu"))
    image, labels = particle_image((96, 96), radii=(6,) * 8, seed=7)
    predicted = segment(net, image, torch.device("cpu"), SegmentOptions(tile=96, overlap=16))
    iou = (predicted & (labels > 0)).sum() / max((predicted | (labels > 0)).sum(), 1)
    if fraction:
        assert iou > 0.5, iou
    else:
        assert iou < 0.1, iou


def test_real_fraction_without_real_images_is_an_error(tmp_path):
    _, _, virtual, empty = real_and_virtual()
    with pytest.raises(ValueError, match="real_fraction"):
        train_npssegnet(virtual, empty, NPsSegNetOptions(**TINY, real_fraction=0.5), tmp_path, torch.device("cpu"))


@pytest.mark.parametrize("decay", [0.0, 0.999999])
def test_moving_average_is_the_model_written(tmp_path, decay):
    """With a decay near 1 the average keeps the weights of its first step (AdamW's first step moves each
    weight by about lr); without one the model is the last step's weights, many steps further."""
    real, masks, virtual, empty = real_and_virtual()
    opts = NPsSegNetOptions(**TINY, ema_decay=decay)
    path = train_npssegnet(real + virtual, masks + empty, opts, tmp_path, torch.device("cpu"), seed=4)
    seed_everything(4)  # the initial weights of that training
    initial = dict(networks.npssegnet(opts.encoder, opts.decoder_channels, opts.encoder_depth).named_parameters())
    trained = load_model(path, torch.device("cpu"))
    moved = max((p - initial[name]).abs().max().item() for name, p in trained.named_parameters())
    if decay:
        assert moved < 1.5 * opts.lr, moved
    else:
        assert moved > 5 * opts.lr, moved
