"""Reruns of only what is stale, and reuse of a trained model (segment_with).

One complete run of two small stacks is shared by the module; the checks are dry runs (default
--rerun-triggers) whose exact job lists are compared with the expected ones. The runs that must
really happen (an added image, a stack segmented with another stack's model) work on copies.
"""

import shutil

import numpy as np
import pandas as pd
import pytest

from tgan.images import read_mask
from workflow_helpers import N_PARTICLES, ROOT, chain_jobs, make_image, make_stack, planned_jobs, snakemake, \
    write_config

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
    assert planned_jobs(result.stderr) == chain_jobs("s1", IMAGES) + chain_jobs("s2", IMAGES)
    return work


def dry_run(work, stacks: dict, name: str = "changed.yaml") -> list[tuple[str, str, str]]:
    result = snakemake(work, "-n", configs=[FAST, write_config(work / name, stacks)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return planned_jobs(result.stdout)


def run(work, stacks: dict) -> list[tuple[str, str, str]]:
    result = snakemake(work, "--cores", "2", configs=[FAST, write_config(work / "changed.yaml", stacks)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return planned_jobs(result.stderr)


def test_complete_run_leaves_nothing_to_do(done):
    result = snakemake(done, "-n", configs=[FAST, write_config(done / "same.yaml", STACKS)])
    assert result.returncode == 0 and planned_jobs(result.stdout) == []
    assert "Nothing to be done" in result.stdout + result.stderr


def test_new_stack_runs_only_its_own_chain(done, tmp_path):
    make_stack(tmp_path / "s3", "dark", seed=40, n_images=3)
    stacks = {**STACKS, "s3": {"images": str(tmp_path / "s3"), "polarity": "dark"}}
    assert dry_run(done, stacks) == chain_jobs("s3", ["img0", "img1", "img2"])


@pytest.mark.parametrize("stack, setting, rerun", [
    # a training setting: that stage and everything downstream of it
    ("s1", {"cyclegan": {"n_epochs": 2}},
     ["train_cyclegan", "generate_gen2", "train_npssegnet", "segment", "psd", "overlay", "image_stream"]),
    ("s2", {"pix2pix": {"lambda_l1": 5.0}},
     ["train_pix2pix", "generate_gen1", "train_cyclegan", "generate_gen2", "train_npssegnet", "segment", "psd",
      "overlay", "image_stream"]),
    # a measurement setting: the particles are measured again, nothing is retrained
    ("s2", {"psd": {"min_diameter_px": 4.0}}, ["psd", "overlay"]),
])
def test_changed_setting_reruns_its_stage_and_downstream_for_that_stack_only(done, stack, setting, rerun):
    stacks = {name: dict(entry) for name, entry in STACKS.items()}
    stacks[stack].update(setting)
    assert dry_run(done, stacks) == chain_jobs(stack, IMAGES, rerun)


def test_added_image_retrains_its_stack_and_is_counted(done, tmp_path):
    """A stack's model is trained on the stack as it is: a new image joins the subsets, so the stack's
    chain reruns (only the new image is imported) and every image of it is segmented and measured again.
    The other stack is left alone."""
    work = tmp_path / "work"
    shutil.copytree(done, work, symlinks=True)
    labels = make_image(work / "s1" / "img2.png", seed=99)
    expected = [job for job in chain_jobs("s1", IMAGES + ["img2"]) if job[0] != "import_image"]
    expected = sorted(expected + [("import_image", "s1", "img2")])
    assert dry_run(work, STACKS) == expected
    assert run(work, STACKS) == expected

    mask = read_mask(work / "results/s1/segmentation/img2.png")
    assert mask.shape == labels.shape
    particles = pd.read_csv(work / "results/s1/psd/particles.csv")
    summary = pd.read_csv(work / "results/s1/psd/summary.csv").set_index("image")
    counted = particles[~particles["touches_border"]].groupby("image").size()
    assert sorted(counted.index) == IMAGES + ["img2"]
    assert summary.loc["img2", "count"] == counted["img2"] == pytest.approx(N_PARTICLES, rel=0.5)
    assert summary.loc["ALL", "count"] == counted.sum()
    assert sorted(pd.read_csv(work / "results/s2/psd/summary.csv")["image"]) == sorted(IMAGES + ["ALL"])


def test_segment_with_reuses_the_other_stacks_model(done, tmp_path):
    """A new stack with segment_with: s1 is only imported, segmented with s1's NPsSegNet and measured:
    an image it shares with s1 gets exactly s1's mask."""
    work = tmp_path / "work"
    shutil.copytree(done, work, symlinks=True)
    (work / "repeat").mkdir()
    shutil.copy(work / "s1" / "img0.png", work / "repeat" / "again.png")
    make_image(work / "repeat" / "new.png", seed=77)
    stacks = {**STACKS, "repeat": {"images": "repeat", "segment_with": "s1"}}
    expected = chain_jobs("repeat", ["again", "new"], ["import_image", "segment", "psd", "overlay"])
    assert dry_run(work, stacks) == expected
    assert run(work, stacks) == expected

    assert np.array_equal(read_mask(work / "results/repeat/segmentation/again.png"),
                          read_mask(work / "results/s1/segmentation/img0.png"))
    assert not (work / "results/repeat/npssegnet").exists()
    summary = pd.read_csv(work / "results/repeat/psd/summary.csv").set_index("image")
    s1 = pd.read_csv(work / "results/s1/psd/summary.csv").set_index("image")
    assert summary.loc["again", "count"] == s1.loc["img0", "count"]
    assert sorted(summary.index) == ["ALL", "again", "new"]


def test_segment_with_names_a_stack_that_trains(tmp_path):
    make_stack(tmp_path / "a", "bright", seed=0, n_images=2)
    for stacks, wrong in [
        ({"a": {"images": "a", "segment_with": "nowhere"}}, "'nowhere'"),
        ({"a": {"images": "a", "segment_with": "b"}, "b": {"images": "a", "segment_with": "c"},
          "c": {"images": "a"}}, "'b'"),
    ]:
        result = snakemake(tmp_path, "-n", configs=[write_config(tmp_path / "stacks.yaml", stacks)])
        assert result.returncode != 0
        assert f"stack a: segment_with must name another configured stack that trains its own NPsSegNet" \
               in result.stdout + result.stderr
        assert f"got {wrong}" in result.stdout + result.stderr

