"""A simulated microscope session for `tgan watch`: per-frame latency and throughput.

    python bench/watch_session.py [--frames 100] [--size 1024] [--preset demo|paper] [--threads 2]
                                  [--settle 0.5]   (under flock /tmp/cpu.lock on a shared machine)

Trains a small NPsSegNet of the preset on synthetic frames for a few seconds (the masks must look like
particles: a random network's speckle would time the PSD of thousands of specks), measures one forward
pass at the frame size in this process, then starts `tgan watch` on an empty folder and writes frames
into it as a microscope would:

1. latency: `--frames` frames one by one, each 1.5 forward passes after the previous, so that none waits
   for another: percentiles of latency_s (file written -> its rows in the tables; includes the --settle
   wait that tells a complete file from one still being written) and of process_s (read, segment,
   measure, write);
2. throughput: `--frames` more frames at once: the time from the first row set to the last, per frame,
   against one forward pass.
"""

from __future__ import annotations

import argparse
import io
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from segment_rule import PRESETS, one_forward  # noqa: E402
from synthetic import particle_image  # noqa: E402
from tgan.npssegnet import load_model, train_npssegnet  # noqa: E402
from tgan.options import NPsSegNetOptions  # noqa: E402


def png(seed: int, size: int) -> bytes:
    image, _ = particle_image((size, size), radii=(6,) * (size * size // 4000), seed=seed)
    buffer = io.BytesIO()
    iio.imwrite(buffer, (image * 255 + 0.5).astype(np.uint8), extension=".png")
    return buffer.getvalue()


def wait_rows(summary: Path, n: int, proc: subprocess.Popen, timeout: float) -> pd.DataFrame:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if summary.exists():
            table = pd.read_csv(summary)
            if len(table) >= n:
                return table
        if proc.poll() is not None:
            raise SystemExit("tgan watch stopped")
        time.sleep(0.2)
    raise SystemExit(f"{n} frames not analysed in {timeout:.0f} s")


def percentiles(values) -> str:
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return f"p50 {p50:.2f} s, p90 {p90:.2f} s, p99 {p99:.2f} s, max {np.max(values):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--preset", choices=PRESETS, default="demo")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--settle", type=float, default=0.5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="tgan_watch_session_"))
    encoder, decoder, depth = PRESETS[args.preset]
    pairs = [particle_image((160, 160), radii=(6,) * 10, seed=s) for s in range(6)]
    opts = NPsSegNetOptions(encoder=encoder, encoder_depth=depth, decoder_channels=decoder, epochs=6, batch_size=4,
                            crop_size=64, lr=1e-2)
    started = time.time()
    model = train_npssegnet([i for i, _ in pairs], [lab > 0 for _, lab in pairs], opts, work / "model",
                            torch.device("cpu"), epoch_size=16)
    print(f"trained in {time.time() - started:.0f} s", flush=True)
    forward = one_forward(load_model(model, torch.device("cpu")), args.size)
    frames = [png(seed, args.size) for seed in range(8)]  # distinct contents cycle: drawing frames takes seconds
    print(f"work folder {work}; {args.preset} network, {args.size}² frames, {args.threads} threads; "
          f"one forward {forward * 1e3:.0f} ms", flush=True)
    (work / "in").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "tgan.cli", "watch", "--model", str(model), "--folder", "in",
                             "--out", "out", "--no-server", "--settle", str(args.settle), "--poll", "0.1",
                             "--threads", str(args.threads)], cwd=work, stdout=open(work / "watch.log", "w"),
                            stderr=subprocess.STDOUT)
    summary = work / "out" / "summary.csv"
    try:
        time.sleep(2)
        for i in range(args.frames):  # 1. one by one
            (work / "in" / f"a{i:04d}.png").write_bytes(frames[i % len(frames)])
            time.sleep(1.5 * forward + args.settle)
            print(f"\rlatency phase: {i + 1}/{args.frames} frames written", end="", flush=True)
        first = wait_rows(summary, args.frames, proc, 600)
        for i in range(args.frames):  # 2. all at once
            (work / "in" / f"b{i:04d}.png").write_bytes(frames[(i + 3) % len(frames)])
        table = wait_rows(summary, 2 * args.frames, proc, 60 * args.frames * forward + 600)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    print()
    print(f"latency (file written -> rows written, settle {args.settle} s included): {percentiles(first['latency_s'])}")
    print(f"processing per frame (read, segment, measure, write): {percentiles(first['process_s'])}; "
          f"median {np.median(first['process_s']) / forward:.2f} x one forward")
    burst = table.iloc[args.frames:]
    written = pd.to_datetime(burst["time"])  # files' modification times: when each frame was written
    done = written + pd.to_timedelta(burst["latency_s"], unit="s")
    span = (done.max() - done.min()).total_seconds() + float(burst["process_s"].iloc[0])
    print(f"burst of {args.frames} frames: {span:.1f} s, {args.frames / span:.2f} frames/s, "
          f"{span / (args.frames * forward):.2f} x (frames x one forward)")


if __name__ == "__main__":
    main()
