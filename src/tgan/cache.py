"""Per-image results of a per-stack job kept across its reruns, so that a new frame costs one image's work.

`segment` is one job per stack (the model loads once), and Snakemake reruns it whole when an image joins the
stack: without a cache a 1,000-frame in-situ series would pay 1,000 x (three forward passes and the rough
mask) for one new frame; `validate_inputs` likewise reads every image (and the OCR reads every scale bar).
Snakemake removes a job's outputs before it runs, so the cache lives beside them (`results/STACK/segment_cache/`,
`validate_cache/`), one file per image, named by a digest of everything its result depends on: the image file's bytes, the model files, the job's settings and the source of the modules that compute it.
Change any of them and the entry is simply not found (and recomputed); nothing stale can be read back.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .files import atomic


def digest(*parts: bytes | str) -> str:
    """sha256 of the parts, each length-prefixed (so that ('ab', 'c') and ('a', 'bc') differ)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


def file_digest(path: str | os.PathLike | None) -> str:
    """Digest of a file's bytes ('' for no file)."""
    return digest(Path(path).read_bytes()) if path else ""


class Cache:
    """Arrays and figures of one image, stored under a digest of the job's key and the image file."""

    def __init__(self, folder: str | os.PathLike, key: str):
        self.folder, self.key = Path(folder), key
        self.hits = self.misses = 0
        self.used: set[Path] = set()

    def _path(self, image_path: str | os.PathLike, part: str = "") -> Path:
        return self.folder / f"{digest(self.key, file_digest(image_path), part)}.npz"

    def get(self, image_path: str | os.PathLike, part: str = "") -> tuple[dict[str, np.ndarray], dict] | None:
        """(arrays, figures) stored for this image (`part`: which image of the file, for files of several frames)
        under this key, or None."""
        path = self._path(image_path, part)
        self.used.add(path)
        if not path.is_file():
            self.misses += 1
            return None
        with np.load(path) as stored:
            arrays = {k: stored[k] for k in stored.files if k != "figures"}
            figures = json.loads(str(stored["figures"]))
        self.hits += 1
        return arrays, figures

    def put(self, image_path: str | os.PathLike, arrays: dict[str, np.ndarray], figures: dict, part: str = "") -> None:
        path = self._path(image_path, part)
        self.used.add(path)
        with atomic(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, figures=np.array(json.dumps(figures)), **arrays)

    def prune(self) -> int:
        """Remove the entries this run did not use (another model, settings or image version: the job covers
        every image of the stack, so they can never be read again); the number removed."""
        stale = [p for p in self.folder.glob("*.npz") if p not in self.used] if self.folder.is_dir() else []
        for path in stale:
            path.unlink()
        return len(stale)


def source_digest(*modules) -> str:
    """Digest of the source files of the modules whose code makes the cached results."""
    return digest(*(Path(m.__file__).read_bytes() for m in modules))
