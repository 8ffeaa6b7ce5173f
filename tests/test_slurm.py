"""The workflow on a real SLURM cluster with profiles/slurm: a single-node cluster on localhost
(tests/slurm_cluster.py, one fake `gpu` GRES), one small stack, every job submitted with sbatch.

Needs root and apt-get (or SLURM and munge already installed); skipped, saying why, elsewhere.
The cluster has no accounting database, hence --slurm-status-command squeue and --slurm-no-account.
"""

import re
import subprocess

import pandas as pd
import pytest

from slurm_cluster import CannotRun, check_can_run, single_node_cluster
from tgan.images import read_mask
from workflow_helpers import ROOT, chain_jobs, make_stack, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.slurm

FAST = ROOT / "tests" / "fast.yaml"
IMAGES = ["img0", "img1"]
GPU_RULES = {"train_pix2pix", "generate_gen1", "train_cyclegan", "generate_gen2", "train_npssegnet", "segment"}
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) ")
LOGGED = re.compile(r"SLURM job (\d+) on ")


@pytest.fixture(scope="module")
def cluster():
    try:
        check_can_run()
    except CannotRun as reason:
        pytest.skip(f"cannot start a SLURM test cluster here: {reason}")
    with single_node_cluster() as daemon_logs:
        yield daemon_logs


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    """The workflow through `--profile profiles/slurm`; returns the work dir, the jobs Snakemake ran,
    the SLURM job ids it reported, and SLURM's record of every job (scontrol show job), by id."""
    work = tmp_path_factory.mktemp("slurm")
    make_stack(work / "stack", "bright", seed=3, n_images=len(IMAGES))
    config = write_config(work / "stacks.yaml", {"a": {"images": "stack"}})
    result = snakemake(work, "--profile", str(ROOT / "profiles" / "slurm"), "--slurm-no-account",
                       "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
                       configs=[FAST, config])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:] + cluster()
    show = subprocess.run(["scontrol", "--details", "show", "job", "--oneliner"], capture_output=True, text=True,
                          check=True)
    records = {}
    for line in show.stdout.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        records[fields["JobId"]] = fields
    return work, planned_jobs(result.stderr), SUBMITTED.findall(result.stderr), records


def job_log(work, job):
    rule, stack, image = job
    return work / "logs" / stack / (f"{rule}/{image}.log" if image else f"{rule}.log")


def test_every_job_ran_as_its_own_sbatch_job(slurm_run):
    work, jobs, submitted, records = slurm_run
    assert jobs == chain_jobs("a", IMAGES)
    assert len(submitted) == len(set(submitted)) == len(jobs)
    # each rule's log names the SLURM job it ran in ($SLURM_JOB_ID): one of the submitted ones
    logged = {job: LOGGED.findall(job_log(work, job).read_text()) for job in jobs}
    assert all(len(ids) == 1 for ids in logged.values()), logged
    assert sorted(ids[0] for ids in logged.values()) == sorted(submitted)
    for (rule, _, _), (slurm_id,) in logged.items():
        record = records[slurm_id]
        assert record["JobState"] == "COMPLETED" and record["ExitCode"] == "0:0"
        assert record["Comment"].startswith(f"rule_{rule}")  # the plugin names the rule in --comment


def test_gpu_rules_are_scheduled_on_a_gpu(slurm_run):
    work, jobs, _, records = slurm_run
    for job in jobs:
        (slurm_id,) = LOGGED.findall(job_log(work, job).read_text())
        record = records[slurm_id]
        gpu_requested = record.get("TresPerJob") == "gres:gpu:1"
        gpu_allocated = record["JOB_GRES"] == "gpu:1"  # from scontrol --details
        assert gpu_requested == gpu_allocated == (job[0] in GPU_RULES), (job, record)


def test_cluster_run_makes_the_psd(slurm_run):
    """The outputs are whole (the models of tests/fast.yaml are too short-trained to judge)."""
    work, *_ = slurm_run
    masks = {name: read_mask(work / "results/a/segmentation" / f"{name}.png") for name in IMAGES}
    assert all(mask.shape == (192, 192) for mask in masks.values())
    particles = pd.read_csv(work / "results/a/psd/particles.csv")
    summary = pd.read_csv(work / "results/a/psd/summary.csv").set_index("image")
    assert sorted(summary.index) == ["ALL", *IMAGES]
    for name in IMAGES:
        on_image = particles[particles["image"] == name]
        assert summary.loc[name, "count"] == (~on_image["touches_border"]).sum()
        assert on_image["area_px2"].sum() <= masks[name].sum()
    assert summary.loc["ALL", "count"] == summary.loc[IMAGES, "count"].sum()
