"""The paper settings at full size, with the epochs and steps cut: does every rule run, and what does each need?

    python bench/paper_size.py [--cores 2] [--steps 4] [--masks 16]   (run it under the CPU lock)

Runs the paper settings (the schema's defaults: 512² crops, ResNet34 UNet++, 9-block CycleGAN, batch 4) unchanged
except for how long each stage trains: one epoch of `--steps` batches for pix2pix and the CycleGAN, `--masks`
synthetic masks (the virtual images: NPsSegNet's steps per epoch, and the forwards of gen1 and gen2) and one
NPsSegNet epoch. The stack is the bench's ten HAADF-STEM images (640 to 2048 px) from ../shared/data with their
boxes, so `evaluate` (5-fold supervised baseline included) and `image_quality` run too; the self-checks only
warn (stages this short do not learn). Every rule's wall time and
peak memory (Snakemake's benchmark files: s, max_rss) are printed and written to results/paper_size/resources.md,
with each training's time scaled to the paper's epochs (measured time x paper steps / steps run; the fixed cost of
start-up and self-checks makes that an upper bound). The workflow runs in results/paper_size/ (its own results/).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from evaluation import DATA, SUBSETS, gpu_name, markdown  # noqa: E402
from tgan.cli import load_config  # noqa: E402

STACK = "stem_catalysts"


def paper_steps(config: dict) -> dict[str, float]:
    """Training steps (batches) of each trained rule with these settings."""
    gan = {step: (config[step]["n_epochs"] + config[step]["n_epochs_decay"]) * config[step]["crops_per_epoch"]
           / config[step]["batch_size"] for step in ("pix2pix", "cyclegan")}
    npssegnet = config["npssegnet"]["epochs"] * config["synthesize_masks"]["count"] / config["npssegnet"]["batch_size"]
    return {"train_pix2pix": gan["pix2pix"], "train_cyclegan": gan["cyclegan"], "train_npssegnet": npssegnet,
            "train_npssegnet_gen1": npssegnet, "train_supervised": npssegnet,
            "generate_gen1": config["synthesize_masks"]["count"], "generate_gen2": config["synthesize_masks"]["count"],
            "synthesize_masks": config["synthesize_masks"]["count"]}


def cut(config: dict, steps: int, masks: int) -> dict:
    """The paper settings with only the length of each training changed."""
    out = {"stacks": {STACK: {"images": str(ROOT / "results" / "paper_size" / "images"), "polarity": "bright",
                              "ground_truth": {"yolo": str(DATA / "stem_catalysts_yolo" / "labels")}}},
           "max_threads": os.cpu_count()}
    for step in ("pix2pix", "cyclegan"):
        out[step] = {"n_epochs": 1, "n_epochs_decay": 0, "crops_per_epoch": steps * config[step]["batch_size"]}
    out["synthesize_masks"] = {"count": masks}
    out["npssegnet"] = {"epochs": 1}
    # stages this short do not learn, and their self-checks say so: go on, so that every rule is measured
    out["self_checks"] = {"on_failure": "warn"}
    return out


def resources(work: Path, paper: dict[str, float], run: dict[str, float]) -> pd.DataFrame:
    rows = []
    for path in sorted((work / "benchmarks").rglob("*.tsv")):
        bench = pd.read_csv(path, sep="\t").iloc[0]
        rule = path.stem if path.parent.name == STACK else path.parent.name  # train_supervised/foldK.tsv
        scale = paper[rule] / run[rule] if rule in paper and run[rule] else 1.0
        rows.append({"rule": str(path.relative_to(work / "benchmarks" / STACK).with_suffix("")),
                     "wall_s": bench["s"], "max_rss_mb": bench["max_rss"],
                     "paper_scale": scale, "paper_wall_h_upper": bench["s"] * scale / 3600})
    return pd.DataFrame(rows).set_index("rule").sort_values("max_rss_mb", ascending=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="batches of each GAN's one epoch")
    parser.add_argument("--masks", type=int, default=16, help="synthetic masks (NPsSegNet's steps x batch)")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA}: the shared data sets are not here; this benchmark needs the STEM images")
    work = ROOT / "results" / "paper_size"
    images = work / "images"
    images.mkdir(parents=True, exist_ok=True)
    folder, names = SUBSETS[STACK]
    for name in names:
        if not (images / name).exists():
            (images / name).symlink_to(folder / name)
    config = load_config([])  # the paper settings: the schema's defaults
    settings = cut(config, args.steps, args.masks)
    (work / "cut.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(work),
           "--cores", str(args.cores), "--configfile", str(work / "cut.yaml")]
    start = time.time()
    failed = subprocess.run(cmd, cwd=work).returncode
    wall = time.time() - start
    run = paper_steps({**config, **{k: {**config[k], **v} for k, v in settings.items() if isinstance(v, dict)
                                    and k in config}})
    table = resources(work, paper_steps(config), run)
    text = "\n".join([
        f"Command: `python bench/paper_size.py --cores {args.cores} --steps {args.steps} --masks {args.masks}`  ",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, {gpu_name()}  ",
        f"Wall time: {wall / 60:.1f} min{'' if not failed else f' (the workflow FAILED, exit {failed}: see logs/)'}",
        "", markdown(table), ""])
    (work / "resources.md").write_text(text)
    print(text)
    if failed:
        sys.exit(failed)


if __name__ == "__main__":
    main()
