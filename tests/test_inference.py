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
