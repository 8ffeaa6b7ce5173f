"""Print where inference time goes: one forward pass against `npssegnet.segment`, per network and image size.

    python bench/speed.py [--device auto|cpu|cuda] [--threads 2] [--sizes 512 1024] [--train]

For the paper network (UNet++ / ResNet34) and the demo preset's: the FLOPs of one forward pass
(torch.utils.flop_counter), its time, the time of `segment` on an image of that size (what the `segment`
rule and `tgan watch` run per image: padding, the forward pass(es), the threshold) and their ratio, in one
process, so that the ratio holds on any machine. Run it under the CPU lock of a shared machine
(`flock /tmp/cpu.lock python bench/speed.py`). With --train, one optimiser step of each trained stage at
the paper's batch 4 and 512² crops (slow on a CPU).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tgan import networks  # noqa: E402
from tgan.npssegnet import segment  # noqa: E402
from tgan.options import NPsSegNetOptions, Pix2PixOptions, SegmentOptions  # noqa: E402
from tgan.training import pick_device  # noqa: E402

PRESETS = {
    "paper (UNet++ ResNet34)": ("resnet34", [256, 128, 64, 32, 16], 5),
    "demo (UNet++ ResNet18, depth 3)": ("resnet18", [64, 32, 16], 3),
}


def timed(fn, repeats: int, device: torch.device) -> float:
    """Median seconds of `repeats` calls after one warm-up (allocator, cuDNN autotuning)."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def forward_flops(net: torch.nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops()


def train_step(net: torch.nn.Module, x: torch.Tensor) -> None:
    net.zero_grad()
    net(x).float().mean().backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"device: {device} ({name}), torch {torch.__version__}")
    options = SegmentOptions()
    for label, (encoder, decoder, depth) in PRESETS.items():
        net = networks.npssegnet(encoder, decoder, depth).to(device).eval()
        for size in args.sizes:
            image = np.random.default_rng(0).random((size, size), dtype=np.float32)
            x = torch.from_numpy(image)[None, None].to(device)
            flops = forward_flops(net, x)
            with torch.no_grad():
                forward = timed(lambda: net(x), args.repeats, device)
            seg = timed(lambda: segment(net, image, device, options), args.repeats, device)
            print(f"{label}, {size}²: forward {flops / 1e9:.0f} GFLOP, {forward * 1e3:.0f} ms "
                  f"({flops / forward / 1e9:.0f} GFLOP/s); segment {seg * 1e3:.0f} ms = {seg / forward:.2f} x forward",
                  flush=True)
    if args.train:
        x = torch.rand(4, 1, 512, 512, device=device)
        paper, gan = NPsSegNetOptions(), Pix2PixOptions()  # the paper settings: the schema's defaults
        stages = {
            "npssegnet (paper)": networks.npssegnet(paper.encoder, paper.decoder_channels, paper.encoder_depth),
            "pix2pix generator (paper)": networks.pix2pix_generator(gan.encoder, gan.decoder_channels, gan.encoder_depth),
            "cyclegan generator (paper)": networks.ResnetGenerator(1, 1, 64, 9, identity_init=True),
        }
        for label, net in stages.items():
            net = net.to(device).train()
            seconds = timed(lambda: train_step(net, x), args.repeats, device)
            print(f"training step, batch 4 x 512², {label}: {seconds:.3f} s")


if __name__ == "__main__":
    main()
