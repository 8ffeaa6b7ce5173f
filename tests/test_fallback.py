"""The fallback ladder (self_checks.on_failure: fallback): a stage that fails its self-check is left out and
the stack ends with masks and a PSD from the best method whose stages passed, recorded in psd/summary.csv.

Unit tests of the decisions on check files written by checks.judge / checks.skip, then each rung through
Snakemake on a tiny synthetic stack with the stage above it broken on purpose (a learning rate that cannot
move, or that throws, the weights)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tgan import checks, fallback
from tgan.generate import load_generator
from tgan.images import read_mask
from tgan.npssegnet import IGNORE, load_model, pseudo_label_dataset
from tgan.options import NPsSegNetOptions
from tgan.training import save_skipped
from workflow_helpers import N_IMAGES, N_PARTICLES, make_stack, planned_jobs, snakemake, write_config

PASSING = [checks.Figure("contrast_ratio", 0.9, 0.3, "contrast")]
FAILING = [checks.Figure("contrast_ratio", 0.05, 0.3, "contrast"), checks.Figure("spread_ratio", 0.8, 0.2, "spread")]


def outcome(tmp_path, stage, figures=None, skipped=None):
    """A stage's check as written by the workflow, read back."""
    path = tmp_path / f"{stage}.csv"
    if skipped is None:
        checks.judge(stage, figures, path)
    else:
        checks.skip(stage, path, skipped)
    return checks.outcome(path)


def test_a_failed_check_is_written_and_its_use_decided_by_on_failure(tmp_path, caplog):
    failed = outcome(tmp_path, "pix2pix", FAILING)
    table = pd.read_csv(tmp_path / "pix2pix.csv")
    assert table["passed"].tolist() == [False, True]
    assert failed.state == "failed" and failed.why.startswith("contrast_ratio = 0.05, needs >= 0.3")
    with pytest.raises(checks.StageCheckFailed, match=r"self-check of pix2pix failed: contrast_ratio = 0.05, "
                                                      r"needs >= 0.3 .*results/s/rough_masks.*more pix2pix epochs"):
        checks.go_on(failed, "stop", "s")
    assert checks.go_on(failed, "warn", "s") is True and "going on with it" in caplog.text
    assert checks.go_on(failed, "fallback", "s") is False and "leaving it out" in caplog.text
    assert checks.go_on(outcome(tmp_path, "gen1", PASSING), "stop", "s") is True
    skipped = outcome(tmp_path, "gen1", skipped=fallback.left_out(failed))
    assert skipped.state == "skipped" and skipped.why.startswith("pix2pix left out (its self-check failed: contra")
    assert checks.go_on(skipped, "fallback", "s") is False
    with pytest.raises(checks.StageCheckFailed, match="gen1 was skipped: pix2pix left out"):
        checks.go_on(skipped, "stop", "s")
    with pytest.raises(ValueError, match="on_failure"):
        checks.go_on(failed, "ignore", "s")


def test_npssegnet_trains_on_the_best_generation_that_passed(tmp_path):
    passed = outcome(tmp_path, "gen2", PASSING)
    gen1_ok = outcome(tmp_path, "gen1", PASSING)
    gen2_failed = outcome(tmp_path, "gen2", FAILING)
    assert fallback.training_data(gen1_ok, passed, "fallback", "s").method == "tgan"
    without = fallback.training_data(gen1_ok, gen2_failed, "fallback", "s")
    assert without.method == "tgan_without_cyclegan"
    assert without.reason.startswith("gen2 left out (its self-check failed: contrast_ratio = 0.05")
    assert without.reason.endswith("NPsSegNet trained on gen1")
    # pix2pix failed: gen1 and gen2 were skipped, and say why
    pix2pix = outcome(tmp_path, "pix2pix", FAILING)
    gen1 = outcome(tmp_path, "gen1", skipped=fallback.left_out(pix2pix))
    gen2 = outcome(tmp_path, "gen2", skipped=fallback.left_out(gen1))
    alone = fallback.training_data(gen1, gen2, "fallback", "s")
    assert alone.method == "pseudo_labels_only" and alone.reason.startswith("pix2pix left out (its self-check")
    gen1_failed = outcome(tmp_path, "gen1", FAILING)
    assert fallback.training_data(gen1_failed, outcome(tmp_path, "gen2", skipped=fallback.left_out(gen1_failed)),
                                  "fallback", "s").reason.startswith("gen1 left out")
    # the CycleGAN switched off (cyclegan.enabled: false): no gen2 check at all
    off = fallback.training_data(gen1_ok, None, "fallback", "s")
    assert off.method == "tgan_without_cyclegan"
    assert off.reason == "the CycleGAN switched off (cyclegan.enabled: false): NPsSegNet trained on gen1"
    assert fallback.training_data(gen1_failed, None, "fallback", "s").method == "pseudo_labels_only"
    warned = fallback.training_data(gen1_ok, gen2_failed, "warn", "s")
    assert warned.method == "tgan" and "used anyway (self_checks.on_failure: warn)" in warned.reason
    with pytest.raises(checks.StageCheckFailed, match="self-check of gen2 failed"):
        fallback.training_data(gen1_ok, gen2_failed, "stop", "s")


def test_a_failed_npssegnet_gives_way_to_the_rough_masks(tmp_path):
    trained = fallback.Method("tgan_without_cyclegan", "gen2 left out (...): NPsSegNet trained on gen1")
    assert fallback.segmentation(outcome(tmp_path, "npssegnet", PASSING), trained, "fallback", "s") == trained
    failed = outcome(tmp_path, "npssegnet", [checks.Figure("iou_with_rough_masks", 0.096, 0.2, "IoU")])
    rough = fallback.segmentation(failed, trained, "fallback", "s")
    assert rough.method == "rough_masks"
    assert rough.reason.startswith("npssegnet left out (its self-check failed: iou_with_rough_masks = 0.096")
    assert "trained by method tgan_without_cyclegan" in rough.reason
    assert fallback.segmentation(failed, trained, "warn", "s").method == "tgan_without_cyclegan"
    with pytest.raises(checks.StageCheckFailed, match="self-check of npssegnet failed"):
        fallback.segmentation(failed, trained, "stop", "s")


def test_a_skipped_stage_leaves_a_record_no_loader_takes_for_a_network(tmp_path):
    save_skipped(tmp_path / "generator.pt", "cyclegan", "gen1 left out (its self-check failed: ...)")
    with pytest.raises(ValueError, match=r"generator.pt: holds no network: the cyclegan stage was skipped "
                                         r"\(gen1 left out"):
        load_generator(tmp_path / "generator.pt", torch.device("cpu"))
    with pytest.raises(ValueError, match="holds no network"):
        load_model(tmp_path / "generator.pt", torch.device("cpu"))


def test_pseudo_labels_only_trains_on_real_crops_alone():
    images = [np.random.default_rng(0).random((150, 200), dtype=np.float32)]
    masks = [images[0] > 0.5]
    tiles, labels, opts = pseudo_label_dataset(images, masks, 96, NPsSegNetOptions(real_fraction=0.0,
                                                                                     ignore_band_px=1))
    assert opts.real_fraction == 1.0 and opts.ignore_band_px == 1  # every training crop from the real images
    assert len(tiles) == len(labels) == 2 * 3 and all(t.shape == (96, 96) for t in tiles)
    assert np.array_equal(tiles[0], images[0][:96, :96]) and np.array_equal(labels[-1], masks[0][-96:, -96:])
    assert IGNORE not in np.unique(np.concatenate([m.ravel() for m in labels]))


# Through the workflow. pix2pix whose weights cannot move (lr 1e-12) fails its l1_drop and contrast figures.
BROKEN_PIX2PIX = {"lr": 1e-12, "n_epochs": 2, "n_epochs_decay": 0, "crops_per_epoch": 8}


def run(work, stacks, *targets):
    result = snakemake(work, "--cores", "2", *targets, configs=[write_config(work / "stacks.yaml", stacks)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result


def summary(work, stack="s"):
    return pd.read_csv(work / f"results/{stack}/psd/summary.csv").set_index("image")


@pytest.fixture(scope="module")
def broken_pix2pix(tmp_path_factory):
    """A complete run of a stack whose pix2pix did not learn (default self_checks: fallback)."""
    work = tmp_path_factory.mktemp("fallback")
    make_stack(work / "s", "bright", seed=20)
    stacks = {"s": {"images": str(work / "s"), "pix2pix": BROKEN_PIX2PIX}}
    return work, stacks, run(work, stacks)


def test_failed_pix2pix_leaves_the_gans_out_and_trains_on_pseudo_labels(broken_pix2pix):
    work, _, result = broken_pix2pix
    results = work / "results/s"
    assert not pd.read_csv(results / "checks/pix2pix.csv")["passed"].all()
    for stage in ("gen1", "gen2"):  # skipped, saying why, without generating anything
        table = pd.read_csv(results / f"checks/{stage}.csv")
        assert table["figure"].tolist() == ["skipped"] and table["meaning"][0].startswith("pix2pix left out")
        assert list((results / stage).glob("*.png")) == []
    with pytest.raises(ValueError, match="cyclegan stage was skipped"):
        load_generator(results / "cyclegan/generator.pt", torch.device("cpu"))
    trained = json.loads((results / "npssegnet/method.json").read_text())
    subsets = json.loads((results / "subsets.json").read_text())
    assert trained["method"] == "pseudo_labels_only" and trained["virtual_images"] is None
    assert trained["pseudo_labelled_images"] == sorted(subsets["morphology"])
    assert pd.read_csv(results / "checks/npssegnet.csv")["passed"].all()  # it learned its pseudo-labels
    table = summary(work)
    assert set(table["method"]) == {"pseudo_labels_only"}
    assert table["method_reason"].str.startswith("pix2pix left out (its self-check failed: ").all()
    assert table.loc["ALL", "count"] == pytest.approx(N_IMAGES * N_PARTICLES, rel=0.35)
    assert len(list((work / "results/s/overlays").glob("*.png"))) == N_IMAGES
    assert "masks made by method pseudo_labels_only" in (work / "logs/s/psd.log").read_text()


def test_on_failure_is_read_only_by_the_stages_that_use_a_checked_output(broken_pix2pix):
    """Switching fallback -> stop reruns from generate_gen1 on (where stop would stop), never pix2pix."""
    work, stacks, _ = broken_pix2pix
    config = work / "stop.yaml"
    config.write_text(yaml.safe_dump({"self_checks": {"on_failure": "stop"}, "stacks": stacks}))
    result = snakemake(work, "-n", configs=[config])
    assert result.returncode == 0, result.stderr[-3000:]
    rules = {rule for rule, _, _ in planned_jobs(result.stdout)}
    assert {"generate_gen1", "train_cyclegan", "train_npssegnet", "segment"} <= rules
    assert not rules & {"rough_masks", "train_pix2pix", "synthesize_masks"}


def test_failed_npssegnet_gives_the_rough_masks_as_the_answer(broken_pix2pix):
    """NPsSegNet at a learning rate that throws its weights away fails its agreement check: the stack's answer
    is its rough-mask segmenter on every image."""
    work, stacks, _ = broken_pix2pix
    stacks = {"s": {**stacks["s"], "npssegnet": {"lr": 1e4, "epochs": 2}}}
    run(work, stacks)
    assert not pd.read_csv(work / "results/s/checks/npssegnet.csv")["passed"].all()
    record = json.loads((work / "results/s/segmentation/method.json").read_text())
    assert record["method"] == "rough_masks" and record["model_stack"] == "s"
    table = summary(work)
    assert set(table["method"]) == {"rough_masks"}
    assert table["method_reason"].str.startswith("npssegnet left out (its self-check failed: ").all()
    assert "trained by method pseudo_labels_only" in table.loc["ALL", "method_reason"]
    assert table.loc["ALL", "count"] == pytest.approx(N_IMAGES * N_PARTICLES, rel=0.2)  # classical on clean discs
    # every image answered by its rough mask, and still estimated: the failed NPsSegNet confirms little of them
    seg = work / "results/s/segmentation"
    for name in table.index.drop("ALL"):
        assert table.loc[name, "answer"] == "rough_masks"
        assert np.array_equal(read_mask(seg / f"{name}.png"), read_mask(seg / "rough_masks" / f"{name}.png"))
    assert table["quality"].between(0, 1).all() and table.loc["ALL", "quality"] < 0.8


@pytest.fixture(scope="module")
def cyclegan_off(tmp_path_factory):
    """A complete run of a stack with the CycleGAN switched off (cyclegan.enabled: false); its images folder is
    relative to the work dir, so that a copy of the work dir is a work dir of its own."""
    work = tmp_path_factory.mktemp("cyclegan_off")
    make_stack(work / "s", "bright", seed=20, n_images=3)
    return work, run(work, {"s": {"images": "s", "cyclegan": {"enabled": False}}})


def test_switched_off_cyclegan_is_not_trained_and_npssegnet_trains_on_gen1(cyclegan_off):
    """cyclegan.enabled: false: no CycleGAN job at all (no generator, no gen2), NPsSegNet on gen1, and the
    summary says why."""
    work, result = cyclegan_off
    rules = {rule for rule, _, _ in planned_jobs(result.stderr)}
    assert {"generate_gen1", "train_npssegnet", "segment", "image_stream"} <= rules
    assert not rules & {"train_cyclegan", "generate_gen2"}
    results = work / "results/s"
    assert not (results / "cyclegan").exists() and not (results / "gen2").exists()
    assert not (work / "logs/s/train_cyclegan.log").exists()
    trained = json.loads((results / "npssegnet/method.json").read_text())
    assert trained["method"] == "tgan_without_cyclegan" and trained["virtual_images"] == "gen1"
    assert json.loads((results / "segmentation/method.json").read_text())["method"] == "tgan_without_cyclegan"
    table = summary(work)
    assert set(table["method"]) == {"tgan_without_cyclegan"}
    assert (table["method_reason"] == "the CycleGAN switched off (cyclegan.enabled: false): NPsSegNet trained on "
                                      "gen1").all()
    assert table.loc["ALL", "count"] > 0


def test_failed_cyclegan_trains_npssegnet_on_gen1(cyclegan_off, tmp_path):
    """The CycleGAN switched on, at a learning rate that throws its weights away: it loses gen1's particles, gen2
    fails its check and NPsSegNet trains on gen1. Only the CycleGAN and what follows it run (on a copy of the run
    without it): the pix2pix and gen1 that passed are kept."""
    work = tmp_path / "work"
    shutil.copytree(cyclegan_off[0], work, symlinks=True)  # file times too: the copy is as up to date
    result = run(work, {"s": {"images": "s", "cyclegan": {"lr": 1e3}}})
    rules = {rule for rule, _, _ in planned_jobs(result.stderr)}
    assert {"train_cyclegan", "generate_gen2", "train_npssegnet"} <= rules
    assert not rules & {"train_pix2pix", "generate_gen1"}
    assert pd.read_csv(work / "results/s/checks/gen1.csv")["passed"].all()
    assert not pd.read_csv(work / "results/s/checks/gen2.csv")["passed"].all()
    trained = json.loads((work / "results/s/npssegnet/method.json").read_text())
    assert trained["method"] == "tgan_without_cyclegan" and trained["virtual_images"] == "gen1"
    table = summary(work)
    assert set(table["method"]) == {"tgan_without_cyclegan"}
    assert table["method_reason"].str.startswith("gen2 left out (its self-check failed: ").all()
    assert table.loc["ALL", "count"] > 0
