"""What every workflow script does first: send output to the rule's log; for the rules that run a
network, set torch's threads and pick the device."""

from __future__ import annotations

import logging
import os
import sys
import traceback


def start(snakemake) -> None:
    """Redirect stdout/stderr to the job's log file (progress bars included) and log the job. Rules that
    run a network call `start_network` instead; this one does not import torch: seconds saved on each of
    the many small jobs whose own modules do without it (import_image, overlay, psd, ...)."""
    if snakemake.log:
        log = open(snakemake.log[0], "w", buffering=1)
        sys.stdout = sys.stderr = log
        sys.excepthook = _report_error
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    if "SLURM_JOB_ID" in os.environ:  # which cluster job wrote this log (sacct, seff, scontrol)
        logging.info("SLURM job %s on %s", os.environ["SLURM_JOB_ID"], os.environ.get("SLURMD_NODENAME", "?"))
    logging.info("rule %s, stack %s", snakemake.rule, getattr(snakemake.wildcards, "stack", "-"))


def start_network(snakemake):
    """`start`, then torch's threads and the device (config `device`) of a rule that runs a network.
    The device is read from the config, not passed as a rule param: where a job runs does not change
    what it computes, so moving a stack to a GPU must not make Snakemake retrain it."""
    start(snakemake)
    from .training import pick_device, set_threads

    set_threads(snakemake.threads)
    device = pick_device(snakemake.config["device"])
    logging.info("device %s, %d thread(s)", device, snakemake.threads)
    return device


def _report_error(kind, error, trace) -> None:
    """The traceback goes to the log; the message (which names the file and the reason) also goes to the
    console, so that the user sees why the job failed without opening the log."""
    traceback.print_exception(kind, error, trace)
    print(f"{kind.__name__}: {error}", file=sys.__stderr__)
