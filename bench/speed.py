"""Print inference and training-step times of the networks, on the CPU and on CUDA when present.

    python bench/speed.py [--device auto|cpu|cuda] [--threads N] [--train]

Inference: one 512 x 512 image through `npssegnet.segment` (the tiled path the `segment` rule
uses), for the paper network (UNet++ / ResNet34) and the demo preset's network. With --train, one
optimiser step of each trained stage at the paper's batch 4 and 512² crops (slow on a CPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tgan import networks  # noqa: E402
from tgan.npssegnet import segment  # noqa: E402
from tgan.options import SegmentOptions  # noqa: E402
from tgan.training import pick_device  # noqa: E402

PRESETS = {
    "paper (UNet++ ResNet34)": ("resnet34", [256, 128, 64, 32, 16], 5),
    "demo (UNet++ ResNet18, depth 3)": ("resnet18", [64, 32, 16], 3),
}


def timed(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up (cuDNN autotuning, allocator)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def train_step(net: torch.nn.Module, x: torch.Tensor) -> None:
    net.zero_grad()
    net(x).float().mean().backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device} ({name}), torch {torch.__version__}")
    image = np.random.default_rng(0).random((512, 512), dtype=np.float32)
    for label, (encoder, decoder, depth) in PRESETS.items():
        net = networks.npssegnet(encoder, decoder, depth).to(device).eval()
        seconds = timed(lambda: segment(net, image, device, SegmentOptions()), args.repeats, device)
        print(f"segment one 512x512 image, {label}: {seconds:.3f} s")
    if args.train:
        x = torch.rand(4, 1, 512, 512, device=device)
        stages = {
            "npssegnet (paper)": networks.npssegnet(),
            "pix2pix generator (paper)": networks.pix2pix_generator("resnet34", [256, 128, 64, 32, 16]),
            "cyclegan generator (paper)": networks.ResnetGenerator(1, 1, 64, 9, identity_init=True),
        }
        for label, net in stages.items():
            net = net.to(device).train()
            seconds = timed(lambda: train_step(net, x), args.repeats, device)
            print(f"training step, batch 4 x 512², {label}: {seconds:.3f} s")


if __name__ == "__main__":
    main()
