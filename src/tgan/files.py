"""Writing output files so that a killed job never leaves half of one behind.

Snakemake removes the outputs of a job that fails, and flags those of a run that was killed as
incomplete; a file written under a temporary name and renamed when complete is safe even where
that bookkeeping is lost (a node that dies, a deleted .snakemake folder, a script run by hand).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write to; rename it to `path` when the block succeeds.

    The temporary name keeps the suffix (writers that pick the format from it still work) and starts
    with a dot; it is removed when the block fails. The rename is atomic on POSIX file systems.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, data: Any) -> None:
    with atomic(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def write_csv(path: str | os.PathLike, table) -> None:
    """A pandas table as CSV, without its index."""
    with atomic(path) as tmp:
        table.to_csv(tmp, index=False)
