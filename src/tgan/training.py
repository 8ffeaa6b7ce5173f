"""What every training stage shares: device choice, seeding, checkpoints, loss logs, schedules.

Checkpoints hold only tensors and plain Python values, so they load with `weights_only=True`:
a model file from a colleague cannot run code on the user's machine.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import pickle
import random
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from .files import atomic

log = logging.getLogger(__name__)


def pick_device(setting: str = "auto") -> torch.device:
    """`auto` takes CUDA when present, else the CPU; an explicit `cuda` without a GPU is an error."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {setting!r} requested but CUDA is not available; use 'auto' or 'cpu'")
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed every RNG; return a CPU generator that the data sampling draws from."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(int(threads))


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write atomically (temporary name, then rename) so a killed job never leaves half a file."""
    with atomic(path) as tmp:
        torch.save(state, tmp)


def save_skipped(path: str | os.PathLike, stage: str, reason: str) -> None:
    """In place of a network file: the record of a stage that was skipped (an earlier stage failed its
    self-check), which the loaders refuse with its reason instead of loading a network that does not exist."""
    save_checkpoint(path, {"kind": "skipped", "stage": stage, "reason": reason})


def skipped_reason(state: dict[str, Any]) -> str | None:
    """Why the stage of a loaded network file was skipped, or None for a network."""
    return state["reason"] if state.get("kind") == "skipped" else None


def refuse_skipped(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """A clear error for a skipped stage's record loaded as a network."""
    reason = skipped_reason(state)
    if reason is not None:
        raise ValueError(f"{path}: holds no network: the {state['stage']} stage was skipped ({reason})")


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a model or checkpoint file safely: tensors and plain values only (`weights_only=True`).

    A file that holds anything else (a pickled object, which could run code when loaded) is refused
    with a short message; torch's own suggests loading it with weights_only=False, which is what a
    crafted file wants.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported (global: GLOBAL \S+|operand \d+)", str(err))
        raise ValueError(f"{path}: not a safe tgan model file: it holds more than tensors and plain values "
                         f"({found.group(0) if found else 'unsupported pickle content'}), and loading it could run "
                         "code. tgan files hold state dicts only; ask for the weights as such") from err
    except Exception as err:
        raise ValueError(f"{path}: not a readable tgan model file ({type(err).__name__}: {err})") from err


def fingerprint(arrays) -> str:
    """A digest of the training data, so that a checkpoint is never resumed on other data."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def resume_state(path: str | os.PathLike, key: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint of an interrupted run with the same key (options, seed, data), or None."""
    path = Path(path)
    if not path.is_file():
        return None
    state = load_checkpoint(path)
    return state if state.get("key") == key else None


class RandomStates:
    """Every random stream a training run draws from, checkpointed as one object, so that a resumed run
    continues the streams where the killed one stopped and ends bit-identical to an uninterrupted run:
    the data generator, torch's, NumPy's and Python's global generators (and CUDA's), and the
    stage's own NumPy and Python generators (the augmentation's)."""

    def __init__(self, generator: torch.Generator, numpy_rngs: tuple[np.random.Generator, ...] = (),
                 python_rngs: tuple[random.Random, ...] = ()):
        self.generator, self.numpy_rngs, self.python_rngs = generator, numpy_rngs, python_rngs

    def state_dict(self) -> dict[str, Any]:
        numpy_global = np.random.get_state(legacy=False)
        numpy_global["state"]["key"] = numpy_global["state"]["key"].tolist()  # plain values: weights_only
        return {"generator": self.generator.get_state(), "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "numpy": numpy_global, "python": random.getstate(),
                "numpy_rngs": [g.bit_generator.state for g in self.numpy_rngs],
                "python_rngs": [r.getstate() for r in self.python_rngs]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        numpy_global = state["numpy"]
        key = np.asarray(numpy_global["state"]["key"], np.uint32)
        np.random.set_state((numpy_global["bit_generator"], key, numpy_global["state"]["pos"],
                             numpy_global["has_gauss"], numpy_global["gauss"]))
        random.setstate(state["python"])
        for rng, rng_state in zip(self.numpy_rngs, state["numpy_rngs"], strict=True):
            rng.bit_generator.state = rng_state
        for rng, rng_state in zip(self.python_rngs, state["python_rngs"], strict=True):
            rng.setstate(rng_state)


def state_dicts(objects: dict[str, Any]) -> dict[str, Any]:
    """State dicts of named networks, optimisers and schedulers, for a checkpoint."""
    return {name: obj.state_dict() for name, obj in objects.items()}


def restore(state: dict[str, Any], objects: dict[str, Any]) -> None:
    """Load the state dicts written by `state_dicts` back into the same named objects."""
    for name, obj in objects.items():
        obj.load_state_dict(state[name])


class LossLog:
    """One CSV row per epoch, flushed at once so a running job can be watched with `tail -f`.

    A resumed run starts the file again from the rows kept in its checkpoint: Snakemake deletes a job's
    outputs before it runs it, and a run killed mid-epoch may have logged an epoch it did not save.
    """

    def __init__(self, path: str | os.PathLike, rows: list[dict[str, float]] = ()):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        if rows:
            with atomic(self.path) as tmp:
                with tmp.open("w", newline="") as f:
                    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                    writer.writeheader()
                    writer.writerows(rows)

    def write(self, row: dict[str, float]) -> None:
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)


def linear_decay(n_epochs: int, n_epochs_decay: int):
    """junyanz's schedule: constant rate for n_epochs, then linear decay to zero over n_epochs_decay."""
    def factor(epoch: int) -> float:
        return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)
    return factor


class ImagePool:
    """History of generated images shown to the discriminator (Shrivastava et al.), as in CycleGAN."""

    def __init__(self, size: int, generator: torch.Generator):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = generator

    def state_dict(self) -> dict[str, Any]:
        """The history is training state: a resumed run must show the discriminator the same images."""
        return {"images": [image.cpu() for image in self.images]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.images = list(state["images"])  # on the CPU; query moves what it hands out

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images.detach()  # like the pooled ones: the discriminator's loss must not reach the generator
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(1, generator=self.generator).item() < 0.5:
                i = int(torch.randint(0, self.size, (1,), generator=self.generator))
                out.append(self.images[i].to(image.device, copy=True))
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


def run_epochs(desc: str, out_dir: str | os.PathLike, key: dict[str, Any], trained: dict[str, Any],
               epochs: int, run_epoch: Callable[[int], dict[str, float]]) -> None:
    """The epoch loop every stage shares: resume, progress bar, loss log, checkpoint per epoch.

    `trained` names everything with a state: networks, optimisers, schedulers and the RandomStates.
    `run_epoch(epoch)` trains one epoch (scheduler steps included) and returns the figures to log.
    A run killed mid-way resumes after the last finished epoch if `key` (options, seed, data) matches.
    """
    out_dir = Path(out_dir)
    checkpoint = out_dir / "checkpoint.pt"
    rows: list[dict[str, float]] = []
    state = resume_state(checkpoint, key)
    if state is not None:
        restore(state, trained)
        rows = state["losses"]
        log.info("%s: resuming after epoch %d of %d from %s", desc, len(rows), epochs, checkpoint)
    elif checkpoint.exists():
        log.info("%s: %s is of other settings or data; starting at epoch 0", desc, checkpoint)
    loss_log = LossLog(out_dir / "losses.csv", rows)
    bar = tqdm(range(len(rows), epochs), desc=desc, unit="epoch", initial=len(rows), total=epochs)
    for epoch in bar:
        row = {name: float(value) for name, value in run_epoch(epoch).items()}  # plain values: weights_only
        rows.append({"epoch": epoch + 1, **row})
        loss_log.write(rows[-1])
        bar.set_postfix({k: f"{v:.3g}" for k, v in row.items()})
        save_checkpoint(checkpoint, {"key": key, "epoch": epoch + 1, "losses": rows, **state_dicts(trained)})
