"""Wall time of the workflow's `segment` step on a stack of many images, against one forward pass per image.

    python bench/segment_rule.py [--images 100] [--size 640] [--preset demo|paper] [--cores 2]
                                 [--snakefile Snakefile]   (under flock /tmp/cpu.lock on a shared machine)

Writes a stack of synthetic images and an untrained NPsSegNet of the preset (timing does not depend on the
weights) into a work folder, imports the images, then times `snakemake --forcerun segment --until segment`:
the step as a user runs it, Snakemake's start included. The stack is segmented with the model of a second,
two-image stack (segment_with), whose training is left out (--allowed-rules). Prints the wall time, images/s and the ratio to (images x one forward pass at that size)
measured in this process with as many threads. --snakefile takes another checkout's Snakefile (e.g. the
commit before one job per stack) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from synthetic import particle_image  # noqa: E402
from tgan import networks  # noqa: E402
from tgan.images import write_image  # noqa: E402
from tgan.training import save_checkpoint  # noqa: E402

PRESETS = {"paper": ("resnet34", [256, 128, 64, 32, 16], 5), "demo": ("resnet18", [64, 32, 16], 3)}
TRAINED = "source"  # the stack whose (stand-in) NPsSegNet segments the benchmark stack


def one_forward(net: torch.nn.Module, size: int, repeats: int = 3) -> float:
    x = torch.rand(1, 1, size, size)
    with torch.no_grad():
        net(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def prepare(work: Path, args) -> None:
    """The two stacks' images, the stand-in model and the config."""
    for name, count in ((TRAINED, 2), ("stack", args.images)):
        for i in range(count):
            image, _ = particle_image((args.size, args.size), radii=(8,) * 60, seed=i)
            write_image(work / name / f"img{i:03d}.png", image)
    encoder, decoder, depth = PRESETS[args.preset]
    net = networks.npssegnet(encoder, decoder, depth).eval()
    save_checkpoint(work / "results" / TRAINED / "npssegnet" / "model.pt",
                    {"kind": "npssegnet", "arch": {"encoder": encoder, "encoder_depth": depth,
                                                   "decoder_channels": decoder}, "state_dict": net.state_dict()})
    (work / "bench.yaml").write_text(yaml.safe_dump({
        "device": "cpu", "max_threads": args.cores,
        "pix2pix": {"crop_size": 64}, "cyclegan": {"crop_size": 64},  # validation: images down to 64² allowed
        "stacks": {TRAINED: {"images": TRAINED}, "stack": {"images": "stack", "segment_with": TRAINED}}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--preset", choices=PRESETS, default="demo")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--snakefile", type=Path, default=ROOT / "Snakefile")
    parser.add_argument("--work", type=Path, help="work folder; one prepared before (images imported) is reused")
    args = parser.parse_args()
    torch.set_num_threads(args.cores)
    work = args.work or Path(tempfile.mkdtemp(prefix="tgan_segment_rule_"))
    if not (work / "bench.yaml").exists():
        prepare(work, args)
    print(f"work folder {work}; {args.images} images of {args.size}², {args.preset} network, {args.cores} cores",
          flush=True)
    per_stack = "checkpoint segment" in (args.snakefile.parent / "workflow/rules/segment.smk").read_text()
    targets = ["results/stack/segmentation"] if per_stack else \
        [f"results/stack/segmentation/img{i:03d}.png" for i in range(args.images)]  # one job per image
    command = [sys.executable, "-m", "snakemake", "-s", str(args.snakefile), "--directory", str(work),
               "--configfile", str(work / "bench.yaml"), "--cores", str(args.cores), *targets,
               "--allowed-rules", "validate_inputs", "import_image", "segment"]
    prepared = subprocess.run(command, capture_output=True, text=True)
    if prepared.returncode:
        raise SystemExit(prepared.stderr[-3000:])
    start = time.perf_counter()
    timed = subprocess.run([*command, "--forcerun", "segment"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if timed.returncode:
        raise SystemExit(timed.stderr[-3000:])
    jobs = timed.stderr.count("rule segment:") + timed.stderr.count("checkpoint segment:")
    encoder, decoder, depth = PRESETS[args.preset]
    forward = one_forward(networks.npssegnet(encoder, decoder, depth).eval(), args.size)
    n = args.images
    print(f"segment step: {n} images in {jobs} job(s), {wall:.1f} s wall ({n / wall:.2f} images/s); "
          f"one forward at {args.size}²: {forward * 1e3:.0f} ms; wall / (images x forward) = {wall / (n * forward):.2f}")


if __name__ == "__main__":
    main()
