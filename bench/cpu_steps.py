"""The CPU time of one training step of each network at the paper sizes: the figures behind tgan.runtime.

    flock /tmp/cpu.lock python bench/cpu_steps.py [--threads 2]

Trains pix2pix, the CycleGAN and NPsSegNet with the paper settings (the schema's defaults: the paper's networks,
batch 4 x 512² crops) on synthetic images, each twice with a different number of steps, and prints the time per step: the
difference of the two wall times over the difference of their steps, so that building the networks and writing the
checkpoint cancel out. NPsSegNet's step includes its share of the per-epoch validation (one image in ten), as a
training epoch of `count / batch_size` steps does. A few steps only: a rough figure, to say how long a run takes.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tgan.cli import load_config  # noqa: E402
from tgan.cyclegan import train_cyclegan  # noqa: E402
from tgan.npssegnet import train_npssegnet  # noqa: E402
from tgan.options import CycleGANOptions, NPsSegNetOptions, Pix2PixOptions, from_dict  # noqa: E402
from tgan.pix2pix import train_pix2pix  # noqa: E402

CPU = torch.device("cpu")


def data(n: int, size: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """n noise images with random disc masks (what is drawn does not change a step's time)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    masks = []
    for _ in range(n):
        mask = np.zeros((size, size), bool)
        for cy, cx in rng.integers(0, size, (30, 2)):
            mask |= (yy - cy) ** 2 + (xx - cx) ** 2 < 15 ** 2
        masks.append(mask.astype(np.uint8))
    images = [np.clip(0.3 + 0.4 * m + 0.1 * rng.standard_normal(m.shape), 0, 1).astype(np.float32) for m in masks]
    return images, masks


def timed(train) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        train(Path(out))
        return time.perf_counter() - start


def gan_step(name: str, options, steps: tuple[int, int]) -> float:
    images, masks = data(5, 600, 0)

    def run(n: int) -> float:
        opts = dataclasses.replace(options, n_epochs=1, n_epochs_decay=0, crops_per_epoch=n * options.batch_size)
        if name == "pix2pix":
            return timed(lambda out: train_pix2pix(masks, images, opts, out, CPU))
        return timed(lambda out: train_cyclegan(images, images, opts, out, CPU))

    t = [run(n) for n in steps]
    print(f"{name}: {steps[0]} steps {t[0]:.1f} s, {steps[1]} steps {t[1]:.1f} s", flush=True)
    return (t[1] - t[0]) / (steps[1] - steps[0])


def npssegnet_step(options, counts: tuple[int, int]) -> float:
    opts = dataclasses.replace(options, epochs=1)
    t = []
    for n in counts:
        images, masks = data(n, options.crop_size, n)
        t.append(timed(lambda out: train_npssegnet(images, masks, opts, out, CPU)))
    print(f"npssegnet: {counts[0]} images {t[0]:.1f} s, {counts[1]} images {t[1]:.1f} s", flush=True)
    return (t[1] - t[0]) / ((counts[1] - counts[0]) / options.batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config([])
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    seconds = {
        "pix2pix": gan_step("pix2pix", from_dict(Pix2PixOptions, config["pix2pix"]), (1, 3)),
        "npssegnet": npssegnet_step(from_dict(NPsSegNetOptions, config["npssegnet"]), (10, 30)),
        "cyclegan": gan_step("cyclegan", from_dict(CycleGANOptions, config["cyclegan"]), (1, 2)),
    }
    for name, s in seconds.items():
        print(f"{name}: {s:.1f} s per step (batch 4 x 512²)")


if __name__ == "__main__":
    main()
