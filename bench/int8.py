"""int8 NPsSegNet through ONNX Runtime: is it faster on this CPU, and are its masks the fp32 masks? (issue 12 c)

    python bench/int8.py [--model results/demo/npssegnet/model.pt] [--images results/demo/images] [--repeats 5]
    (time it under the CPU lock of a shared machine: flock /tmp/cpu.lock python bench/int8.py)

Why: a CPU without bf16 may still run int8 faster than fp32. The rule of issue 12 (c): int8 becomes an
option of `segment` / `tgan watch` only if its masks match fp32's (>= 99.9 % identical pixels) and it is
faster, both measured here. Needs `pip install onnx onnxruntime` (not a project dependency).

The trained NPsSegNet is exported to ONNX (fp32, dynamic height and width) and quantised with ONNX Runtime's
static quantisation (uint8 activations, int8 weights, min-max calibration on random 256² crops of the
standardised images), in QDQ and QOperator formats, per-tensor and per-channel. Every variant runs through
the package's own `npssegnet.segment` (standardise, reflect-pad, forward, threshold; config/presets/cpu.yaml's
segment settings) at the images' own size and at 512² (centre crops) and 1024² (2 x 2 mosaics of 512²
crops), each with 2 intra-op threads. Timing: the variants interleaved per image (A B C A B C ...), one
warm-up round, median ms per image. Agreement with torch fp32's mask: % identical pixels (worst image and
over all pixels) and the particle count (`psd.particle_labels`) difference.
"""

from __future__ import annotations

import argparse
import collections
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tgan.cli import load_config  # noqa: E402
from tgan.data import standardise  # noqa: E402
from tgan.images import read_image  # noqa: E402
from tgan.npssegnet import load_model, segment  # noqa: E402
from tgan.options import SegmentOptions, from_dict  # noqa: E402
from tgan.psd import particle_labels  # noqa: E402

THREADS = 2
CPU = torch.device("cpu")
INT8 = {  # name: (format, per_channel)
    "int8 QDQ": (QuantFormat.QDQ, False),
    "int8 QDQ per-channel": (QuantFormat.QDQ, True),
    "int8 QOperator per-channel": (QuantFormat.QOperator, True),
}


class Crops(CalibrationDataReader):
    """Calibration inputs: `per_image` random 256² crops of each standardised image."""

    def __init__(self, images: list[np.ndarray], per_image: int = 4, size: int = 256, seed: int = 0):
        rng = np.random.default_rng(seed)
        crops = []
        for image in images:
            x = standardise(image)
            for _ in range(per_image):
                y0, x0 = (rng.integers(0, n - size + 1) for n in x.shape)
                crops.append(x[None, None, y0:y0 + size, x0:x0 + size].copy())
        self.items = iter({"x": c} for c in crops)

    def get_next(self):
        return next(self.items, None)


class OrtNet:
    """An ONNX Runtime session called like the torch network (1 x C x H x W tensor -> logits tensor)."""

    def __init__(self, path: Path, optimised: Path | None = None):
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = THREADS, 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if optimised is not None:  # the graph ORT actually runs, to count which ops stayed fp32
            options.optimized_model_filepath = str(optimised)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {"x": x.numpy()})[0])


def build_variants(net: torch.nn.Module, calibration: list[np.ndarray], folder: Path) -> dict:
    """torch fp32, ORT fp32 and the ORT int8 variants, each a callable network; prints the ops ORT runs."""
    fp32 = folder / "fp32.onnx"
    torch.onnx.export(net, torch.zeros(1, 1, 256, 256), str(fp32), input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {2: "h", 3: "w"}, "logits": {2: "h", 3: "w"}}, opset_version=17,
                      dynamo=False)
    prepared = folder / "prepared.onnx"
    # ONNX shape inference and graph clean-up, as ORT advises (its symbolic shape inference fails on the
    # dynamic-size upsampling, and per-node shapes are not needed for convolutions)
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    variants = {"torch fp32": net, "ORT fp32": OrtNet(fp32)}
    for name, (fmt, per_channel) in INT8.items():
        path = folder / f"{name.replace(' ', '_')}.onnx"
        quantize_static(str(prepared), str(path), Crops(calibration), quant_format=fmt, per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        optimised = folder / f"{path.stem}.opt.onnx"
        variants[name] = OrtNet(path, optimised)
        ops = collections.Counter(n.op_type for n in onnx.load(str(optimised)).graph.node)
        print(f"{name}: ops ORT runs: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))
    return variants


def test_sets(images: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """The images as they are, their centre 512² crops and 2 x 2 mosaics of those crops (1024²)."""
    def centre(image, n=512):
        y0, x0 = ((s - n) // 2 for s in image.shape)
        return image[y0:y0 + n, x0:x0 + n]
    crops = [centre(i) for i in images]
    mosaics = [np.block([[crops[k], crops[(k + 1) % len(crops)]], [crops[(k + 2) % len(crops)],
                                                                    crops[(k + 3) % len(crops)]]])
               for k in range(0, len(crops), 2)]
    shape = images[0].shape
    return {f"{shape[0]}x{shape[1]} (demo images)": images, "512x512": crops, "1024x1024": mosaics}


def compare(variants: dict, images: list[np.ndarray], opts: SegmentOptions, repeats: int) -> list[dict]:
    """Interleaved timing and mask agreement with torch fp32 of every variant on `images`."""
    times = {name: [] for name in variants}
    masks = {name: [] for name in variants}
    for r in range(repeats + 1):  # round 0 is the warm-up and gives the masks
        for image in images:
            for name, model in variants.items():
                start = time.perf_counter()
                mask = segment(model, image, CPU, opts)
                elapsed = time.perf_counter() - start
                if r == 0:
                    masks[name].append(mask)
                else:
                    times[name].append(elapsed)
    reference = masks["torch fp32"]
    torch_ms = 1e3 * float(np.median(times["torch fp32"]))
    rows = []
    for name in variants:
        same = [float((m == ref).mean()) for m, ref in zip(masks[name], reference)]
        counts = [int(particle_labels(m).max()) - int(particle_labels(ref).max())
                  for m, ref in zip(masks[name], reference)]
        ms = 1e3 * float(np.median(times[name]))
        rows.append({"variant": name, "ms": ms, "speed-up": torch_ms / ms,
                     "identical %": 100 * float(np.mean(same)), "worst image %": 100 * min(same),
                     "count diff": f"{sum(counts):+d} (max |{max(abs(c) for c in counts)}|)"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "results" / "demo" / "npssegnet" / "model.pt")
    parser.add_argument("--images", type=Path, default=ROOT / "results" / "demo" / "images")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds over all images (after 1 warm-up)")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    config = load_config([str(ROOT / "config" / "presets" / "cpu.yaml")])
    opts = from_dict(SegmentOptions, config["segment"])  # what `make demo` segments with
    images = [read_image(p) for p in sorted(args.images.iterdir())
              if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff")]
    flags = set(open("/proc/cpuinfo").read().split()) if Path("/proc/cpuinfo").exists() else set()
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; "
          f"torch {torch.__version__}, onnxruntime {ort.__version__}, onnx {onnx.__version__}; CPU flags: "
          + (", ".join(sorted(f for f in flags if f.startswith(("avx", "amx")) or "vnni" in f)) or "unknown"))
    print(f"model {args.model}, {len(images)} images from {args.images}, segment {opts}, {args.repeats} repeats\n")
    with tempfile.TemporaryDirectory() as folder:
        variants = build_variants(load_model(args.model, CPU), images, Path(folder))
        for title, batch in test_sets(images).items():
            print(f"\n{title}, {len(batch)} images: median ms per image (`segment`), agreement with torch fp32")
            print(f"{'variant':28s} {'ms':>8s} {'speed-up':>9s} {'identical %':>12s} {'worst image %':>14s}  "
                  "particle count diff (sum, max)")
            for row in compare(variants, batch, opts, args.repeats):
                print(f"{row['variant']:28s} {row['ms']:8.1f} {row['speed-up']:8.2f}x {row['identical %']:12.4f} "
                      f"{row['worst image %']:14.4f}  {row['count diff']}", flush=True)


if __name__ == "__main__":
    main()
