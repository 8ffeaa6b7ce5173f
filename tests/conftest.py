import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

# Test files that run whole workflows through Snakemake. They are collected first, so that pytest-xdist
# (--dist loadfile --no-loadscope-reorder: whole files, in collection order, two to each of two workers at
# the start) pairs the longest with the shortest: test_workflow + test_incremental on one core, the SLURM
# test (mostly waiting on the cluster's polling) + test_evaluate on the other, then the unit tests.
# test_watch (a watcher process, a tiny training, headless Chromium) comes next, to whichever worker is free first.
WORKFLOW_FILES = ["test_workflow.py", "test_slurm.py", "test_incremental.py", "test_evaluate.py", "test_watch.py"]


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return WORKFLOW_FILES.index(name) if name in WORKFLOW_FILES else len(WORKFLOW_FILES)

    items.sort(key=rank)  # stable: the order within a file is kept
