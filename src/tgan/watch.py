"""`tgan watch`: segment the frames of a live microscope session as they arrive, with the model loaded once.

An in-situ series is hundreds to thousands of frames, and the operator wants the particle sizes while the
experiment runs: a Snakemake job per frame would spend seconds starting Python and torch before any work.
The watcher keeps the network in memory and polls a folder. For every new frame (each frame of a
multi-frame file) it writes the mask, the overlay and the particle rows, and updates the series tables:

- `particles.csv`: one row per particle (the columns of the workflow's psd/particles.csv);
- `summary.csv`: one row per frame (count, density, mean/D10/D50/D90, log-normal fit, the frame's time, and as
  in the workflow's segment, which mask answers it, NPsSegNet's or the rough mask, and its label-free quality
  estimate: tgan.quality; `--fast` skips both, one forward pass per frame);
- `rejected.csv`: frames that could not be read, with the reason.

Microscope reality:
- a file is read only when complete: when its size and modification time have not changed for `settle`
  seconds; writers that pause longer can write NAME.part (or a hidden .NAME) and rename it when done. A file
  that still cannot be read is logged with its reason, listed in rejected.csv and tried again only if it
  changes; it never stops the watcher;
- a restart with the same output folder continues the session: summary.csv says which frames are done,
  and particle rows of a frame that did not reach summary.csv (a kill between the two writes, or in the
  middle of one) are dropped. particles.csv grows by appending each frame's rows (rewriting it after every
  frame made a long session quadratic); the other tables are written atomically (temporary file, rename);
- SIGINT (Ctrl-C) and SIGTERM finish the current frame, then stop;
- frames that arrive faster than they are processed wait in a queue, oldest first; its length (the
  backlog) is logged and shown on the live page.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd

from . import live
from .annotations import ignore_mask
from .figures import overlay
from .files import atomic, write_csv
from .images import IMAGE_SUFFIXES, ImageFileError, boundary_path, count_frames, import_image, write_mask
from .npssegnet import answer, boundary_mask, logits, particle_mask
from .options import PSDOptions, SegmentOptions
from .psd import PARTICLE_COLUMNS, counted, measure, summarise
from .rough_masks import outline

log = logging.getLogger("tgan.watch")

REJECTED_COLUMNS = ["file", "size", "mtime_ns", "reason", "time"]


@dataclass
class Settings:
    """What the watcher needs of a stack's config: calibration, crop, segmentation and PSD options."""

    name: str
    pixel_size_nm: float | None = None
    crop: dict[str, int] | None = None
    segment: SegmentOptions = field(default_factory=SegmentOptions)
    psd: PSDOptions = field(default_factory=PSDOptions)
    polarity: str = "bright"
    rough_masks: dict = field(default_factory=dict)


def acquisition_time(path: Path) -> datetime | None:
    """When the frame was acquired, from the file's metadata (TIFF DateTime tag; DM, EMD and TIA through
    RosettaSciIO's General.date/time); None when the file says nothing."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                stamp = tif.pages.first.tags.valueof("DateTime")
            return datetime.strptime(stamp, "%Y:%m:%d %H:%M:%S").astimezone() if stamp else None
        if suffix in (".dm3", ".dm4", ".emd", ".ser", ".emi"):
            from .images import _em_signal

            general = _em_signal(path)["metadata"].get("General", {})
            if general.get("date") and general.get("time"):
                return datetime.fromisoformat(f"{general['date']}T{general['time']}").astimezone()
    except (ValueError, TypeError, KeyError, OSError, ImageFileError):
        return None  # a broken time stamp is no reason to refuse the frame: the file's time is used
    return None


class Session:
    """The series tables of one output folder: loaded on start (a restart continues them), written
    atomically after every frame."""

    def __init__(self, out: Path):
        self.out = out
        self.particles_path, self.summary_path = out / "particles.csv", out / "summary.csv"
        self.rejected_path = out / "rejected.csv"
        self.summary = _read(self.summary_path)
        particles = _read(self.particles_path)
        if not particles.empty:  # rows of a frame that never reached summary.csv were not committed
            committed = particles[particles["image"].isin(self.summary.get("image", []))]
            if len(committed) < len(particles):
                write_csv(self.particles_path, committed)
            particles = committed
        self.particles = [particles] if not particles.empty else []
        self.rejected = _read(self.rejected_path, REJECTED_COLUMNS)
        self.done = {(f, int(k)) for f, k in zip(self.summary.get("file", []), self.summary.get("frame_in_file", []))}
        self.names = set(self.summary.get("image", []))

    def is_rejected(self, name: str, size: int, mtime_ns: int) -> bool:
        r = self.rejected
        return bool(((r["file"] == name) & (r["size"] == size) & (r["mtime_ns"] == mtime_ns)).any())

    def reject(self, name: str, size: int, mtime_ns: int, reason: str) -> None:
        row = pd.DataFrame([{"file": name, "size": size, "mtime_ns": mtime_ns, "reason": reason,
                             "time": datetime.now().astimezone().isoformat(timespec="seconds")}])
        self.rejected = pd.concat([self.rejected[self.rejected["file"] != name], row], ignore_index=True)
        write_csv(self.rejected_path, self.rejected)

    def add(self, table: pd.DataFrame, row: dict) -> None:
        """Commit one frame: its particle rows first, then its summary row (which marks it done)."""
        if not table.empty:
            self.particles.append(table)
            _append_csv(self.particles_path, table)
        self.summary = pd.concat([self.summary, pd.DataFrame([row])], ignore_index=True)
        write_csv(self.summary_path, self.summary)
        self.done.add((row["file"], int(row["frame_in_file"])))
        self.names.add(row["image"])
        if (self.rejected["file"] == row["file"]).any():  # read at last (a slow writer): no longer rejected
            self.rejected = self.rejected[self.rejected["file"] != row["file"]]
            write_csv(self.rejected_path, self.rejected)

    def start_time(self) -> datetime | None:
        """The time of the session's first frame."""
        if self.summary.empty:
            return None
        return datetime.fromisoformat(self.summary["time"].iloc[0])

    def all_particles(self) -> pd.DataFrame:
        if not self.particles:
            return pd.DataFrame(columns=PARTICLE_COLUMNS)
        if len(self.particles) > 1:
            self.particles = [pd.concat(self.particles, ignore_index=True)]
        return self.particles[0]


def _read(path: Path, columns=None) -> pd.DataFrame:
    if path.exists() and path.stat().st_size > 0:
        return pd.read_csv(path, on_bad_lines="skip")  # a row cut short by a kill belongs to an uncommitted frame
    return pd.DataFrame(columns=columns or [])


def _append_csv(path: Path, table: pd.DataFrame) -> None:
    """Append rows to a CSV table, with the header when the file is new. A file whose header differs (a
    session continued by another version) is rewritten whole, with the old rows under the new columns."""
    if path.exists() and path.stat().st_size > 0:
        with path.open() as file:
            header = file.readline().rstrip("\n").split(",")
        if header == list(table.columns):
            table.to_csv(path, mode="a", header=False, index=False)
            return
        table = pd.concat([pd.read_csv(path, on_bad_lines="skip"), table], ignore_index=True)
    write_csv(path, table)


@dataclass
class Arrival:
    """A file of the watched folder, and when its size or time last changed."""

    size: int
    mtime_ns: int
    seen: float


class Watcher:
    """Polls `folder`, queues complete frames oldest first, and processes them one at a time."""

    def __init__(self, net, device, folder: Path, out: Path, settings: Settings, settle: float = 1.0,
                 poll: float = 0.25, skip_existing: bool = False, last_n: int = 20, refresh: float = 10.0,
                 rough=None):
        """rough: the stack's rough-mask segmenter (image -> mask), for each frame's floor and quality estimate
        as in the workflow's segment; None: NPsSegNet's mask alone, one forward pass (`tgan watch --fast`)."""
        self.net, self.device, self.folder, self.out, self.settings = net, device, folder, out, settings
        self.rough = rough
        # NPsSegNet's outlines redrawn as the workflow's segment redraws them (none without the stack's rough_masks)
        self.outline = outline(settings.rough_masks, settings.polarity) if settings.rough_masks else None
        self.settle, self.poll, self.last_n, self.refresh = settle, poll, last_n, refresh
        self.session = Session(out)
        self.arrivals: dict[str, Arrival] = {}
        self.handled: dict[str, tuple[int, int]] = {}  # (size, mtime) of each file when it was queued or refused
        self.ignored = set(self._files()) if skip_existing else set()
        self.queue: list[tuple[str, int]] = []  # (file name, frame) ready to process
        self.stopping = False
        self.rendered, self.dirty = 0.0, True
        if self.ignored:
            log.info("skipping %d file(s) already in %s", len(self.ignored), folder)

    def _files(self) -> dict[str, Path]:
        return {p.name: p for p in self.folder.iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()}

    def scan(self) -> None:
        """Queue the frames of every file that is complete and has changed since it was last looked at
        (frames appended to a growing stack file are queued too); frames already done are not."""
        now = time.time()
        for name, path in sorted(self._files().items()):
            try:
                st = path.stat()
            except FileNotFoundError:  # renamed or removed between the listing and now
                continue
            signature = (st.st_size, st.st_mtime_ns)
            if name in self.ignored or self.handled.get(name) == signature:
                continue
            before = self.arrivals.get(name)
            if before is None or (before.size, before.mtime_ns) != signature:
                self.arrivals[name] = Arrival(*signature, now)
                continue
            if now - before.seen < self.settle:
                continue
            self.handled[name] = signature
            if self.session.is_rejected(name, *signature):
                continue
            try:
                frames = count_frames(path)
            except ImageFileError as err:
                self._reject(name, st, str(err))
                continue
            self.queue += [(name, k) for k in range(frames)
                           if (name, k) not in self.session.done and (name, k) not in self.queue]
        self.queue.sort(key=lambda item: (self.arrivals[item[0]].mtime_ns, item))

    def _reject(self, name: str, st, reason: str) -> None:
        log.warning("skipped %s: %s", name, reason)
        self.session.reject(name, st.st_size, st.st_mtime_ns, reason)
        self.dirty = True

    def process(self, name: str, frame: int) -> None:
        """Segment and measure one frame, write its mask and overlay, commit its rows."""
        path = self.folder / name
        start = time.time()
        try:
            st = path.stat()
            image, record = import_image(path, frame, self.settings.crop, self.settings.pixel_size_nm)
            n_frames = count_frames(path)
        except (ImageFileError, OSError, ValueError) as err:
            self._reject(name, path.stat() if path.exists() else _Gone(), str(err))
            self.queue = [item for item in self.queue if item[0] != name]
            return
        image_name = path.stem if n_frames == 1 else f"{path.stem}_f{frame:03d}"
        if image_name in self.session.names:
            image_name = f"{path.name}_f{frame:03d}"  # two files with the same stem (a.tif, a.png)
        ignore = ignore_mask(image.shape, record)
        mask, figures, boundary = self.segment(image, ignore)
        labels, table = measure(mask, image, record, self.settings.psd, self.settings.name, image_name, boundary)
        write_mask(self.out / "masks" / f"{image_name}.png", mask)
        if boundary is not None:
            write_mask(boundary_path(self.out / "masks" / f"{image_name}.png"), boundary)
        with atomic(self.out / "overlays" / f"{image_name}.png") as tmp:
            iio.imwrite(tmp, overlay(image, labels, table.loc[table["touches_border"], "particle_id"].tolist(), ignore))
        acquired = acquisition_time(path)
        when = acquired or datetime.fromtimestamp(st.st_mtime).astimezone()
        summary = summarise(table, {image_name: (image.shape, record["pixel_size_nm"])}, self.settings.name,
                            self.settings.psd.bootstrap).iloc[0].to_dict()
        start_time = self.session.start_time() or when
        elapsed = (when - start_time).total_seconds()
        done = time.time()
        row = {"frame": len(self.session.summary), "image": image_name, "file": name, "frame_in_file": frame,
               "time": when.isoformat(timespec="milliseconds"),
               "time_source": "acquisition" if acquired else "file modified",
               "elapsed_s": elapsed, "latency_s": done - st.st_mtime, "process_s": done - start,
               "answer": figures["answer"], "quality": figures["quality"], **summary}
        self.session.add(table, row)
        self.dirty = True
        n_counted = len(counted(table, self.settings.psd.exclude_border))
        mean = summary["diameter_px_mean"]
        log.info("%s: %d particles, mean %.2f px, answer %s, quality %.2f, %.2f s (file written %.2f s ago), "
                 "backlog %d", image_name, n_counted, mean if np.isfinite(mean) else float("nan"), figures["answer"],
                 figures["quality"], done - start, done - st.st_mtime, len(self.queue))

    def segment(self, image: np.ndarray, ignore: np.ndarray) -> tuple[np.ndarray, dict, np.ndarray | None]:
        """(the frame's answer, its figures, the predicted boundaries between touching particles or None): the
        floor and quality estimate of tgan.quality, or NPsSegNet's mask alone without a rough-mask segmenter;
        `ignore`: the frame's burned-in annotations, which the floor leaves out (the PSD does too)."""
        opts = self.settings.segment
        if self.rough is None:
            out = logits(self.net, image, self.device, opts)
            mask = particle_mask(out, opts.threshold)
            return (mask if self.outline is None else self.outline(image, mask),
                    {"answer": "npssegnet", "quality": float("nan")},
                    boundary_mask(out, opts.threshold, self.net.instances, opts.seed_depth))
        answered, own, figures = answer(self.net, image, self.rough(image, ignore), self.device, opts,
                                        outline=self.outline, ignore=ignore)
        return answered, figures, own.get("boundary")

    def render(self) -> None:
        """The live page's figure and status, when something changed; while frames queue up, at most every
        `refresh` s: one render of the page costs about 0.4 s (a seventh of a 1024² demo forward on 2 cores), and
        rendering after every frame of a backlog made a burst 1.65x (frames x one forward) instead of ~1.5x."""
        if not self.dirty or (self.queue and time.time() - self.rendered < self.refresh):
            return
        live.render(self.out, self.session.summary, self.session.all_particles(), self.session.rejected,
                    backlog=len(self.queue), last_n=self.last_n, title=self.settings.name,
                    exclude_border=self.settings.psd.exclude_border, folder=str(self.folder))
        self.rendered, self.dirty = time.time(), False

    def stop(self, signum, _frame) -> None:
        log.info("%s: stopping after the current frame", signal.Signals(signum).name)
        self.stopping = True

    def run(self) -> None:
        """Until SIGINT or SIGTERM: scan, process the oldest queued frame, refresh the page."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.stop)
        log.info("watching %s -> %s (%d frame(s) done before)", self.folder, self.out, len(self.session.summary))
        while not self.stopping:
            self.scan()
            if self.queue:
                name, frame = self.queue.pop(0)
                try:
                    self.process(name, frame)
                except Exception as err:  # a frame that breaks the analysis must not end the session
                    log.exception("analysis of %s (frame %d) failed", name, frame)
                    st = (self.folder / name).stat() if (self.folder / name).exists() else _Gone()
                    self._reject(name, st, f"analysis failed ({type(err).__name__}: {err})")
            else:
                self.render()
                time.sleep(self.poll)
            self.render()
        self.dirty = True
        self.render()
        log.info("stopped: %d frame(s) in %s, %d queued left", len(self.session.summary), self.out, len(self.queue))


class _Gone:
    """stat() of a file removed while it was read."""

    st_size = -1
    st_mtime_ns = -1
