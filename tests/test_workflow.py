"""The whole workflow through Snakemake, tiny preset, on generated stacks with known particles."""

import json
import re
import shutil
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from scipy import ndimage

from synthetic import particle_image
from tgan import quality
from tgan.figures import BORDER_COLOUR, COUNTED_COLOUR, DOUBTFUL_COLOUR
from tgan.images import read_image, read_mask
from tgan.synthetic_masks import measure_particles
from workflow_helpers import (N_IMAGES, N_PARTICLES, PER_IMAGE_RULES, ROOT, RULES, make_stack, snakemake,
                              write_config)

PIXEL_SIZE_NM = 0.4
DATA_BAR_ROWS = 12


def make_calibrated_stack(folder: Path, seed: int) -> dict[str, np.ndarray]:
    """Like make_stack, as a microscope would save it: 16-bit ImageJ TIFFs calibrated in µm, with a
    bright data bar burned in below the image (cut off by the stack's crop setting)."""
    labels = {}
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(N_IMAGES):
        image, lab = particle_image((192, 192), radii=(6,) * N_PARTICLES, seed=seed + i)
        data = np.vstack([1000 + image * 40000, np.full((DATA_BAR_ROWS, 192), 65535.0)]).astype(np.uint16)
        tifffile.imwrite(folder / f"img{i}.tif", data, imagej=True, metadata={"unit": "micron"},
                         resolution=(1e3 / PIXEL_SIZE_NM, 1e3 / PIXEL_SIZE_NM))
        labels[f"img{i}"] = lab
    return labels


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One complete tiny run with one calibrated stack, and its report; shared by the checks below."""
    work = tmp_path_factory.mktemp("workflow")
    truth = make_calibrated_stack(work / "stack_a", seed=10)
    config = write_config(work / "stacks.yaml", {"a": {"images": str(work / "stack_a"), "polarity": "bright",
                                                       "crop": {"bottom": DATA_BAR_ROWS}}})
    result = snakemake(work, "--cores", "2", configs=[config])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    report = snakemake(work, "--report", "report.html", configs=[config])
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    return work, truth, result


def test_every_rule_ran(run):
    work, _, result = run
    for rule in RULES:
        assert f"rule {rule}:" in result.stderr
    for log in ["split_subsets", "rough_masks", "train_pix2pix", "train_cyclegan", "train_npssegnet", "psd"]:
        assert (work / "logs" / "a" / f"{log}.log").stat().st_size > 0


def test_imported_images_are_cropped_and_calibrated(run):
    work, truth, _ = run
    for name in truth:
        image = read_image(work / "results/a/images" / f"{name}.png")
        assert image.shape == (192, 192)  # the data bar is gone
        record = json.loads((work / "results/a/images" / f"{name}.json").read_text())
        assert record["pixel_size_nm"] == pytest.approx(PIXEL_SIZE_NM) and record["pixel_size_from"] == "file"


def test_subsets_partition_the_stack(run):
    work, truth, _ = run
    subsets = json.loads((work / "results/a/subsets.json").read_text())
    assert len(subsets["morphology"]) == 2
    assert sorted(subsets["morphology"] | subsets["contrast"]) == sorted(truth)


def test_rough_masks_find_the_particles(run):
    work, truth, _ = run
    masks = sorted((work / "results/a/rough_masks").glob("*.png"))
    assert len(masks) == 2
    for path in masks:
        mask, lab = read_mask(path), truth[path.stem]
        assert abs(ndimage.label(mask)[1] - N_PARTICLES) <= 2
        iou = (mask & (lab > 0)).sum() / (mask | (lab > 0)).sum()
        assert iou > 0.6


def test_synthetic_masks_follow_the_rough_masks(run):
    work, _, _ = run
    stats = json.loads((work / "results/a/synthetic_masks.json").read_text())["summary"]
    assert stats["diameter_px_median"] == pytest.approx(12, rel=0.2)
    masks = sorted((work / "results/a/synthetic_masks").glob("*.png"))
    assert len(masks) == 24
    assert all(read_mask(p).shape == (96, 96) for p in masks)


def test_gen_images_pair_with_masks_and_keep_geometry(run):
    work, _, _ = run
    names = sorted(p.name for p in (work / "results/a/synthetic_masks").glob("*.png"))
    for gen in ("gen1", "gen2"):
        assert sorted(p.name for p in (work / f"results/a/{gen}").glob("*.png")) == names
    contrasts = []
    for name in names:
        mask = read_mask(work / "results/a/synthetic_masks" / name)
        gen2 = read_image(work / "results/a/gen2" / name)
        assert gen2.shape == mask.shape and 0.0 <= gen2.min() and gen2.max() <= 1.0 and gen2.std() > 0.01
        if mask.any() and (~mask).any():
            contrasts.append(gen2[mask].mean() - gen2[~mask].mean())
    # bright particles where the synthetic mask says so: gen2 keeps the mask's geometry
    assert np.median(contrasts) > 0.05


def test_every_self_check_ran_and_passed(run):
    work, _, _ = run
    for stage in ("pix2pix", "gen1", "gen2", "npssegnet"):
        table = pd.read_csv(work / f"results/a/checks/{stage}.csv")
        assert table["passed"].all(), table
        assert (table["value"] >= table["limit"]).all()
        assert f"self-check {stage}:" in (work / "logs/a" / {"pix2pix": "train_pix2pix", "gen1": "generate_gen1",
                                                              "gen2": "generate_gen2",
                                                              "npssegnet": "train_npssegnet"}[stage]).with_suffix(
            ".log").read_text()


def test_segmentation_and_psd(run):
    work, truth, _ = run
    seg = {p.stem: read_mask(p) for p in (work / "results/a/segmentation").glob("*.png")}
    assert sorted(seg) == sorted(truth)
    for name, mask in seg.items():
        assert mask.shape == truth[name].shape
        assert set(np.unique(read_image(work / "results/a/segmentation" / f"{name}.png"))) <= {0.0, 1.0}
    particles = pd.read_csv(work / "results/a/psd/particles.csv")
    summary = pd.read_csv(work / "results/a/psd/summary.csv").set_index("image")
    assert set(particles["image"]) <= set(truth)
    assert summary.loc["ALL", "count"] == (~particles["touches_border"]).sum()
    assert summary.loc["ALL", "count"] == pytest.approx(N_IMAGES * N_PARTICLES, rel=0.35)
    assert summary.loc["ALL", "diameter_px_d50"] == pytest.approx(12, rel=0.35)
    assert summary.loc["ALL", "diameter_nm_d50"] == pytest.approx(12 * PIXEL_SIZE_NM, rel=0.35)
    assert summary.loc["ALL", "pixel_size_nm"] == pytest.approx(PIXEL_SIZE_NM)
    # 14 particles per 192² px of 0.4 nm = 0.0059 µm²
    assert summary.loc["ALL", "density_per_um2"] == pytest.approx(N_PARTICLES / (192 * PIXEL_SIZE_NM) ** 2 * 1e6,
                                                                  rel=0.35)
    assert particles["diameter_nm"].to_numpy() == pytest.approx(particles["diameter_px"].to_numpy() * PIXEL_SIZE_NM)


def test_each_image_is_answered_by_the_candidate_that_outlines_it_clearly_better(run):
    """The floor: segment keeps NPsSegNet's mask and the rough mask of every image, answers with the rough one
    where its contrast or the image variance it explains is clearly higher, and the PSD summary says which and
    how good it is believed to be."""
    work, truth, _ = run
    seg = work / "results/a/segmentation"
    table = pd.read_csv(seg / "quality.csv").set_index("image")
    summary = pd.read_csv(work / "results/a/psd/summary.csv").set_index("image")
    assert sorted(table.index) == sorted(truth)
    for name, row in table.iterrows():
        image = read_image(work / "results/a/images" / f"{name}.png")
        candidates = {k: read_mask(seg / k / f"{name}.png") for k in ("npssegnet", "rough_masks")}
        scores = {k: quality.contrast(image, m) for k, m in candidates.items()}
        flat = quality.detrended(image, np.ones(image.shape, bool))  # the illumination's tilt taken out
        explained = {k: quality.explained(flat, m) for k, m in candidates.items()}
        assert row["contrast_npssegnet"] == pytest.approx(scores["npssegnet"], rel=1e-4)
        assert row["explained_rough"] == pytest.approx(explained["rough_masks"], rel=1e-4)
        same = quality.iou(candidates["npssegnet"], candidates["rough_masks"]) >= quality.SAME_ANSWER
        both = scores["rough_masks"] > scores["npssegnet"] and explained["rough_masks"] > explained["npssegnet"]
        sharper = (scores["rough_masks"] > quality.CONTRAST_MARGIN * scores["npssegnet"]
                   and explained["rough_masks"] >= quality.CONTRAST_GATE * explained["npssegnet"])
        best = ("rough_masks" if same or both or sharper
                or explained["rough_masks"] > quality.EXPLAINED_MARGIN * explained["npssegnet"] else "npssegnet")
        assert row["answer"] == best and np.array_equal(read_mask(seg / f"{name}.png"), candidates[best])
        assert 0.0 <= row["quality"] <= 1.0
        agreement = quality.object_agreement(candidates["npssegnet"], candidates["rough_masks"])
        assert row["quality"] == pytest.approx(np.mean([row["agreement_flips"], agreement, explained[best]]), rel=1e-4)
        assert summary.loc[name, "answer"] == row["answer"]
    assert summary.loc["ALL", "quality"] == pytest.approx(table["quality"].mean())


def test_overlays_outline_the_measured_particles(run):
    work, truth, _ = run
    particles = pd.read_csv(work / "results/a/psd/particles.csv")
    doubtful = pd.read_csv(work / "results/a/psd/summary.csv").set_index("image")["doubtful"]
    for name in truth:
        rgb = np.asarray(iio.imread(work / "results/a/overlays" / f"{name}.png"))
        assert rgb.shape == (192, 192, 3)
        # a red frame marks the doubtful images (the lowest fifth by the quality estimate)
        assert np.all(rgb[[0, -1]] == DOUBTFUL_COLOUR, axis=-1).all() == (str(doubtful[name]) == "True"), name
        # every measured particle has an outline of its colour around its centroid (of at least 3/4 of
        # its diameter in pixels: the outline of a particle cut by the border is short and 8-connected)
        for p in particles[particles["image"] == name].itertuples():
            r = int(p.diameter_px / 2 + 2)
            y, x = int(round(p.centroid_y_px)), int(round(p.centroid_x_px))
            window = rgb[max(y - r, 0):y + r + 1, max(x - r, 0):x + r + 1]
            colour = BORDER_COLOUR if p.touches_border else COUNTED_COLOUR
            assert np.all(window == colour, axis=-1).sum() >= 0.75 * p.diameter_px, (name, p.particle_id)


def test_report_gathers_figures_and_tables(run):
    work, _, _ = run
    html = (work / "report.html").read_text()
    for item in ["histogram.png", "summary.csv", "particles.csv", "image_stream.png", "img0.png"]:
        assert item in html
    figure = iio.imread(work / "results/a/figures/image_stream.png")
    assert figure.shape[1] > figure.shape[0] > 300  # six columns, rows of examples


def test_dry_run_lists_the_ten_rules_for_each_stack(tmp_path):
    make_stack(tmp_path / "s1", "bright", seed=0)
    make_stack(tmp_path / "s2", "dark", seed=5)
    config = write_config(tmp_path / "stacks.yaml", {
        "s1": {"images": str(tmp_path / "s1")},
        "s2": {"images": str(tmp_path / "s2"), "polarity": "dark"},
    })
    result = snakemake(tmp_path, "-n", configs=[config])
    assert result.returncode == 0, result.stderr[-3000:]
    for rule in RULES:
        count = N_IMAGES * 2 if rule in PER_IMAGE_RULES else 2
        assert f"{rule:<17}{count:>6}" in result.stdout or f"{rule} {count}" in " ".join(result.stdout.split())


def test_transfer_adds_the_other_stacks_model(tmp_path):
    make_stack(tmp_path / "haadf", "bright", seed=0)
    make_stack(tmp_path / "bf", "dark", seed=5)
    config = write_config(tmp_path / "stacks.yaml", {
        "haadf": {"images": str(tmp_path / "haadf")},
        "bf": {"images": str(tmp_path / "bf"), "polarity": "dark",
               "rough_masks": {"method": "model", "from_stack": "haadf"}},
    })
    result = snakemake(tmp_path, "-n", "results/bf/rough_masks", configs=[config])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "results/haadf/npssegnet/model.pt" in result.stdout
    assert "train_npssegnet" in result.stdout


def test_config_errors_name_the_key(tmp_path):
    make_stack(tmp_path / "s", "bright", seed=0)
    config = write_config(tmp_path / "stacks.yaml", {"s": {"images": str(tmp_path / "s"), "polarity": "up"}})
    result = snakemake(tmp_path, "-n", configs=[config])  # Snakemake prints these errors on stdout or stderr
    assert result.returncode != 0 and "'up' is not one of" in result.stdout + result.stderr
    config = write_config(tmp_path / "stacks.yaml", {"s": {"images": str(tmp_path / "nowhere")}})
    result = snakemake(tmp_path, "-n", configs=[config])
    assert result.returncode != 0 and "nowhere: image folder does not exist" in result.stdout + result.stderr


def test_corrupt_image_is_named_before_any_job_starts(tmp_path):
    make_stack(tmp_path / "s", "bright", seed=0)
    (tmp_path / "s" / "broken.dm4").write_bytes(b"not a DM file")
    config = write_config(tmp_path / "stacks.yaml", {"s": {"images": str(tmp_path / "s")}})
    result = snakemake(tmp_path, "-n", configs=[config])
    assert result.returncode != 0 and "broken.dm4: cannot read image" in result.stdout + result.stderr


def test_lint_is_clean(tmp_path):
    shutil.copytree(ROOT / "resources", tmp_path / "resources")
    result = snakemake(tmp_path, "--lint", configs=[ROOT / "config" / "presets" / "cpu.yaml",
                                                  ROOT / "config" / "demo.yaml"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_a_generator_that_did_not_learn_stops_its_stack_with_the_stage_and_figure(tmp_path):
    """pix2pix at a learning rate that cannot move the weights, with self_checks.on_failure stop: the first stage
    that would use it (generate_gen1) stops the stack, and the error names the stage, the figure and what to try.
    pix2pix's own outputs, its failed check included, stay: switching to fallback does not retrain it."""
    make_stack(tmp_path / "s", "bright", seed=20, n_images=3)
    config = tmp_path / "stacks.yaml"
    config.write_text(yaml.safe_dump({"self_checks": {"on_failure": "stop"}, "stacks": {"s": {
        "images": str(tmp_path / "s"),
        "pix2pix": {"lr": 1e-12, "n_epochs": 2, "n_epochs_decay": 0, "crops_per_epoch": 8}}}}))
    result = snakemake(tmp_path, "--cores", "1", "results/s/gen1", configs=[config])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "self-check of pix2pix failed" in output and "l1_drop" in output and "pix2pix epochs" in output
    assert not (tmp_path / "results/s/gen1").exists()
    assert not pd.read_csv(tmp_path / "results/s/checks/pix2pix.csv")["passed"].all()
    assert "StageCheckFailed" in (tmp_path / "logs/s/generate_gen1.log").read_text()


def test_adaptation_rounds_take_their_rough_masks_from_the_previous_round(tmp_path):
    make_stack(tmp_path / "s", "bright", seed=0)
    config = write_config(tmp_path / "stacks.yaml", {"s": {"images": str(tmp_path / "s"),
                                                           "experimental": {"adaptation_rounds": 2}}})
    result = snakemake(tmp_path, "-n", "results/s_round2/psd/summary.csv", configs=[config])
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = re.findall(r"rule rough_masks:\n\s+input: (.*)\n\s+output: results/(\w+)/rough_masks", result.stdout)
    rough = {stack: inputs for inputs, stack in jobs}
    assert sorted(rough) == ["s", "s_round1", "s_round2"]
    assert "npssegnet/model.pt" not in rough["s"]
    assert "results/s/npssegnet/model.pt" in rough["s_round1"]
    assert "results/s_round1/npssegnet/model.pt" in rough["s_round2"]


def test_pseudo_labels_all_rough_masks_every_image_and_synthesizes_from_the_morphology_subset(tmp_path):
    """With pseudo_labels all, rule pseudo_labels rough-masks the contrast subset for NPsSegNet, beside the
    morphology subset's rough masks (rule rough_masks), from which alone the synthetic masks are drawn."""
    make_stack(tmp_path / "s", "bright", seed=30)
    config = write_config(tmp_path / "stacks.yaml", {"s": {
        "images": str(tmp_path / "s"), "npssegnet": {"real_fraction": 0.5},
        "experimental": {"npssegnet": {"pseudo_labels": "all"}}}})
    plan = snakemake(tmp_path, "-n", "results/s/npssegnet/model.pt", configs=[config])
    assert re.search(r"rule train_npssegnet:\n    input: [^\n]*results/s/pseudo_labels", plan.stdout), plan.stdout[-3000:]
    result = snakemake(tmp_path, "--cores", "2", "results/s/synthetic_masks.json", "results/s/pseudo_labels",
                       configs=[config])
    assert result.returncode == 0, result.stderr[-3000:]
    subsets = json.loads((tmp_path / "results/s/subsets.json").read_text())
    masks = {folder: sorted(p.stem for p in (tmp_path / "results/s" / folder).glob("*.png"))
             for folder in ("rough_masks", "pseudo_labels")}
    assert masks == {"rough_masks": sorted(subsets["morphology"]), "pseudo_labels": sorted(subsets["contrast"])}
    assert sorted(masks["rough_masks"] + masks["pseudo_labels"]) == [f"img{i}" for i in range(N_IMAGES)]
    morphology = measure_particles([read_mask(tmp_path / f"results/s/rough_masks/{n}.png") for n in subsets["morphology"]])
    stats = json.loads((tmp_path / "results/s/synthetic_masks.json").read_text())
    assert stats == json.loads(json.dumps(morphology.to_dict()))
