"""Evaluation benchmark on real data: methods (a)-(e) on subsets of the two data sets in ../shared/data.

    python bench/evaluation.py [--cores 2] [--set npssegnet.real_fraction=0] [--set seed=1] [--rounds N]
                               [--heldout] [--dose E] [--name NAME]   (or: make bench; run it under the CPU lock)

Links the chosen images into results/bench_data/, runs the workflow up to the evaluation of both
stacks and writes results/bench/NAME.md (default benchmarks.md): one table per stack (metrics as
rows, methods as columns), the generated-image quality, the self-checks, the command, machine and
wall time. The step settings are the CPU preset's, config/presets/cpu.yaml (what a user without a GPU runs),
the stacks and evaluation settings config/bench.yaml's: the merged config is written to results/bench/config.yaml.
`--set SECTION.KEY=VALUE` changes one step setting for an ablation row (same seed), `--set seed=1` a top-level
key (the spread over seeds); Snakemake then reruns only what that setting touches. `--rounds N` adds N
model-adaptation rounds to every stack (stacks' experimental.adaptation_rounds) and a table for each round, whose "rough
masks" column is the previous round. `--heldout` adds a third stack, `emps_heldout`: nine other EMPS test
images that no setting was ever chosen on (a check that a change does not only fit the bench's images; about
25 min more on 2 cores). `--dose E` runs the bench stacks as low-dose acquisitions instead (stacks NAME_doseE):
each image degraded by bench/noise.py's `degrade` (blur, Poisson noise at E electrons per pixel for the brightest
grey, read noise; a fixed noise per image and dose, seeded here from "NAME/E", so not the realisation that
noise.py's curve draws from "NAME/E.0") and written as an 8-bit PNG, the ground truth kept: the label-free chain
against its rough masks and the manual-label baseline in noise. The data sets are not part of the project:
without ../shared/data the script says so and exits.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SUBSETS = {
    "stem_catalysts": (DATA / "stem_catalysts_yolo" / "images",
                       ["Cu1.jpg", "Cu3.jpg", "Cu4.jpg", "Pd1.jpg", "Pd3.jpg", "Pt2.jpg", "Pt4.jpg", "Ru1.jpg",
                        "Ru2.jpg", "Ru3.jpg"]),
    "emps": (DATA / "emps_test" / "images",
             [f"{n}.png" for n in ["516b2f0aa8", "53025d5189", "8136144eaf", "986f86c3b5", "a880175367",
                                   "c1cccb3332", "cc87926397", "dbbbce5020", "e8e39c913a", "f28b702df5"]]),
}
# EMPS test images outside the bench with dark particles, picked by eye (docs/benchmarks.md, 2026-12-05 third
# session): no setting was chosen on them. Their particles range from 8 px dots to 200 px spheres.
HELDOUT = {
    "emps_heldout": (DATA / "emps_test" / "images",
                     [f"{n}.png" for n in ["2cd773d930", "627acee9c4", "7c5501d292", "c0fcfec15c", "c294fece54",
                                           "d5e8abb61d", "e493a405ad", "f7fa7d1729", "f98c5fb82a"]]),
}
TABLE_METRICS = ["pixel_accuracy", "iou_background", "iou_particles", "mean_iou", "dice", "object_precision",
                 "object_recall", "object_f1", "box_recall", "centroid_precision", "count_true", "count_predicted",
                 "count_error_pct", "mean_diameter_true_px", "mean_diameter_predicted_px", "mean_diameter_error_pct",
                 "wasserstein_px", "ks_statistic"]


def subsets(heldout: bool) -> dict[str, tuple[Path, list[str]]]:
    """The bench stacks' image folders and files, with the held-out stack when asked for."""
    return {**SUBSETS, **(HELDOUT if heldout else {})}


def stack_name(stack: str, dose: float | None) -> str:
    """A bench stack's name in the workflow: NAME, or NAME_doseE for its low-dose version."""
    return stack if dose is None else f"{stack}_dose{dose:g}"


def bench_stacks(rounds: int, heldout: bool, dose: float | None = None) -> list[str]:
    """The evaluated stacks: each bench stack, then its adaptation rounds."""
    return [f"{name}_round{k}" if k else name for name in (stack_name(s, dose) for s in subsets(heldout))
            for k in range(rounds + 1)]


def bench_config(settings: list[str], rounds: int, heldout: bool, dose: float | None = None) -> Path:
    """The CPU preset's step settings (config/presets/cpu.yaml) with config/bench.yaml's stacks, threads and
    evaluation, the --set overrides and the adaptation rounds; written to results/bench/config.yaml. The held-out stack
    is an EMPS stack on other images; at a dose, each stack reads its degraded images."""
    config = yaml.safe_load((ROOT / "config" / "presets" / "cpu.yaml").read_text())
    config.update(yaml.safe_load((ROOT / "config" / "bench.yaml").read_text()))
    if heldout:
        emps = copy.deepcopy(config["stacks"]["emps"])
        config["stacks"]["emps_heldout"] = {**emps, "images": "results/bench_data/emps_heldout"}
    if dose is not None:
        names = {stack: stack_name(stack, dose) for stack in config["stacks"]}
        config["stacks"] = {names[stack]: {**entry, "images": f"results/bench_data/{names[stack]}"}
                            for stack, entry in config["stacks"].items()}
    if rounds:
        for stack in config["stacks"].values():
            stack.setdefault("experimental", {})["adaptation_rounds"] = rounds
    apply_settings(config, settings)
    path = ROOT / "results" / "bench" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def apply_settings(config: dict, settings: list[str]) -> None:
    """The --set SECTION.KEY=VALUE (a top-level KEY=VALUE, or a deeper experimental.SECTION.KEY=VALUE) overrides,
    in place."""
    for setting in settings:
        key, _, value = setting.partition("=")
        if not key or not value:
            sys.exit(f"--set {setting}: expected [SECTION.]KEY=VALUE, e.g. npssegnet.real_fraction=0 or seed=1")
        *sections, name = key.split(".")
        node = config
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = yaml.safe_load(value)


def checks_table(stacks: list[str]) -> str:
    """Every self-check figure of the stacks: stack, stage, figure, value, limit, passed."""
    rows = []
    for stack in stacks:
        for path in sorted((ROOT / "results" / stack / "checks").glob("*.csv")):
            table = pd.read_csv(path)
            rows += [{"stack": stack, **r} for r in table[["stage", "figure", "value", "limit", "passed"]].to_dict("records")]
    frame = pd.DataFrame(rows).set_index("stack") if rows else pd.DataFrame()
    return markdown(frame) if rows else "(no self-check tables found)"


def link_subsets(heldout: bool, dose: float | None = None) -> None:
    """The bench stacks' images in results/bench_data/: links to the files, or at a dose their degraded versions."""
    for stack, (folder, names) in subsets(heldout).items():
        out = ROOT / "results" / "bench_data" / stack_name(stack, dose)
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            if dose is None and not (out / name).exists():
                (out / name).symlink_to(folder / name)
            elif dose is not None and not (out / f"{Path(name).stem}.png").exists():
                write_degraded(folder / name, out / f"{Path(name).stem}.png", dose)


def write_degraded(source: Path, target: Path, dose: float) -> None:
    """The image of `source` degraded by bench/noise.py's `degrade` at `dose`, 8-bit; its noise is fixed per image and
    dose (seeded from "NAME/E", as every earlier --dose run was: noise.py's curve seeds from "NAME/E.0")."""
    from noise import SEED, degrade  # bench/noise.py, beside this script (it puts src/ on the path)

    from tgan.images import read_image, write_image
    write_image(target, degrade(read_image(source), dose, SEED + zlib.crc32(f"{source.stem}/{dose:g}".encode())))


def cell(value) -> str:
    """A table cell: 3 significant digits, counts in full, NaN as 'n/a'."""
    if not isinstance(value, float):
        return str(value)
    if value != value:
        return "n/a"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def markdown(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join([frame.index.name or "", *map(str, frame.columns)]) + " |",
             "|" + "---|" * (len(frame.columns) + 1)]
    for index, row in frame.iterrows():
        cells = [cell(v) for v in row]
        lines.append("| " + " | ".join([str(index), *cells]) + " |")
    return "\n".join(lines)


def gpu_name() -> str:
    """The GPU that the jobs' `device: auto` picks, or 'no GPU' (nvidia-smi, so that this script needs no torch)."""
    try:
        names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                               text=True, timeout=30).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "no GPU"
    return names[0].strip() or "no GPU"


def report(command: str, wall_s: float, fresh: bool, stacks: list[str]) -> str:
    parts = [f"Command: `{command}`  ",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, {gpu_name()}, "
             f"{platform.system()} {platform.release()}, Python {platform.python_version()}  ",
             f"Wall time: {wall_s / 60:.1f} min (all stacks, "
             f"{'from scratch' if fresh else 'reusing the outputs of an earlier run that this one did not change'})", ""]
    for stack in stacks:
        folder = ROOT / "results" / stack / "evaluation"
        if not (folder / "metrics.csv").is_file() or not (folder / "image_quality.csv").is_file():
            parts += [f"### {stack}", "", f"Not evaluated: a job of the stack failed (see logs/{stack}/ and the "
                      "self-checks below).", ""]
            continue
        table = pd.read_csv(folder / "metrics.csv")
        wide = table.pivot(index="metric", columns="method", values="value")
        wide = wide.loc[[m for m in TABLE_METRICS if m in wide.index], list(table["method"].unique())]
        quality = pd.read_csv(folder / "image_quality.csv")
        quality["value"] = [v if v == v else "not computed" for v in quality["value"]]
        quality = quality.pivot(index="metric", columns="generation", values="value")
        parts += [f"### {stack}", "", markdown(wide), "", "Generated images:", "", markdown(quality), ""]
    parts += ["### Self-checks", "", checks_table(stacks), ""]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="[SECTION.]KEY=VALUE",
                        help="change one setting of the demo preset (an ablation row), or a top-level key such as seed=1")
    parser.add_argument("--rounds", type=int, default=0, help="model-adaptation rounds of every stack")
    parser.add_argument("--heldout", action="store_true",
                        help="also evaluate emps_heldout, nine EMPS images that no setting was chosen on")
    parser.add_argument("--dose", type=float, help="run the bench stacks degraded to this many electrons per pixel")
    parser.add_argument("--name", default="benchmarks", help="report name: results/bench/NAME.md")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA}: the shared data sets are not here; the evaluation benchmark needs them")
    link_subsets(args.heldout, args.dose)
    config = bench_config(args.set, args.rounds, args.heldout, args.dose)
    stacks = bench_stacks(args.rounds, args.heldout, args.dose)
    targets = [f"results/{s}/evaluation/{f}" for s in stacks for f in ("metrics.csv", "image_quality.csv")]
    cmd = [sys.executable, "-m", "snakemake", *targets, "--cores", str(args.cores), "--configfile", str(config),
           "--keep-going"]  # a stack whose self-check fails leaves the other stack's evaluation running
    fresh = not any((ROOT / "results" / stack / "rough_masks").exists() for stack in stacks)
    start = time.time()
    failed = subprocess.run(cmd, cwd=ROOT).returncode
    wall = time.time() - start
    out = ROOT / "results" / "bench" / f"{args.name}.md"
    command = " ".join(["python bench/evaluation.py", f"--cores {args.cores}", *(f"--set {s}" for s in args.set),
                        *([f"--rounds {args.rounds}"] if args.rounds else []), *(["--heldout"] if args.heldout else []),
                        *([f"--dose {args.dose:g}"] if args.dose is not None else []),
                        *([f"--name {args.name}"] if args.name != "benchmarks" else [])])
    out.write_text(report(f"flock /tmp/cpu.lock {command}", wall, fresh, stacks))
    print(out.read_text())
    if failed:
        sys.exit(f"the workflow failed for at least one stack (exit {failed}): see {out} and logs/")


if __name__ == "__main__":
    main()
