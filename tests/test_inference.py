import numpy as np
import pytest
import torch
from torch import nn

from tgan import networks
from tgan.inference import tiled_apply
from tgan.npssegnet import probability, segment
from tgan.options import SegmentOptions

CPU = torch.device("cpu")
WHOLE, TILED = 4096 * 4096, 0  # max_pixels: every test image in one piece, or always in tiles


class Recorder(nn.Module):
    """Identity that records the shape of every input it sees."""

    def __init__(self):
        super().__init__()
        self.shapes = []

    def forward(self, x):
        self.shapes.append(tuple(x.shape))
        return x


@pytest.mark.parametrize("max_pixels", [WHOLE, TILED])
@pytest.mark.parametrize("shape", [(50, 70), (300, 257), (64, 64), (1, 40), (7, 9)])
def test_identity_is_exact_for_any_size(shape, max_pixels):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    out = tiled_apply(nn.Identity(), image, CPU, tile=64, overlap=16, max_pixels=max_pixels)
    assert out.shape == (1, *shape)
    assert np.allclose(out[0], image, atol=1e-6)


def test_an_image_that_fits_takes_one_forward_pass_with_a_small_margin():
    net = Recorder()
    tiled_apply(net, np.zeros((512, 512), np.float32), CPU, tile=320, overlap=32)
    assert net.shapes == [(1, 1, 544, 544)]  # 16 px reflected on each side: 1.13x the pixels, not 4 tiles
    net.shapes.clear()
    tiled_apply(net, np.zeros((640, 500), np.float32), CPU)
    assert net.shapes == [(1, 1, 672, 544)]


def test_a_large_image_is_cut_into_tiles_of_the_tile_size():
    net = Recorder()
    tiled_apply(net, np.zeros((300, 90), np.float32), CPU, tile=128, overlap=32, max_pixels=100 * 100)
    # 300 + 2 x 16 rows in tiles of 128 at a stride of 96: 4 tiles; 90 + 32 columns fit in one
    assert len(net.shapes) == 4 and set(net.shapes) == {(1, 1, 128, 128)}


def test_tiles_do_not_show_seams():
    conv = nn.Conv2d(1, 1, 5, padding=2, padding_mode="reflect", bias=False)
    torch.nn.init.uniform_(conv.weight)
    image = np.random.default_rng(1).random((200, 230)).astype(np.float32)
    with torch.no_grad():
        full = conv(torch.from_numpy(image)[None, None])[0, 0].numpy()
    (tiled,) = tiled_apply(conv, image, CPU, tile=64, overlap=16, max_pixels=TILED)
    # away from the image border the tiled result equals the whole-image result
    assert np.allclose(tiled[4:-4, 4:-4], full[4:-4, 4:-4], atol=1e-4)


@pytest.mark.parametrize("max_pixels", [WHOLE, TILED])
def test_zero_padding_draws_no_frame_at_the_image_border(max_pixels):
    # a 5x5 mean filter with zero padding darkens a constant image along its border by up to 64 %,
    # unless the image is reflect-padded beyond the filter's reach before it goes through
    net = nn.Conv2d(1, 1, 5, padding=2, bias=False)
    nn.init.constant_(net.weight, 1 / 25)
    (out,) = tiled_apply(net, np.ones((100, 70), np.float32), CPU, tile=64, overlap=16, max_pixels=max_pixels)
    assert out == pytest.approx(np.ones((100, 70)), abs=1e-5)


def test_segment_thresholds_the_probability():
    torch.manual_seed(0)
    net = networks.npssegnet("resnet18", [16, 8, 4], 3).eval()
    image = np.random.default_rng(2).random((96, 80)).astype(np.float32)
    for threshold in (0.3, 0.5, 0.7):
        opts = SegmentOptions(threshold=threshold)
        mask = segment(net, image, CPU, opts)
        assert mask.shape == image.shape and mask.dtype == bool
        assert np.array_equal(mask, probability(net, image, CPU, opts) >= threshold)


@pytest.mark.parametrize("max_pixels", [WHOLE, TILED])
def test_channels_go_through_together(max_pixels):
    """A C x H x W input (pix2pix's mask and background) reaches the network as C channels of one image, and
    each output channel (NPsSegNet's particles and boundaries) comes back in its place, tiles or not."""
    image = np.random.default_rng(1).random((2, 150, 130)).astype(np.float32)
    out = tiled_apply(lambda x: x[:, 1:] - x[:, :1], image, CPU, tile=64, overlap=16, max_pixels=max_pixels)
    assert out.shape == (1, 150, 130)
    assert np.allclose(out[0], image[1] - image[0], atol=1e-6)
    out = tiled_apply(lambda x: x.flip(1) * 2, image, CPU, tile=64, overlap=16, max_pixels=max_pixels)
    assert out.shape == (2, 150, 130)
    assert np.allclose(out, image[::-1] * 2, atol=1e-6)
