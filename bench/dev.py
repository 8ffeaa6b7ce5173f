"""Dev evaluation: the label-free answer on every image with ground truth in ../shared/data outside the bench,
scored image by image, with the label-free quality estimate validated against the true scores.

    flock /tmp/cpu.lock python bench/dev.py [--cores 2] [--set SECTION.KEY=VALUE] [--stacks STACK ...] [--name dev]

The stacks: the 23 STEM catalyst images outside the bench (one stack, bright particles, YOLO boxes) and the
89 EMPS test images outside the bench, in two stacks by particle polarity (dark or bright particles, read from
the ground truth as a user would see it by eye, burned-in labels left out; nothing else is chosen per image or per stack). The step
settings are the CPU preset's (config/presets/cpu.yaml), as in the bench. Six EMPS images carry an information
bar, which import_image cuts off (crop_from: detected); they are scored on the ground truth's rows above it. The
workflow runs to each stack's PSD (no supervised baseline: this evaluation asks how the label-free answer does on
many images, not how it compares with manual labels); `--stacks` runs and scores only the stacks named (an
ablation of a stage that only they use). Then every image is scored, for its final answer, NPsSegNet's mask and
its rough mask: particle IoU and object F1 (EMPS masks), box F1 (STEM: the harmonic mean of box recall and
centroid precision).

Written to results/bench/NAME.md and NAME.csv (one row per image): the scores, the share of images where the
final answer is at least as good as the rough masks, the Spearman correlation of the quality estimate with the
true score, and how many of the fifth of images the estimate ranks lowest are truly among the lowest fifth.
Without ../shared/data the script says so and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from evaluation import DATA, SUBSETS, apply_settings, markdown  # noqa: E402
from tgan.annotations import annotation_regions, ignore_mask  # noqa: E402
from tgan.evaluation import score_method  # noqa: E402
from tgan.ground_truth import read_boxes, read_instances  # noqa: E402
from tgan.images import read_image, read_mask  # noqa: E402
from tgan.options import PSDOptions, from_dict  # noqa: E402

EMPS = DATA / "emps_test"
STEM = DATA / "stem_catalysts_yolo"


def dev_images() -> dict[str, tuple[str, str, list[Path]]]:
    """{stack: (polarity, ground-truth kind, image files)}: every image with ground truth outside the bench."""
    bench = {n for _, names in SUBSETS.values() for n in names}
    stem = [p for p in sorted((STEM / "images").glob("*.jpg")) if p.name not in bench]
    emps = {"dark": [], "bright": []}
    for path in sorted((EMPS / "images").glob("*.png")):
        if path.name in bench:
            continue
        image, truth = read_image(path), read_instances(EMPS / "segmaps" / path.name)
        # burned-in labels and scale bars are no part of the support (white ones made the support of a close
        # packing of bright SEM particles, 92 % of its frame particles, brighter than the particles)
        sample = ~ignore_mask(image.shape, {"ignore": annotation_regions(image)})
        particles = image[(truth > 0) & sample].mean()
        emps["dark" if particles < image[(truth == 0) & sample].mean() else "bright"].append(path)
    return {"dev_stem": ("bright", "yolo", stem), "dev_emps_dark": ("dark", "masks", emps["dark"]),
            "dev_emps_bright": ("bright", "masks", emps["bright"])}


def dev_config(stacks: dict, settings: list[str]) -> Path:
    """The CPU preset's step settings (config/presets/cpu.yaml) with the dev stacks (linked into
    results/dev_data/STACK)."""
    config = yaml.safe_load((ROOT / "config" / "presets" / "cpu.yaml").read_text())
    config["max_threads"] = 1  # two stacks train side by side on two cores, as in the bench
    config["stacks"] = {}
    for stack, (polarity, _, files) in stacks.items():
        folder = ROOT / "results" / "dev_data" / stack
        folder.mkdir(parents=True, exist_ok=True)
        for link in folder.iterdir():  # an image that moved to another stack leaves this one
            if link.is_symlink() and link.name not in {path.name for path in files}:
                link.unlink()
        for path in files:
            if not (folder / path.name).exists():
                (folder / path.name).symlink_to(path)
        config["stacks"][stack] = {"images": str(folder.relative_to(ROOT)), "polarity": polarity}
    apply_settings(config, settings)
    path = ROOT / "results" / "bench" / "dev_config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def score_image(mask: np.ndarray, truth: np.ndarray, image: np.ndarray, kind: str, options: PSDOptions,
                ignore: np.ndarray) -> dict[str, float]:
    """Particle IoU and object F1 (masks), or box F1 (boxes), of one image's mask."""
    s = score_method({"x": mask}, {"x": truth}, {"x": image}, kind, options, {"x": ignore})
    if kind == "masks":
        return {"iou": s["iou_particles"], "f1": s["object_f1"]}
    r, p = np.nan_to_num(s["box_recall"]), np.nan_to_num(s["centroid_precision"])
    return {"f1": 2 * r * p / (r + p) if r + p else 0.0}


def score_stack(stack: str, kind: str, options: PSDOptions) -> pd.DataFrame:
    """One row per image: the true scores of the final answer, NPsSegNet and the rough mask, and segment's
    label-free quality figures (segmentation/quality.csv)."""
    seg = ROOT / "results" / stack / "segmentation"
    quality = pd.read_csv(seg / "quality.csv").set_index("image")
    rows = []
    for name in quality.index:
        image_path = next((ROOT / "results" / "dev_data" / stack).glob(f"{name}.*"))
        image = read_image(ROOT / "results" / stack / "images" / f"{name}.png")
        if kind == "masks":  # cut like its image where import_image cut an information bar (the top rows stay)
            truth = read_instances(EMPS / "segmaps" / f"{name}.png")[:image.shape[0]]
        else:
            truth = read_boxes(STEM / "labels" / f"{name}.txt", image.shape)
        ignore = ignore_mask(image.shape, json.loads((ROOT / "results" / stack / "images" / f"{name}.json").read_text()))
        row = {"stack": stack, "image": name, "file": image_path.name}
        for label, path in [("final", seg / f"{name}.png"), ("npssegnet", seg / "npssegnet" / f"{name}.png"),
                            ("rough", seg / "rough_masks" / f"{name}.png")]:
            if path.is_file():
                row |= {f"{label}_{k}": v for k, v in score_image(read_mask(path), truth, image, kind, options,
                                                                   ignore).items()}
        rows.append(row | quality.loc[name].to_dict())
    return pd.DataFrame(rows)


def lowest_fifth_overlap(estimate: pd.Series, truth: pd.Series) -> tuple[int, int]:
    """(images among the fifth the estimate ranks lowest that truly are in the lowest fifth, size of a fifth)."""
    k = max(1, round(len(truth) / 5))
    return len(set(estimate.nsmallest(k).index) & set(truth.nsmallest(k).index)), k


def summary(table: pd.DataFrame) -> str:
    """The figures the issue asks for, over all dev images and per stack."""
    table = table.copy()
    # the true score the estimate is validated on: particle IoU where masks exist, box F1 on boxes
    table["true_score"] = table["final_iou"].fillna(table["final_f1"]) if "final_iou" in table else table["final_f1"]
    groups = [("all dev images", table)] + list(table.groupby("stack"))
    rows = []
    for label, part in groups:
        row = {"images": len(part), "final F1": part["final_f1"].mean(), "NPsSegNet F1": part["npssegnet_f1"].mean(),
               "rough F1": part["rough_f1"].mean()}
        if "final_iou" in part and part["final_iou"].notna().any():
            row |= {"final IoU": part["final_iou"].mean(), "NPsSegNet IoU": part["npssegnet_iou"].mean(),
                    "rough IoU": part["rough_iou"].mean()}
        tol = 1e-9
        ok = part["final_f1"] >= part["rough_f1"] - tol
        if "final_iou" in part:
            ok &= part["final_iou"].isna() | (part["final_iou"] >= part["rough_iou"] - tol)
        row["final >= rough (share)"] = ok.mean()
        row["answer = rough masks (share)"] = (part["answer"] == "rough_masks").mean()
        rho = spearmanr(part["quality"], part["true_score"]).statistic if len(part) > 2 else float("nan")
        hit, k = lowest_fifth_overlap(part["quality"].reset_index(drop=True), part["true_score"].reset_index(drop=True))
        row |= {"Spearman(quality, true)": rho, "lowest fifth found": f"{hit} of {k}"}
        rows.append({"": label, **row})
    frame = pd.DataFrame(rows).set_index("")
    return markdown(frame.T.rename_axis("figure"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="[SECTION.]KEY=VALUE")
    parser.add_argument("--name", default="dev")
    parser.add_argument("--stacks", nargs="+", choices=["dev_stem", "dev_emps_dark", "dev_emps_bright"],
                        help="run and score only these stacks (default: all three)")
    parser.add_argument("--score-only", action="store_true", help="score the existing results without running")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA}: the shared data sets are not here; the dev evaluation needs them")
    stacks = {stack: files for stack, files in dev_images().items() if not args.stacks or stack in args.stacks}
    config = dev_config(stacks, args.set)
    targets = [f"results/{s}/psd/summary.csv" for s in stacks]
    start = time.time()
    failed = 0
    if not args.score_only:
        failed = subprocess.run([sys.executable, "-m", "snakemake", *targets, "--cores", str(args.cores),
                                 "--configfile", str(config), "--keep-going"], cwd=ROOT).returncode
    wall = time.time() - start
    options = from_dict(PSDOptions, yaml.safe_load(config.read_text()).get("psd", {}))
    tables, missing = [], []
    for stack, (_, kind, _) in stacks.items():
        if (ROOT / "results" / stack / "psd" / "summary.csv").is_file():
            tables.append(score_stack(stack, kind, options))
        else:
            missing.append(stack)
    table = pd.concat(tables, ignore_index=True)
    out = ROOT / "results" / "bench" / f"{args.name}.csv"
    table.to_csv(out, index=False)
    methods = {s: json.loads((ROOT / "results" / s / "segmentation" / "method.json").read_text())["method"]
               for s in stacks if s not in missing}
    text = [f"Command: `flock /tmp/cpu.lock python bench/dev.py --cores {args.cores}"
            + "".join(f" --set {s}" for s in args.set) + (f" --stacks {' '.join(args.stacks)}" if args.stacks else "")
            + (f" --name {args.name}" if args.name != "dev" else "") + "`  ",
            f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
            f"Python {platform.python_version()}  ",
            f"Wall time: {wall / 60:.1f} min  ",
            "Stacks and the method each ended with: " + ", ".join(f"{s} ({len(stacks[s][2])} images, "
                                                                 f"{methods.get(s, 'no PSD')})" for s in stacks), "",
            summary(table), "", f"Per image: {out.relative_to(ROOT)}"]
    if missing:
        text.append(f"\nNo PSD (a job failed, see logs/): {', '.join(missing)}")
    (ROOT / "results" / "bench" / f"{args.name}.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    if failed or missing:
        sys.exit(f"the workflow failed for {', '.join(missing) or 'a job'} (exit {failed})")


if __name__ == "__main__":
    main()
