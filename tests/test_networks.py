import pytest
import torch

from tgan import networks
from tgan.options import NPsSegNetOptions


def test_generator_and_discriminator_shapes():
    g = networks.pix2pix_generator("resnet18", [32, 16, 8], 3)
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    y = g(x)
    assert y.shape == x.shape and y.abs().max() <= 1.0
    d = networks.discriminator("patchgan", 2, 16, 3, "resnet18", [32, 16, 8], 3)
    assert d(torch.cat([x, y], 1)).shape == (2, 1, 6, 6)  # 70x70-style patches
    d = networks.discriminator("unetplusplus", 2, 16, 3, "resnet18", [32, 16, 8], 3)
    assert d(torch.cat([x, y], 1)).shape == (2, 1, 64, 64)  # a decision per pixel
    with pytest.raises(ValueError, match="unknown discriminator"):
        networks.discriminator("mlp", 2, 16, 3, "resnet18", [32, 16, 8], 3)


def test_identity_init_starts_at_the_identity():
    x = torch.rand(2, 1, 32, 32) * 1.8 - 0.9
    g = networks.ResnetGenerator(1, 1, 8, 2, identity_init=True)
    assert torch.allclose(g(x), x, atol=1e-5)
    plain = networks.ResnetGenerator(1, 1, 8, 2)
    assert not torch.allclose(plain(x), x, atol=1e-2)


def test_npssegnet_is_unetplusplus_resnet34_with_one_logit():
    paper = NPsSegNetOptions()  # the schema's defaults
    net = networks.npssegnet(paper.encoder, paper.decoder_channels, paper.encoder_depth)
    assert type(net).__name__ == "UnetPlusPlus"
    assert type(net.encoder).__name__ == "ResNetEncoder" and len(net.encoder.layer3) == 6  # ResNet34
    assert net(torch.rand(1, 1, 64, 64)).shape == (1, 1, 64, 64)


def test_npssegnet_loads_local_encoder_weights_only(tmp_path):
    source = networks.npssegnet("resnet18", [32, 16, 8], 3)
    torch.save(source.encoder.state_dict(), tmp_path / "enc.pt")
    net = networks.npssegnet("resnet18", [32, 16, 8], 3, encoder_weights=str(tmp_path / "enc.pt"))
    assert torch.equal(net.encoder.conv1.weight, source.encoder.conv1.weight)
    with pytest.raises(FileNotFoundError, match="encoder weights file not found"):
        networks.npssegnet("resnet18", [32, 16, 8], 3, encoder_weights=str(tmp_path / "missing.pt"))


def test_large_generator_passes_recompute_activations_for_the_same_gradients(monkeypatch):
    """Above CHECKPOINT_ABOVE_BYTES a training pass of the CycleGAN generator keeps only the inputs of its runs
    of layers and recomputes them in the backward pass (each residual block runs twice): the output and every
    gradient are those of the plain pass. Inference and small passes run once."""
    torch.manual_seed(0)
    net = networks.ResnetGenerator(1, 1, ngf=8, n_blocks=2, identity_init=True)
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    calls = []
    net.model[10].register_forward_hook(lambda *_: calls.append(1))  # the first residual block
    assert isinstance(net.model[10], networks.ResnetBlock)

    def step(threshold):
        monkeypatch.setattr(networks, "CHECKPOINT_ABOVE_BYTES", threshold)
        calls.clear()
        net.zero_grad()
        out = net(x)
        out.square().mean().backward()
        return out.detach(), [p.grad.clone() for p in net.parameters()], len(calls)

    plain, checkpointed = step(float("inf")), step(0)
    assert (plain[2], checkpointed[2]) == (1, 2)
    assert torch.equal(plain[0], checkpointed[0])
    assert all(torch.equal(a, b) for a, b in zip(plain[1], checkpointed[1]))
    with torch.no_grad():
        calls.clear()
        net(x)
    assert len(calls) == 1
