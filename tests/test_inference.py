import numpy as np
import pytest
import torch
from torch import nn

from tgan.inference import tiled_apply


@pytest.mark.parametrize("shape", [(50, 70), (300, 257), (64, 64)])
def test_identity_is_exact_for_any_size(shape):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    out = tiled_apply(nn.Identity(), image, torch.device("cpu"), tile=64, overlap=16)
    assert out.shape == shape
    assert np.allclose(out, image, atol=1e-6)


def test_tiles_do_not_show_seams():
    conv = nn.Conv2d(1, 1, 5, padding=2, padding_mode="reflect", bias=False)
    torch.nn.init.uniform_(conv.weight)
    image = np.random.default_rng(1).random((200, 230)).astype(np.float32)
    with torch.no_grad():
        full = conv(torch.from_numpy(image)[None, None])[0, 0].numpy()
    tiled = tiled_apply(conv, image, torch.device("cpu"), tile=64, overlap=16)
    # away from the image border the tiled result equals the whole-image result
    assert np.allclose(tiled[4:-4, 4:-4], full[4:-4, 4:-4], atol=1e-4)


def test_zero_padding_draws_no_frame_at_the_image_border():
    # a 5x5 mean filter with zero padding darkens a constant image along its border by up to 64 %,
    # unless the image is reflect-padded beyond the filter's reach before it goes through
    net = nn.Conv2d(1, 1, 5, padding=2, bias=False)
    nn.init.constant_(net.weight, 1 / 25)
    out = tiled_apply(net, np.ones((100, 70), np.float32), torch.device("cpu"), tile=64, overlap=16)
    assert out == pytest.approx(np.ones((100, 70)), abs=1e-5)
