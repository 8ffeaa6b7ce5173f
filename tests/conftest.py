import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

# One torch (OpenMP) thread in each pytest worker and in the jobs it starts, unless set: the workers (one more than
# the cores, below) and their workflows fill the cores already; more threads only wait on each other (the suite on
# 2 cores: a small training of test_pseudo_labels took 8 s with one worker per core at 2 threads, 35 s with three).
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Test files that run whole workflows through Snakemake, longest first. They are collected first, so that
# pytest-xdist (--dist loadfile --no-loadscope-reorder: whole files in collection order, the next one to a worker
# as soon as it has at most two tests left) starts one on each worker: test_incremental and test_fallback (5-6 min
# of one worker each on 2 cores), the SLURM test (mostly waiting on the cluster's polling); then test_workflow,
# test_evaluate, test_watch (a watcher process, a tiny training, headless Chromium) and the unit tests.
WORKFLOW_FILES = ["test_incremental.py", "test_fallback.py", "test_slurm.py", "test_workflow.py", "test_evaluate.py",
                  "test_watch.py"]


def pytest_xdist_auto_num_workers(config):
    """-n auto: a worker per core and one more. The SLURM test's worker waits most of its 3 min on the cluster's
    status polling (alone on 2 cores: 165 s wall, its jobs about a minute of CPU); the extra worker keeps both
    cores busy meanwhile. PYTEST_XDIST_AUTO_NUM_WORKERS still sets the number."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    return len(os.sched_getaffinity(0)) + 1


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return WORKFLOW_FILES.index(name) if name in WORKFLOW_FILES else len(WORKFLOW_FILES)

    items.sort(key=rank)  # stable: the order within a file is kept
