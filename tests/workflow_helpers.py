"""Helpers of the tests that run the workflow through Snakemake: synthetic stacks, configs, the
snakemake command, and the jobs that a run plans."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from synthetic import particle_image
from tgan.images import write_image

ROOT = Path(__file__).resolve().parents[1]
RULES = ["validate_inputs", "import_image", "split_subsets", "rough_masks", "train_pix2pix", "synthesize_masks",
         "generate_gen1", "train_cyclegan", "generate_gen2", "train_npssegnet", "segment", "psd", "image_stream"]
PER_IMAGE_RULES = ["import_image"]  # segment: one job per stack, the model loaded once; psd draws the overlays
N_IMAGES = 4
N_PARTICLES = 14


def snakemake(workdir: Path, *args: str, configs=()) -> subprocess.CompletedProcess:
    """Snakemake on the repository's Snakefile in `workdir`, with config/tiny.yaml and then `configs`. A dry run
    (-n) goes through `dry_run`."""
    configfiles = [str(ROOT / "config" / "tiny.yaml"), *map(str, configs)]
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", *configfiles, *args]
    if "-n" in args:
        return dry_run(cmd)
    # the jobs' scripts import this checkout's package, not the one a virtual environment may have installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env)


def dry_run(cmd: list[str]) -> subprocess.CompletedProcess:
    """The snakemake command `cmd` with -n, run in this process through Snakemake's own command line (`parse_args`,
    `args_to_api`, as `snakemake.cli.main`): a dry run runs no job, and here it takes 0.15 s where a new interpreter
    takes 2.3 s, most of it importing Snakemake and its plugins (test_incremental plans about 70). As from the
    command, the plan and any error come on stdout, nothing on stderr; the return code is 0 when Snakemake
    succeeded, else 1."""
    from snakemake.cli import parse_args, args_to_api

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        try:
            parser, parsed = parse_args(cmd[3:])  # after: python -m snakemake
            code = 0 if args_to_api(parsed, parser) else 1
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    return subprocess.CompletedProcess(cmd, code, text.getvalue(), "")


def make_image(path: Path, seed: int, polarity: str = "bright") -> np.ndarray:
    """One synthetic image of N_PARTICLES discs; returns its instance labels."""
    image, labels = particle_image((192, 192), radii=(6,) * N_PARTICLES, seed=seed, polarity=polarity)
    write_image(path, image)
    return labels


def make_stack(folder: Path, polarity: str, seed: int, n_images: int = N_IMAGES) -> dict[str, np.ndarray]:
    """n_images synthetic images img0, img1, ...; returns the instance labels by name."""
    return {f"img{i}": make_image(folder / f"img{i}.png", seed + i, polarity) for i in range(n_images)}


def write_config(path: Path, stacks: dict) -> Path:
    path.write_text(yaml.safe_dump({"stacks": stacks}))
    return path


JOB_HEADER = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")


def planned_jobs(output: str) -> list[tuple[str, str, str]]:
    """The jobs that Snakemake's output lists (a dry run's plan, or a run's log), as sorted
    (rule, stack, image) triples, image '' for per-stack rules; jobs without wildcards (all) are left out."""
    jobs, rule = [], None
    for line in output.splitlines():
        header = JOB_HEADER.match(line)
        if header:
            rule = header.group(1)
        elif rule and line.strip().startswith("wildcards:"):
            wildcards = dict(item.split("=", 1) for item in line.split(":", 1)[1].strip().split(", "))
            jobs.append((rule, wildcards["stack"], wildcards.get("image", "")))
            rule = None
    return sorted(jobs)


def chain_jobs(stack: str, images, rules=RULES) -> list[tuple[str, str, str]]:
    """The jobs of `rules` for one stack: one per image for the per-image rules, else one."""
    return sorted((rule, stack, image) for rule in rules
                  for image in (images if rule in PER_IMAGE_RULES else [""]))
