import pickle

import pytest
import torch

from tgan.options import NPsSegNetOptions, Pix2PixOptions, from_dict
from tgan.generate import load_generator
from tgan.npssegnet import load_model
from tgan.training import (ImagePool, linear_decay, load_checkpoint, pick_device, resume_state, run_epochs,
                           save_checkpoint)


def test_linear_decay_schedule():
    # junyanz's rule: constant for n_epochs, then 1 - k / (n_epochs_decay + 1)
    f = linear_decay(3, 2)
    assert [round(f(e), 3) for e in range(5)] == [1.0, 1.0, 1.0, 0.667, 0.333]


def test_options_refuse_unknown_keys():
    assert from_dict(Pix2PixOptions, {"n_epochs": 3}).n_epochs == 3
    with pytest.raises(ValueError, match="n_epoch"):
        from_dict(Pix2PixOptions, {"n_epoch": 3})


def test_paper_defaults():
    o = NPsSegNetOptions()
    assert (o.encoder, o.lr, o.weight_decay, o.step_size, o.gamma, o.focal_alpha, o.batch_size) == \
        ("resnet34", 3e-4, 5e-4, 5, 0.9, 0.25, 4)
    p = Pix2PixOptions()
    assert (p.lr, p.beta1, p.lambda_l1, p.n_epochs, p.n_epochs_decay) == (2e-4, 0.5, 10.0, 100, 50)


def test_checkpoint_roundtrip_and_resume_key(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"key": {"seed": 1}, "w": torch.ones(3)})
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(3))
    assert resume_state(path, {"seed": 1}) is not None
    assert resume_state(path, {"seed": 2}) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # no temporary file left


class Exploit:
    """Unpickling this calls open(marker, "w"): a stand-in for any code a crafted model file could run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_exploit(path, marker, fmt):
    state = {"kind": "npssegnet", "arch": {}, "state_dict": Exploit(marker)}
    if fmt == "torch":
        torch.save(state, path)  # the zip format of .pt files
    else:
        path.write_bytes(pickle.dumps(state))


@pytest.mark.parametrize("fmt", ["torch", "pickle"])
def test_malicious_model_file_is_refused_without_running_code(tmp_path, fmt):
    marker = tmp_path / "code_ran"
    pickle.loads(pickle.dumps(Exploit(marker)))  # the exploit is real: plain unpickling runs it
    assert marker.exists()
    marker.unlink()

    path = tmp_path / "colleague.pt"
    write_exploit(path, marker, fmt)
    for load in (load_checkpoint, lambda p: load_model(p, torch.device("cpu")),
                 lambda p: load_generator(p, torch.device("cpu"))):
        with pytest.raises(ValueError, match=r"colleague.pt: not a safe tgan model file: .*\(Unsupported .*run code"):
            load(path)
    assert not marker.exists()


def test_crafted_checkpoint_stops_training_instead_of_resuming(tmp_path):
    marker = tmp_path / "code_ran"
    write_exploit(tmp_path / "checkpoint.pt", marker, "torch")
    with pytest.raises(ValueError, match="checkpoint.pt: not a safe tgan model file"):
        run_epochs("test", tmp_path, {}, {}, 1, lambda epoch: {})
    assert not marker.exists()


def test_image_pool_returns_history_once_full():
    gen = torch.Generator().manual_seed(0)
    pool = ImagePool(2, gen)
    first = pool.query(torch.zeros(2, 1, 2, 2))
    assert torch.equal(first, torch.zeros(2, 1, 2, 2))
    out = pool.query(torch.ones(50, 1, 2, 2))
    assert (out.sum(dim=(1, 2, 3)) == 0).any()  # some images came from the history


def test_cuda_request_without_gpu_is_an_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert pick_device("auto").type == "cpu"
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        pick_device("cuda")
