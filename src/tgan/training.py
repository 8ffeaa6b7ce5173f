"""What every training stage shares: device choice, seeding, checkpoints, loss logs, schedules.

Checkpoints hold only tensors and plain Python values, so they load with `weights_only=True`:
a model file from a colleague cannot run code on the user's machine.
"""

from __future__ import annotations

import csv
import hashlib
import os
import random
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a model or checkpoint file safely (no arbitrary code from pickles)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: not a safe tgan model file ({err})") from err


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


def state_dicts(objects: dict[str, Any]) -> dict[str, Any]:
    """State dicts of named networks, optimisers and schedulers, for a checkpoint."""
    return {name: obj.state_dict() for name, obj in objects.items()}


def restore(state: dict[str, Any], objects: dict[str, Any]) -> None:
    """Load the state dicts written by `state_dicts` back into the same named objects."""
    for name, obj in objects.items():
        obj.load_state_dict(state[name])


class LossLog:
    """One CSV row per epoch, flushed at once so a running job can be watched with `tail -f`."""

    def __init__(self, path: str | os.PathLike, resume: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not resume and self.path.exists():
            self.path.unlink()

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

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(1, generator=self.generator).item() < 0.5:
                i = int(torch.randint(0, self.size, (1,), generator=self.generator))
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


def run_epochs(desc: str, out_dir: str | os.PathLike, key: dict[str, Any], trained: dict[str, Any],
               generator: torch.Generator, epochs: int, run_epoch: Callable[[int], dict[str, float]]) -> None:
    """The epoch loop every stage shares: resume, progress bar, loss log, checkpoint per epoch.

    `run_epoch(epoch)` trains one epoch (scheduler steps included) and returns the figures to log.
    A run killed mid-way resumes from the last finished epoch if `key` (options, seed, data) matches.
    """
    out_dir = Path(out_dir)
    checkpoint = out_dir / "checkpoint.pt"
    start = 0
    state = resume_state(checkpoint, key)
    if state is not None:
        restore(state, trained)
        generator.set_state(state["rng"])
        start = state["epoch"]
    log = LossLog(out_dir / "losses.csv", resume=start > 0)
    bar = tqdm(range(start, epochs), desc=desc, unit="epoch", initial=start, total=epochs)
    for epoch in bar:
        row = run_epoch(epoch)
        log.write({"epoch": epoch + 1, **row})
        bar.set_postfix({k: f"{v:.3g}" for k, v in row.items()})
        save_checkpoint(checkpoint, {"key": key, "epoch": epoch + 1, "rng": generator.get_state(),
                                     **state_dicts(trained)})
