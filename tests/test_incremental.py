"""Reruns of only what is stale, reuse of a trained model (segment_with), and reproducibility.

One complete run of two small stacks is shared by the module; the checks are dry runs (default
--rerun-triggers) whose exact job lists are compared with the expected ones. Changes to the work
dir (a new image, a stack segmented with another stack's model) are made on copies of it. A second
run from scratch must give bit-identical results.
"""

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tgan.images import read_mask
from tgan.training import load_checkpoint
from workflow_helpers import ROOT, chain_jobs, make_image, make_stack, planned_jobs, snakemake, write_config

FAST = ROOT / "tests" / "fast.yaml"
IMAGES = ["img0", "img1"]
STACKS = {"s1": {"images": "s1"}, "s2": {"images": "s2"}}  # folders relative to the work dir: copies stay valid


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A work dir after one complete run of stacks s1 and s2 (two images each)."""
    work = tmp_path_factory.mktemp("incremental")
    make_stack(work / "s1", "bright", seed=0, n_images=len(IMAGES))
    make_stack(work / "s2", "bright", seed=20, n_images=len(IMAGES))
    result = snakemake(work, "--cores", "2", configs=[FAST, write_config(work / "stacks.yaml", STACKS)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    assert planned_jobs(result.stderr) == sorted(chain_jobs("s1", IMAGES) + chain_jobs("s2", IMAGES))
    return work


def copy(done, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(done, work, symlinks=True)  # file times too: the copy is as up to date as the original
    return work


def snakemake_with(work, stacks: dict, *args: str) -> str:
    """Snakemake in `work` with these stacks; its output (a dry run's plan goes to stdout, a run's log to stderr)."""
    result = snakemake(work, *args, configs=[FAST, write_config(work / "changed.yaml", stacks)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result.stdout + result.stderr


def job_inputs(output: str, rule: str) -> list[list[str]]:
    """The input files of each job of `rule` in Snakemake's output."""
    return [line.split(", ") for line in
            re.findall(rf"^(?:local)?(?:rule|checkpoint) {rule}:\n    input: (.*)$", output, re.MULTILINE)]


def test_complete_run_leaves_nothing_to_do(done):
    output = snakemake_with(done, STACKS, "-n")
    assert planned_jobs(output) == [] and "Nothing to be done" in output


def test_new_stack_runs_only_its_own_chain(done, tmp_path):
    make_stack(tmp_path / "s3", "dark", seed=40, n_images=3)
    stacks = {**STACKS, "s3": {"images": str(tmp_path / "s3"), "polarity": "dark"}}
    assert planned_jobs(snakemake_with(done, stacks, "-n")) == chain_jobs("s3", ["img0", "img1", "img2"])


@pytest.mark.parametrize("stack, setting, rerun", [
    # a training setting: that stage and everything downstream of it
    ("s1", {"cyclegan": {"n_epochs": 2}},
     ["train_cyclegan", "generate_gen2", "train_npssegnet", "segment", "psd", "overlay", "image_stream"]),
    ("s2", {"pix2pix": {"lambda_l1": 5.0}},
     ["train_pix2pix", "generate_gen1", "train_cyclegan", "generate_gen2", "train_npssegnet", "segment", "psd",
      "overlay", "image_stream"]),
    # a measurement setting: the particles are measured again, nothing is retrained (the rough masks take
    # only the psd settings of the watershed split)
    ("s2", {"psd": {"min_diameter_px": 4.0}}, ["psd", "overlay"]),
])
def test_changed_setting_reruns_its_stage_and_downstream_for_that_stack_only(done, stack, setting, rerun):
    stacks = {name: {**entry, **(setting if name == stack else {})} for name, entry in STACKS.items()}
    assert planned_jobs(snakemake_with(done, stacks, "-n")) == chain_jobs(stack, IMAGES, rerun)


def test_segment_settings_do_not_redo_classical_rough_masks(done):
    """Only the `model` rough-mask method segments with the stack's segment settings."""
    stacks = {name: {**entry, **({"segment": {"threshold": 0.6}} if name == "s2" else {})}
              for name, entry in STACKS.items()}
    planned = planned_jobs(snakemake_with(done, stacks, "-n"))
    assert ("segment", "s2", "") in planned
    assert not [job for job in planned if job[0] in ("rough_masks", "train_pix2pix")]


def test_added_image_retrains_its_stack_and_is_counted(done, tmp_path):
    """A stack's model is trained on the stack as it is: a new image joins the subsets, so the stack's
    whole chain reruns in one run (validation, import, training, segmentation of every image), and the
    PSD counts the new image too. The other stack is left alone."""
    work = copy(done, tmp_path)
    make_image(work / "s1" / "img2.png", seed=99)
    output = snakemake_with(work, STACKS, "-n")
    assert planned_jobs(output) == chain_jobs("s1", IMAGES + ["img2"])
    (segment_inputs,) = job_inputs(output, "segment")  # one job segments every image of the stack
    assert sorted(p for p in segment_inputs if "/images/" in p) == [
        f"results/s1/images/{name}.png" for name in IMAGES + ["img2"]]


def test_segment_with_reuses_the_other_stacks_model(done, tmp_path):
    """A new stack with segment_with: s1 trains nothing: it is imported, segmented with s1's NPsSegNet
    and measured. An image it shares with s1 gets exactly s1's mask and particle count."""
    work = copy(done, tmp_path)
    (work / "repeat").mkdir()
    shutil.copy(work / "s1" / "img0.png", work / "repeat" / "again.png")
    make_image(work / "repeat" / "new.png", seed=77)
    stacks = {**STACKS, "repeat": {"images": "repeat", "segment_with": "s1"}}
    expected = chain_jobs("repeat", ["again", "new"], ["validate_inputs", "import_image", "segment", "psd", "overlay"])
    plan = snakemake_with(work, stacks, "-n")
    assert planned_jobs(plan) == expected
    assert all("results/s1/npssegnet/model.pt" in inputs for inputs in job_inputs(plan, "segment"))
    assert planned_jobs(snakemake_with(work, stacks, "--cores", "2")) == expected

    mask = read_mask(work / "results/repeat/segmentation/again.png")
    assert np.array_equal(mask, read_mask(work / "results/s1/segmentation/img0.png"))
    summary = pd.read_csv(work / "results/repeat/psd/summary.csv").set_index("image")
    s1 = pd.read_csv(work / "results/s1/psd/summary.csv").set_index("image")
    assert sorted(summary.index) == ["ALL", "again", "new"]
    assert summary.loc["again", "count"] == s1.loc["img0", "count"]
    assert not (work / "results/repeat/npssegnet").exists()


def test_segment_with_names_a_stack_that_trains(tmp_path):
    make_stack(tmp_path / "a", "bright", seed=0, n_images=2)
    for stacks, wrong in [
        ({"a": {"images": "a", "segment_with": "nowhere"}}, "'nowhere'"),
        ({"a": {"images": "a", "segment_with": "b"}, "b": {"images": "a", "segment_with": "c"},
          "c": {"images": "a"}}, "'b'"),
    ]:
        result = snakemake(tmp_path, "-n", configs=[write_config(tmp_path / "stacks.yaml", stacks)])
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert "stack a: segment_with must name another configured stack that trains its own NPsSegNet" in output
        assert f"got {wrong}" in output


def digests(results: Path) -> dict[str, str]:
    """sha256 of every file; model files by their tensors (torch.save stamps each file with a random id)."""
    out = {}
    for path in sorted(p for p in results.rglob("*") if p.is_file()):
        data = repr(_flatten(load_checkpoint(path))).encode() if path.suffix == ".pt" else path.read_bytes()
        out[str(path.relative_to(results))] = hashlib.sha256(data).hexdigest()
    return out


def _flatten(value):
    """Nested state dicts as a list of (path, bytes) that repr() writes out in full."""
    if isinstance(value, torch.Tensor):
        return value.numpy().tobytes()
    if isinstance(value, dict):
        return [(k, _flatten(v)) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
    if isinstance(value, (list, tuple)):
        return [_flatten(v) for v in value]
    return value


def test_a_second_run_from_scratch_is_bit_identical(done, tmp_path):
    """Same images, same config, fixed seed, CPU: every output file of the stack (masks, PSD tables,
    figures, model weights) is the same, byte for byte."""
    work = tmp_path / "again"
    shutil.copytree(done / "s1", work / "s1")
    snakemake_with(work, {"s1": STACKS["s1"]}, "--cores", "2")
    first, second = digests(done / "results" / "s1"), digests(work / "results" / "s1")
    assert "psd/particles.csv" in first and "npssegnet/model.pt" in first
    assert sum(name.startswith("segmentation/") and name.endswith(".png") for name in first) == len(IMAGES)
    assert first == second
