"""Resume: a training run killed mid-way and started again continues after its last finished epoch and
ends exactly where an uninterrupted run ends (same weights, same loss log)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from synthetic import particle_image
from tgan import training
from tgan.cyclegan import train_cyclegan
from tgan.diffaugment import POLICIES
from tgan.npssegnet import train_npssegnet
from tgan.options import CycleGANOptions, NPsSegNetOptions, Pix2PixOptions
from tgan.pix2pix import train_pix2pix
from tgan.training import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
SMALL_UNET = {"encoder": "resnet18", "encoder_depth": 3, "decoder_channels": [16, 8, 4]}


def stack(n=4, size=64):
    pairs = [particle_image((size, size), radii=(4,) * 5, seed=i) for i in range(n)]
    return [image for image, _ in pairs], [labels > 0 for _, labels in pairs]


def train_pix2pix_small(out, diffaugment=()):
    images, masks = stack()
    opts = Pix2PixOptions(crop_size=32, batch_size=2, crops_per_epoch=4, n_epochs=2, n_epochs_decay=2, ndf=8,
                          n_layers_d=2, diffaugment=list(diffaugment), **SMALL_UNET)
    train_pix2pix(masks, images, opts, out, CPU, seed=3)
    return out / "generator.pt"


def train_cyclegan_small(out, diffaugment=()):
    images, masks = stack()
    opts = CycleGANOptions(crop_size=32, batch_size=2, crops_per_epoch=4, n_epochs=2, n_epochs_decay=2, ngf=4,
                           n_blocks=1, ndf=8, n_layers_d=2, pool_size=3, diffaugment=list(diffaugment))
    train_cyclegan([m.astype(np.float32) for m in masks], images, opts, out, CPU, seed=3)
    return out / "generator.pt"


def train_pix2pix_diffaugment(out):
    """The discriminator's augmentation draws from the checkpointed generator: a resumed run draws on."""
    return train_pix2pix_small(out, POLICIES)


def train_cyclegan_diffaugment(out):
    return train_cyclegan_small(out, POLICIES)


def train_npssegnet_small(out, ema_decay=0.0):
    images, masks = stack(6)
    opts = NPsSegNetOptions(epochs=4, batch_size=2, crop_size=32, val_fraction=0.3, ema_decay=ema_decay,
                            **SMALL_UNET)
    train_npssegnet(images, masks, opts, out, CPU, seed=3)
    return out / "model.pt"


def train_npssegnet_ema(out):
    """The moving average is part of the checkpoint: a resumed run averages on from where it stopped."""
    return train_npssegnet_small(out, ema_decay=0.7)


def networks_of(model: dict) -> list[dict]:
    """The state dicts of a model file: a GAN generator's one, or each NPsSegNet member's."""
    return model["state_dicts"] if model["kind"] == "npssegnet" else [model["state_dict"]]


def assert_same_weights(a, b):
    members_a, members_b = networks_of(load_checkpoint(a)), networks_of(load_checkpoint(b))
    assert len(members_a) == len(members_b)
    for state_a, state_b in zip(members_a, members_b):
        assert list(state_a) == list(state_b)
        for name in state_a:
            assert torch.equal(state_a[name], state_b[name]), name


class Killed(Exception):
    pass


@pytest.mark.parametrize("train", [train_pix2pix_small, train_cyclegan_small, train_npssegnet_small,
                                   train_npssegnet_ema, train_pix2pix_diffaugment, train_cyclegan_diffaugment])
def test_interrupted_training_resumes_to_the_same_result(tmp_path, monkeypatch, train):
    reference = train(tmp_path / "reference")

    # die while epoch 3 ends: it has been trained and logged, but not checkpointed
    write = training.LossLog.write

    def write_then_die(self, row):
        write(self, row)
        if row["epoch"] == 3:
            raise Killed

    monkeypatch.setattr(training.LossLog, "write", write_then_die)
    out = tmp_path / "interrupted"
    with pytest.raises(Killed):
        train(out)
    monkeypatch.undo()
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 2
    (out / "losses.csv").unlink()  # Snakemake deletes a job's outputs before it runs it again

    resumed = train(out)
    assert_same_weights(resumed, reference)
    assert (out / "losses.csv").read_text() == (tmp_path / "reference" / "losses.csv").read_text()


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path, caplog):
    train_npssegnet_small(tmp_path)
    images, masks = stack(6)
    opts = NPsSegNetOptions(epochs=2, batch_size=2, crop_size=32, val_fraction=0.3, **SMALL_UNET)
    with caplog.at_level("INFO", logger="tgan.training"):
        train_npssegnet(images, masks, opts, tmp_path, CPU, seed=3)
    assert "is of other settings or data; starting at epoch 0" in caplog.text
    assert [line.split(",")[0] for line in (tmp_path / "losses.csv").read_text().splitlines()] == ["epoch", "1", "2"]


# A training job as the workflow runs it: its own process, killed by the operating system (SIGKILL, what a
# scheduler does after its grace period) while an epoch is running.
TRAIN_SCRIPT = """
import logging, sys
sys.path[:0] = [{src!r}, {tests!r}]
logging.basicConfig(level=logging.INFO)
import torch
from synthetic import particle_image
from tgan.npssegnet import train_npssegnet
from tgan.options import NPsSegNetOptions
torch.set_num_threads(1)
pairs = [particle_image((96, 96), radii=(5,) * 8, seed=i) for i in range(8)]
opts = NPsSegNetOptions(epochs={epochs}, batch_size=2, crop_size=64, val_fraction=0.25, encoder="resnet18",
                        encoder_depth=3, decoder_channels=[16, 8, 4])
train_npssegnet([i for i, _ in pairs], [l > 0 for _, l in pairs], opts, {out!r}, torch.device("cpu"), seed=1)
"""
EPOCHS = 6


def training_process(out: Path) -> subprocess.Popen:
    script = TRAIN_SCRIPT.format(src=str(ROOT / "src"), tests=str(ROOT / "tests"), epochs=EPOCHS, out=str(out))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def test_training_killed_mid_epoch_resumes_past_epoch_0(tmp_path):
    out = tmp_path / "npssegnet"
    process = training_process(out)
    checkpoint = out / "checkpoint.pt"
    while not checkpoint.exists() and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)  # the first epoch is saved: the kill lands in epoch 2
    _, stderr = process.communicate()
    assert process.returncode == -signal.SIGKILL, stderr[-2000:]
    killed_after = load_checkpoint(checkpoint)["epoch"]
    assert 0 < killed_after < EPOCHS
    assert not (out / "model.pt").exists()

    process = training_process(out)
    _, stderr = process.communicate()
    assert process.returncode == 0, stderr[-2000:]
    assert f"resuming after epoch {killed_after} of {EPOCHS}" in stderr
    rows = (out / "losses.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["epoch", *map(str, range(1, EPOCHS + 1))]
    assert load_checkpoint(checkpoint)["epoch"] == EPOCHS
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "losses.csv", "model.pt"]

    # and the result is the one of a run that was never interrupted
    process = training_process(tmp_path / "reference")
    _, stderr = process.communicate()
    assert process.returncode == 0, stderr[-2000:]
    assert_same_weights(out / "model.pt", tmp_path / "reference" / "model.pt")
