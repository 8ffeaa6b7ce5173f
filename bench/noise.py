"""Noise-robustness curve of the rough-mask segmenters on real images with ground truth, degraded to low dose.

    flock /tmp/cpu.lock python bench/noise.py [--emps N] [--stem N] [--max-side PX] [--sets emps,stem,demo]
                                              [--methods classical,...] [--doses 100,20,5] [--old REV] [--out DIR]

Each image with ground truth (EMPS test split: instance masks, scored by particle IoU and object F1; STEM
catalyst images and the demo stack: YOLO boxes, scored by box recall and centroid precision; the project's
scorer `tgan.evaluation.score_method`, pooled over the images; box_f1 is the harmonic mean of box recall and
centroid precision, the STEM sets' main figure since a mask can buy recall with specks) is read as the workflow reads it
(`import_image`: vendor bar cut, burned-in annotations found and left out of the scores), then degraded as a
low-dose acquisition: a blur (Gaussian, BLUR_PX), Poisson shot noise at `dose` electrons per pixel for the
image's brightest grey, Gaussian read noise of READ_NOISE_E electrons, and the export's linear stretch back to
[0, 1] (0 to the 99.9th percentile). The ground truth is kept. The noise has a fixed seed per image and dose,
so a subsample sees the same noise as the full run.

Methods at each dose:
- classical: `tgan.classical.classical_mask` of this checkout (the rough masks of method 'classical');
- classical_old: the same function at git revision --old (default 0bf05dd, the segmenter before issue 32), to
  measure before/after with one script;
- gauss_otsu: Gaussian blur (sigma 3 px) + Otsu's threshold;
- tophat_otsu: Gaussian (sigma 1 px), white top-hat with a disc of radius TOPHAT_PX, Otsu's threshold.
The label-free chain (CycleGAN + NPsSegNet) at each dose is not run: far too costly on 2 CPU cores.

Writes DIR/noise.csv (one row per set, dose, method) and DIR/noise.png (the curves), and prints the table
with the run's wall time. EMPS polarity is 'dark' (as in config/bench.yaml), STEM and demo 'bright'.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage import filters, morphology
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tgan import classical  # noqa: E402
from tgan.annotations import ignore_mask  # noqa: E402
from tgan.evaluation import score_method  # noqa: E402
from tgan.ground_truth import read_boxes, read_instances  # noqa: E402
from tgan.images import import_image  # noqa: E402
from tgan.metrics import confusion  # noqa: E402
from tgan.options import PSDOptions  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
BLUR_PX = 1.0
READ_NOISE_E = 2.0
TOPHAT_PX = 15
SEED = 32
SCORES = {"masks": ["iou_particles", "iou_particles_mean", "object_f1"],
          "yolo": ["box_recall", "centroid_precision", "box_f1", "object_f1"]}


def sets(n_emps: int, n_stem: int) -> dict[str, tuple[str, str, list[tuple[Path, Path]]]]:
    """name: (polarity, ground-truth kind, [(image, truth file)]), the first n of each sorted folder (the demo
    stack's 10 images are STEM catalyst images too)."""
    emps, stem, demo = DATA / "emps_test", DATA / "stem_catalysts_yolo", ROOT / "resources" / "demo"
    return {
        "emps": ("dark", "masks", [(p, emps / "segmaps" / f"{p.stem}.png")
                                   for p in sorted((emps / "images").iterdir())[:n_emps]]),
        "stem": ("bright", "yolo", [(p, stem / "labels" / f"{p.stem}.txt")
                                    for p in sorted((stem / "images").iterdir())[:n_stem]]),
        "demo": ("bright", "yolo", [(p, demo / "labels" / f"{p.stem}.txt")
                                    for p in sorted((demo / "images").iterdir())]),
    }


def degrade(image: np.ndarray, dose: float | None, seed: int) -> np.ndarray:
    """The image as a low-dose acquisition at `dose` e-/px (None: the image itself)."""
    if dose is None:
        return image
    rng = np.random.default_rng(seed)
    expected = dose * np.clip(ndi.gaussian_filter(image.astype(np.float64), BLUR_PX), 0, None)
    counts = rng.poisson(expected) + rng.normal(0.0, READ_NOISE_E, image.shape)
    return np.clip(counts / max(np.percentile(counts, 99.9), 1e-9), 0, 1).astype(np.float32)


def old_classical(rev: str):
    """`classical_mask` as it was at git revision `rev` (the module needs only numpy, scipy, skimage)."""
    source = subprocess.run(["git", "show", f"{rev}:src/tgan/classical.py"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "classical_old.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("classical_old", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.classical_mask


def gauss_otsu(image: np.ndarray, polarity: str) -> np.ndarray:
    smooth = ndi.gaussian_filter(image if polarity == "bright" else 1 - image, 3.0)
    return smooth > filters.threshold_otsu(smooth)


def tophat_otsu(image: np.ndarray, polarity: str) -> np.ndarray:
    smooth = ndi.gaussian_filter(image if polarity == "bright" else 1 - image, 1.0)
    tophat = morphology.white_tophat(smooth, morphology.disk(TOPHAT_PX, decomposition="sequence"))
    return tophat > filters.threshold_otsu(tophat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emps", type=int, default=99, help="first N EMPS test images (of 99)")
    parser.add_argument("--stem", type=int, default=33, help="first N STEM catalyst images (of 33)")
    parser.add_argument("--doses", default="100,20,5", help="e-/px, comma-separated ('clean' is always run)")
    parser.add_argument("--old", default="0bf05dd", help="git revision of the old classical segmenter ('' skips it)")
    parser.add_argument("--sets", default="emps,stem,demo")
    parser.add_argument("--methods", default="classical,classical_old,gauss_otsu,tophat_otsu")
    parser.add_argument("--max-side", type=int, default=0,
                        help="skip images whose longer side exceeds this (px; 0: none). Scoring the 2048 px STEM "
                             "images, where the baselines find thousands of specks, is most of the run time")
    parser.add_argument("--out", default="results/noise")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA}: the shared data sets are not here; the noise bench needs them")
    doses: list[float | None] = [None, *(float(d) for d in args.doses.split(",") if d)]
    methods = {"classical": classical.classical_mask, "gauss_otsu": gauss_otsu, "tophat_otsu": tophat_otsu}
    if args.old:
        methods["classical_old"] = old_classical(args.old)
    methods = {k: v for k, v in methods.items() if k in args.methods.split(",")}
    options = PSDOptions()
    rows, start = [], time.time()
    chosen = {k: v for k, v in sets(args.emps, args.stem).items() if k in args.sets.split(",")}
    for set_name, (polarity, kind, files) in chosen.items():
        clean, truth, ignore = {}, {}, {}
        for image_path, truth_path in files:
            image, record = import_image(image_path, 0, None, None)
            if args.max_side and max(image.shape) > args.max_side:
                continue
            name = image_path.stem
            clean[name] = image
            ignore[name] = ignore_mask(image.shape, record)  # found on the clean image: the same pixels at every dose
            truth[name] = (read_instances(truth_path, record["crop"]) if kind == "masks"
                           else read_boxes(truth_path, image.shape, record["crop"]))
        for dose in doses:
            images = {n: degrade(im, dose, SEED + zlib.crc32(f"{n}/{dose}".encode())) for n, im in clean.items()}
            masks: dict[str, dict[str, np.ndarray]] = {m: {} for m in methods}
            seconds = dict.fromkeys(methods, 0.0)
            for name, image in tqdm(images.items(), desc=f"{set_name} dose {dose or 'clean'}", unit="image"):
                for method, segment in methods.items():
                    t = time.time()
                    masks[method][name] = segment(image, polarity)
                    seconds[method] += time.time() - t
            for method in methods:
                scores = score_method(masks[method], truth, images, kind, options, ignore)
                if kind == "masks":  # per-image particle IoU, averaged (the pooled one weighs large images more)
                    ious = []
                    for n, gt in truth.items():
                        tp, fp, fn, _ = confusion(masks[method][n][~ignore[n]], gt[~ignore[n]] > 0)
                        ious.append(tp / (tp + fp + fn) if tp + fp + fn else 1.0)
                    scores["iou_particles_mean"] = float(np.mean(ious))
                else:
                    recall, precision = scores["box_recall"], scores["centroid_precision"]
                    scores["box_f1"] = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
                rows.append({"set": set_name, "images": len(clean), "dose": dose or "clean", "method": method,
                             **{s: scores.get(s, np.nan) for s in SCORES[kind]},
                             "seconds_per_image": seconds[method] / len(clean)})
    wall = time.time() - start
    table = pd.DataFrame(rows)
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "noise.csv", index=False)
    plot(table, out / "noise.png")
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nwall time {wall / 60:.1f} min on {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"blur {BLUR_PX} px, read noise {READ_NOISE_E} e-, seed {SEED}; written to {out}/noise.csv, noise.png")


def plot(table: pd.DataFrame, path: Path) -> None:
    """One panel per set: its main score (particle IoU or box F1) against dose, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table["set"].unique())
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        part = table[table["set"] == name]
        score = "iou_particles" if "iou_particles" in part and part["iou_particles"].notna().any() else "box_f1"
        order = [d for d in part["dose"].unique() if d != "clean"]
        x = [str(d) for d in ["clean", *sorted(order, reverse=True)]]
        for method, rows in part.groupby("method"):
            values = rows.set_index(rows["dose"].astype(str))[score]
            ax.plot(x, [values.get(d, np.nan) for d in x], marker="o", label=method)
        ax.set(title=f"{name} ({part['images'].iloc[0]} images)", xlabel="dose (e-/px)", ylabel=score, ylim=(0, 1))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
