"""All 99 EMPS test images against their manual instance masks: the label-free answer, its rough masks and the
manual-label baseline, pooled (issue 32's bar: object F1, count and mean diameter error).

    flock /tmp/cpu.lock python bench/emps99.py [--cores 2] [--psd KEY=VALUE ...] [--per-image]

Needs the dev evaluation (bench/dev.py: the 89 EMPS images outside the bench, in two stacks) and the bench
(bench/evaluation.py: its ten EMPS images, with their baselines) to have run. The two dev EMPS stacks are given
their ground truth and their `evaluate` jobs run (a 2-fold supervised baseline inside each stack, as on the bench;
about 11 min on 2 cores the first time, nothing upstream reruns). Then every method's masks of the 99 images go
through the PSD (`find_particles`, the bench's PSD settings; `--psd KEY=VALUE` changes one of them, no network
retrained) and are scored pooled, with `score_method` as the `evaluate` rule scores them. `--per-image` adds one
line per image: true and predicted particle counts per method, worst count error first.

Written to results/bench/emps99.md (and printed). Without ../shared/data the script says so and exits.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from evaluation import DATA, apply_settings, markdown  # noqa: E402
from tgan.annotations import ignore_mask  # noqa: E402
from tgan.evaluation import score_method  # noqa: E402
from tgan.ground_truth import read_instances  # noqa: E402
from tgan.images import read_boundary, read_image, read_mask  # noqa: E402
from tgan.options import PSDOptions, from_dict  # noqa: E402

STACKS = ["emps", "dev_emps_dark", "dev_emps_bright"]
METHODS = {"label_free": "segmentation", "rough_masks": "evaluation/masks/rough_masks",
           "supervised": "evaluation/masks/supervised"}
FIGURES = {"iou_particles": "particle IoU", "object_f1": "object F1", "count_error_pct": "count error %",
           "mean_diameter_error_pct": "mean diameter error %"}


def evaluate_dev_stacks(cores: int) -> None:
    """The dev EMPS stacks' evaluate jobs, with their ground truth added to the dev evaluation's config."""
    source = ROOT / "results" / "bench" / "dev_config.yaml"
    if not source.is_file():
        sys.exit(f"{source}: not found; run bench/dev.py first")
    config = yaml.safe_load(source.read_text())
    config["stacks"] = {s: config["stacks"][s] | {"ground_truth": {"masks": str(DATA / "emps_test" / "segmaps")}}
                        for s in STACKS[1:]}
    config.setdefault("evaluate", {})["folds"] = 2
    path = ROOT / "results" / "bench" / "emps99_config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    targets = [f"results/{s}/evaluation/metrics.csv" for s in STACKS[1:]]
    # mtime, params and input only: an edited workflow script (Snakemake's code trigger) must not retrain the
    # dev stacks' networks that this evaluation scores
    if subprocess.run([sys.executable, "-m", "snakemake", *targets, "--cores", str(cores), "--configfile",
                       str(path), "--rerun-triggers", "mtime", "params", "input", "software-env"],
                      cwd=ROOT).returncode:
        sys.exit("the dev EMPS stacks' evaluation failed (see logs/)")


def load(stack: str) -> tuple[dict, dict, dict, dict[str, dict]]:
    """(images, ground truth, ignore masks, {method: masks}) of one stack's evaluated images."""
    names = sorted(p.stem for p in (ROOT / "results" / stack / "evaluation" / "masks" / "supervised").glob("*.png"))
    if not names:
        sys.exit(f"results/{stack}/evaluation/masks/supervised: no masks; run the bench and bench/dev.py first")
    images, truth, ignore = {}, {}, {}
    for name in names:
        record = json.loads((ROOT / "results" / stack / "images" / f"{name}.json").read_text())
        images[name] = read_image(ROOT / "results" / stack / "images" / f"{name}.png")
        truth[name] = read_instances(DATA / "emps_test" / "segmaps" / f"{name}.png", record["crop"])
        ignore[name] = ignore_mask(images[name].shape, record)
    masks = {m: {n: ROOT / "results" / stack / folder / f"{n}.png" for n in names} for m, folder in METHODS.items()}
    return images, truth, ignore, masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--psd", action="append", default=[], metavar="KEY=VALUE", help="a PSD setting changed")
    parser.add_argument("--per-image", action="store_true", help="counts per image and method")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA}: the shared data sets are not here; this evaluation needs them")
    start = time.time()
    evaluate_dev_stacks(args.cores)
    bench = yaml.safe_load((ROOT / "results" / "bench" / "config.yaml").read_text())
    settings = {"psd": dict(bench.get("psd", {}))}
    apply_settings(settings, [f"psd.{s}" for s in args.psd])
    options = from_dict(PSDOptions, settings["psd"])
    images, truth, ignore, masks = {}, {}, {}, {m: {} for m in METHODS}
    for stack in STACKS:
        i, t, g, m = load(stack)
        images |= i
        truth |= t
        ignore |= g
        for method in METHODS:
            masks[method] |= m[method]
    rows, per_image = {}, []
    for method, files in masks.items():
        mask = {n: read_mask(p) for n, p in files.items()}
        bounds = {n: read_boundary(p) for n, p in files.items()}
        rows[method] = {FIGURES[k]: v for k, v in score_method(mask, truth, images, "masks", options, ignore,
                                                                bounds).items() if k in FIGURES}
        if args.per_image:
            for name in truth:
                s = score_method({name: mask[name]}, {name: truth[name]}, {name: images[name]}, "masks", options,
                                 {name: ignore[name]}, {name: bounds[name]})
                per_image.append({"image": name, "method": method, "true": s["count_true"],
                                  "predicted": s["count_predicted"], "object F1": s["object_f1"]})
    text = [f"Command: `python bench/emps99.py{''.join(f' --psd {s}' for s in args.psd)}`  ",
            f"{len(truth)} EMPS test images ({', '.join(STACKS)}), PSD settings {settings['psd']}, "
            f"{(time.time() - start) / 60:.1f} min", "", markdown(pd.DataFrame(rows).rename_axis("figure"))]
    if per_image:
        table = pd.DataFrame(per_image).pivot(index="image", columns="method", values=["true", "predicted"])
        table.columns = [f"{a} {b}" if a == "predicted" else "true" for a, b in table.columns]
        table = table.loc[:, ~table.columns.duplicated()]
        table = table.reindex((table["predicted label_free"] - table["true"]).abs().sort_values(ascending=False).index)
        text += ["", markdown(table.astype(int))]
    out = ROOT / "results" / "bench" / "emps99.md"
    out.write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
