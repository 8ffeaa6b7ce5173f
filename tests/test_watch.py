"""`tgan watch` end to end: a tiny NPsSegNet trained here, a folder that a simulated microscope writes to
(one file there before the start, then frames one by one, a truncated file, one written in slow chunks, a
calibrated two-frame TIFF with its acquisition time), the series tables, the live page through its server
and in headless Chromium, SIGTERM and a restart that continues the session."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import tifffile
import torch

from burned_in import with_scale_bar
from synthetic import particle_image
from tgan import live, quality
from tgan.cli import load_config, stack_settings
from tgan.images import import_image, read_image, read_mask, write_image
from tgan.npssegnet import load_model, probability, train_npssegnet
from tgan.options import NPsSegNetOptions, PSDOptions
from tgan.psd import find_particles
from tgan.rough_masks import make_segmenter, outline
from tgan.training import set_threads
from tgan.watch import Session, Settings, Watcher
from workflow_helpers import ROOT

N_PARTICLES, RADIUS, PIXEL_SIZE_NM = 10, 6, 0.5
ACQUIRED = datetime.now().strftime("%Y:%m:%d %H:%M:%S")  # a frame of this session
SETTLE = 0.6
# Seconds a wait for the watcher may take before the test fails: generous, as the suite runs one pytest worker
# more than there are cores (tests/conftest.py) and a wait ends as soon as its frames are in.
PATIENCE = 180
GOOD = ["before", "f1", "slow", "stack_f000", "stack_f001"]


def frame(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return particle_image((160, 160), radii=(RADIUS,) * N_PARTICLES, seed=seed)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A tiny NPsSegNet trained on synthetic frames with their true masks (seconds on one thread)."""
    set_threads(1)
    pairs = [frame(seed) for seed in range(100, 106)]
    opts = NPsSegNetOptions(encoder="resnet18", encoder_depth=3, decoder_channels=[16, 8, 4], epochs=6,
                            batch_size=4, crop_size=64, lr=1e-2)
    return train_npssegnet([image for image, _ in pairs], [labels > 0 for _, labels in pairs], opts,
                           tmp_path_factory.mktemp("model"), torch.device("cpu"), seed=0, epoch_size=16)


def start(work: Path, model: Path, log: str) -> tuple[subprocess.Popen, str]:
    """The watcher as a user starts it; returns the process and the URL of its live page."""
    config = work / "live.yaml"
    config.write_text("stacks:\n  insitu:\n    images: in\npsd:\n  min_diameter_px: 4\n")
    out = open(work / log, "w")
    proc = subprocess.Popen([sys.executable, "-m", "tgan.cli", "watch", "--model", str(model), "--configfile",
                             str(config), "--stack", "insitu", "--folder", "in", "--out", "out", "--port", "0",
                             "--settle", str(SETTLE), "--poll", "0.1", "--threads", "1"],
                            cwd=work, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + PATIENCE
    while time.time() < deadline:
        found = re.search(r"live page: (http://127\.0\.0\.1:\d+/)", (work / log).read_text())
        if found:
            return proc, found.group(1)
        assert proc.poll() is None, (work / log).read_text()
        time.sleep(0.2)
    raise AssertionError(f"no live page after {PATIENCE} s:\n" + (work / log).read_text())


def wait_for(work: Path, images: list[str], proc, log: str, timeout: float = PATIENCE) -> pd.DataFrame:
    deadline = time.time() + timeout
    while time.time() < deadline:
        path = work / "out" / "summary.csv"
        if path.exists():
            summary = pd.read_csv(path)
            if set(images) <= set(summary["image"]):
                return summary
        assert proc.poll() is None, (work / log).read_text()
        time.sleep(0.2)
    raise AssertionError(f"frames {images} not all analysed in {timeout} s:\n" + (work / log).read_text())


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=PATIENCE)


def get(url: str, method: str = "GET") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


@pytest.fixture(scope="module")
def session(model, tmp_path_factory):
    """A running watcher after the simulated microscope has written its frames."""
    work = tmp_path_factory.mktemp("watch")
    (work / "in").mkdir()
    image, _ = frame(0)
    write_image(work / "in" / "before.png", image)  # already there at the start: processed
    proc, url = start(work, model, "watch.log")
    write_image(work / "in" / "f1.png", frame(1)[0])
    write_image(work / "scratch.png", frame(2)[0])
    data = (work / "scratch.png").read_bytes()
    (work / "in" / "truncated.png").write_bytes(data[: len(data) // 2])  # a transfer that broke off
    with open(work / "in" / "slow.png", "wb") as file:  # a slow writer: chunks with pauses below --settle
        for k in range(4):
            file.write(data[k * len(data) // 4:(k + 1) * len(data) // 4])
            file.flush()
            time.sleep(SETTLE / 3)
    stack = np.stack([1000 + frame(s)[0] * 40000 for s in (3, 4)]).astype(np.uint16)
    tifffile.imwrite(work / "in" / "stack.tif", stack, imagej=True, metadata={"unit": "nm", "axes": "TYX"},
                     resolution=(1 / PIXEL_SIZE_NM, 1 / PIXEL_SIZE_NM), datetime=ACQUIRED)
    summary = wait_for(work, GOOD, proc, "watch.log")
    deadline = time.time() + 30  # the page is rendered once the queue is empty
    while f"{len(GOOD)} frame(s) analysed" not in (work / "out" / "index.html").read_text():
        assert time.time() < deadline, (work / "out" / "index.html").read_text()
        time.sleep(0.2)
    yield work, proc, url, summary
    if proc.poll() is None:
        proc.kill()


def test_every_good_frame_gives_one_row_set(session):
    work, _, _, summary = session
    assert sorted(summary["image"]) == sorted(GOOD)  # the truncated file is not among them, nothing twice
    particles = pd.read_csv(work / "out" / "particles.csv")
    assert set(particles["image"]) == set(GOOD)
    for row in summary.itertuples():
        assert row.count == pytest.approx(N_PARTICLES, abs=3), row.image
        assert row.count == (~particles.loc[particles["image"] == row.image, "touches_border"]).sum()
        assert (work / "out" / "masks" / f"{row.image}.png").exists()
        assert iio.imread(work / "out" / "overlays" / f"{row.image}.png").shape == (160, 160, 3)
    assert summary["diameter_px_mean"].to_numpy() == pytest.approx(2 * RADIUS, rel=0.25)
    assert summary["frame"].tolist() == list(range(len(GOOD)))
    assert (summary["latency_s"] > 0).all() and (summary["process_s"] > 0).all()


def test_each_frame_gets_the_floor_and_quality_estimate_of_the_workflow(session, model):
    """As the workflow's segment does: the frame's answer is NPsSegNet's mask (its outlines redrawn as the rough
    masks' are) or the stack's rough mask, whichever has the higher contrast, with the same quality estimate (recomputed here from the frame and the model)."""
    work, _, _, summary = session
    net = load_model(model, torch.device("cpu"))
    settings = stack_settings(load_config([str(work / "live.yaml")]), "insitu")  # as the watcher reads them
    assert settings.rough_masks and settings.polarity == "bright"
    for row in summary[summary["image"].isin(["before", "f1", "slow"])].itertuples():
        image, _ = import_image(work / "in" / f"{row.image}.png", 0, None, None)  # as the watcher reads it
        rough = make_segmenter(settings.rough_masks, settings.polarity, torch.device("cpu"))(image)
        prob = probability(net, image, torch.device("cpu"), settings.segment)
        answer, _, figures = quality.assess(image, prob, rough, 0.5,
                                            lambda f: probability(net, f, torch.device("cpu"), settings.segment),
                                            outline=outline(settings.rough_masks, settings.polarity))
        assert row.answer == figures["answer"] and row.quality == pytest.approx(figures["quality"], abs=1e-3)
        assert 0.0 < row.quality <= 1.0
        assert np.array_equal(read_mask(work / "out" / "masks" / f"{row.image}.png"), answer)


def test_acquisition_time_and_calibration_come_from_the_file(session):
    _, _, _, summary = session
    rows = summary.set_index("image")
    for name in ("stack_f000", "stack_f001"):
        assert rows.loc[name, "time_source"] == "acquisition"
        assert datetime.fromisoformat(rows.loc[name, "time"]).strftime("%Y:%m:%d %H:%M:%S") == ACQUIRED
        assert rows.loc[name, "diameter_nm_mean"] == pytest.approx(rows.loc[name, "diameter_px_mean"] * PIXEL_SIZE_NM)
    assert rows.loc["f1", "time_source"] == "file modified" and np.isnan(rows.loc["f1", "diameter_nm_mean"])


def test_the_truncated_file_is_named_with_its_reason(session):
    work, proc, _, _ = session
    assert proc.poll() is None  # the bad file did not stop the watcher
    rejected = pd.read_csv(work / "out" / "rejected.csv")
    assert rejected["file"].tolist() == ["truncated.png"]
    assert "cannot read image" in rejected["reason"].iloc[0]
    assert re.search(r"skipped truncated\.png: .*truncated\.png: cannot read image", (work / "watch.log").read_text())


def test_the_server_serves_the_page_and_nothing_outside_the_output_folder(session):
    work, _, url, _ = session
    (work / "secret.txt").write_text("not an output")
    status, page = get(url)
    assert status == 200 and b"stack_f001" in page and b"5 frame(s) analysed" in page
    assert b"truncated.png" in page and b"backlog: 0" in page
    assert get(url + "live.png")[0] == 200 and get(url + "summary.csv")[1].startswith(b"frame,image")
    for path in ["../secret.txt", "%2e%2e/secret.txt", "masks/../../secret.txt", "..%2fsecret.txt", "masks/",
                 "%2F" + str(work / "secret.txt").lstrip("/"), "nothing.png"]:
        assert get(url + path)[0] == 404, path
    before = sorted(p.name for p in (work / "out").iterdir())
    for method in ("POST", "PUT", "DELETE"):
        assert get(url + "summary.csv", method)[0] in (405, 501)
    assert sorted(p.name for p in (work / "out").iterdir()) == before


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium installed (Debian: apt-get install chromium; .ci/run installs it as root)")
    return path


def test_live_page_in_a_headless_browser_shows_the_frame_and_the_series(session):
    work, _, url, _ = session
    shot = work / "page.png"
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                                 "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={shot}",
                                 "--window-size=1300,900", url], capture_output=True, text=True, timeout=120)
    assert shot.exists(), result.stderr[-2000:]
    pixels = iio.imread(shot)[..., :3].astype(int)

    def near(rgb, tolerance=40):
        return int((np.abs(pixels - np.array(rgb)).sum(axis=-1) < tolerance).sum())

    assert near((255, 221, 0)) > 100  # the latest frame's particle outlines
    assert near((68, 119, 170)) > 500  # the bars of the PSD histogram
    assert near((34, 136, 51)) > 100 and near((204, 51, 17)) > 100  # count and mean diameter against time


@pytest.fixture(scope="module")
def restarted(session, model):
    """SIGTERM, one more frame, and a watcher started again on the same output folder (in this process, with
    the settings the command took from the config: a second start of torch would cost seconds)."""
    work, proc, _, _ = session
    code = stop(proc)
    before = pd.read_csv(work / "out" / "particles.csv")
    ghost = before.iloc[:1].assign(image="ghost")  # rows of a frame killed before its summary row was written
    pd.concat([before, ghost]).to_csv(work / "out" / "particles.csv", index=False)
    write_image(work / "in" / "after.png", frame(5)[0])
    settings = stack_settings(load_config([str(work / "live.yaml")]), "insitu")
    watcher = Watcher(load_model(model, torch.device("cpu")), torch.device("cpu"), work / "in", work / "out",
                      settings, settle=SETTLE, poll=0.1)
    tried = []
    deadline = time.time() + 30
    while "after" not in set(watcher.session.summary["image"]):
        assert time.time() < deadline, "after.png not analysed in 30 s"
        watcher.scan()
        tried += [name for name, _ in watcher.queue]
        if watcher.queue:
            watcher.process(*watcher.queue.pop(0))
        time.sleep(0.1)
    return work, code, before, watcher.session.summary, tried


def test_sigterm_stops_cleanly_and_a_restart_continues_the_session(restarted):
    work, code, before, summary, tried = restarted
    assert code == 0
    log = (work / "watch.log").read_text()
    assert "SIGTERM: stopping after the current frame" in log and "stopped: 5 frame(s)" in log
    assert summary["image"].tolist() == GOOD + ["after"]  # no frame again, none lost
    assert set(tried) == {"after.png"}  # neither the frames done nor the truncated file are read again
    particles = pd.read_csv(work / "out" / "particles.csv")
    assert "ghost" not in set(particles["image"])
    pd.testing.assert_frame_equal(particles[particles["image"] != "after"].reset_index(drop=True), before)


def test_the_package_installs_the_tgan_command():
    from importlib.metadata import entry_points

    (command,) = [e for e in entry_points(group="console_scripts") if e.name == "tgan"]
    assert command.value == "tgan.cli:main"
    assert (ROOT / "pyproject.toml").read_text().count('tgan = "tgan.cli:main"') == 1


def test_skip_existing_leaves_out_the_files_already_there(restarted):
    work = restarted[0]
    write_image(work / "in" / "old.png", frame(6)[0])
    watcher = Watcher(None, torch.device("cpu"), work / "in", work / "out", Settings("insitu"), settle=0.0,
                      skip_existing=True)
    write_image(work / "in" / "new.png", frame(7)[0])
    watcher.scan()  # sees the new file
    watcher.scan()  # finds it unchanged: complete
    assert watcher.queue == [("new.png", 0)]


def test_burned_in_annotations_are_not_measured_as_particles(model, tmp_path):
    """The watcher measures a frame as the psd rule does: a scale bar and its label, bright like the particles
    and found by the network, are left out of the table and drawn as ignored on the overlay."""
    image, _, annotation = with_scale_bar()
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "bar.png", image)
    watcher = Watcher(load_model(model, torch.device("cpu")), torch.device("cpu"), tmp_path / "in", tmp_path / "out",
                      Settings("insitu"), settle=0.0)
    watcher.scan()
    watcher.scan()
    watcher.process(*watcher.queue.pop(0))
    region = np.zeros(annotation.shape, bool)
    ys, xs = np.nonzero(annotation)
    region[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True

    def on_annotation(particles):
        rows, cols = particles["centroid_y_px"].round().astype(int), particles["centroid_x_px"].round().astype(int)
        return int(region[rows, cols].sum())

    mask = read_mask(tmp_path / "out" / "masks" / "bar.png")
    unmasked = find_particles(mask, read_image(tmp_path / "in" / "bar.png"), None, PSDOptions(), "s", "bar")[1]
    assert on_annotation(unmasked) >= 1  # measured as such, the network's mask has particles on the annotation
    particles = pd.read_csv(tmp_path / "out" / "particles.csv")
    assert len(particles) >= 6 and on_annotation(particles) == 0


def test_particle_rows_are_appended_not_rewritten(tmp_path):
    """A long session adds each frame's rows to particles.csv; the file is not written again whole."""
    session = Session(tmp_path)
    first, second = frame(1), frame(2)
    tables = [find_particles(labels > 0, image, None, PSDOptions(), "s", name)[1]
              for name, (image, labels) in (("a", first), ("b", second))]
    session.add(tables[0], {"image": "a", "file": "a.png", "frame_in_file": 0})
    inode = (tmp_path / "particles.csv").stat().st_ino
    session.add(tables[1], {"image": "b", "file": "b.png", "frame_in_file": 0})
    assert (tmp_path / "particles.csv").stat().st_ino == inode
    written = pd.read_csv(tmp_path / "particles.csv")
    assert written["image"].tolist() == ["a"] * len(tables[0]) + ["b"] * len(tables[1])
    assert Session(tmp_path).all_particles()["image"].tolist() == written["image"].tolist()


def test_the_config_is_read_and_checked_as_the_workflow_reads_it(tmp_path):
    """The workflow's config/config.yaml under the given files, validated against its schema."""
    (tmp_path / "live.yaml").write_text("stacks:\n  insitu:\n    images: in\npsd:\n  min_diameter_px: 4\n")
    config = load_config([str(tmp_path / "live.yaml")])
    assert config["psd"]["min_diameter_px"] == 4 and config["psd"]["neck_depth_ratio"] == 0.15  # a default
    (tmp_path / "bad.yaml").write_text("psd:\n  min_diameter_px: -1\n")
    with pytest.raises(SystemExit, match="min_diameter_px"):
        load_config([str(tmp_path / "live.yaml"), str(tmp_path / "bad.yaml")])


def test_a_taken_port_is_named_with_what_to_do(tmp_path):
    first = live.serve(tmp_path, port=0)
    try:
        port = first.server_address[1]
        with pytest.raises(SystemExit, match=rf"port {port} on 127.0.0.1 is in use .*--port 0 for a free one"):
            live.serve(tmp_path, port=port)
    finally:
        first.shutdown()
