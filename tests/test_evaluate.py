"""The evaluate rule end to end (tiny preset) on a synthetic stack with known instance masks, and the
ground truth it reads."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import tifffile
import imageio.v3 as iio
import yaml
import torch
from scipy import ndimage
from skimage.measure import label

from burned_in import write_text
from synthetic import particle_image, touching_pairs
from workflow_helpers import ROOT, planned_jobs, snakemake
from tgan.annotations import ignore_mask
from tgan.cli import load_config
from tgan.evaluation import METHODS, cover_tiles, score_method
from tgan.ground_truth import box_masks, ground_truth_files, read_boxes, read_instances, read_truth_mask
from tgan.images import read_boundary, read_image, read_mask, write_image
from tgan.npssegnet import boundary_mask, instance_boundary, load_model, logits
from tgan.options import PSDOptions, SegmentOptions
from tgan.subsets import kfold

N_IMAGES = 4
N_PARTICLES = 10
RADIUS = 6
EVALUATION_RULES = ["train_npssegnet_gen1", "train_supervised", "baseline_masks", "image_quality", "evaluate"]
BAR_ROWS = 24


def make_labelled_stack(root, n=N_IMAGES):
    """Images and their 16-bit instance label masks (named like the images), as a user would have them. The first
    image has an information bar burned in below the particles, as an SEM writes it, and its mask, drawn on the
    whole image, has background there: import_image cuts the bar off, and the evaluation must cut the mask too."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        image, labels = particle_image((160, 160), radii=(RADIUS,) * N_PARTICLES, seed=40 + i)
        if i == 0:
            bar = np.zeros((BAR_ROWS, 160), np.float32)
            write_text(bar, 7, 10, 1.0)
            write_text(bar, 7, 90, 1.0)
            image, labels = np.vstack([image, bar]), np.vstack([labels, np.zeros((BAR_ROWS, 160), labels.dtype)])
        write_image(root / "images" / f"img{i}.png", image)
        iio.imwrite(root / "masks" / f"img{i}.png", (labels * 3).astype(np.uint16))
    return root


def write_stacks(path, stacks, evaluate=None):
    path.write_text(yaml.safe_dump({"stacks": stacks, **({"evaluate": evaluate} if evaluate else {})}))
    return path


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """One tiny run up to the evaluation of a stack with mask ground truth, 2 supervised folds."""
    work = tmp_path_factory.mktemp("evaluate")
    root = make_labelled_stack(work / "labelled")
    # 8 NPsSegNet epochs instead of the tiny preset's 20: four trainings (the method, gen1 only, two folds);
    # real pseudo-labelled crops as in the demo preset (the supervised folds must train on the labels alone);
    # NPsSegNet with its boundary channel (the supervised folds stay binary)
    config = write_stacks(work / "stacks.yaml", {"lab": {"images": str(root / "images"),
                                                         "ground_truth": {"masks": str(root / "masks")},
                                                         "npssegnet": {"epochs": 8, "real_fraction": 0.5,
                                                                       "instances": "boundary"}}},
                          {"folds": 2})
    result = snakemake(work, "--cores", "2", "results/lab/evaluation/metrics.csv",
                       "results/lab/evaluation/image_quality.csv", configs=[config])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return work, result


def test_evaluation_rules_ran(evaluated):
    work, result = evaluated
    for rule in EVALUATION_RULES:
        assert f"rule {rule}:" in result.stderr
    for fold in (0, 1):
        assert (work / f"results/lab/evaluation/supervised/fold{fold}/model.pt").is_file()
    assert (work / "results/lab/evaluation/metrics.png").stat().st_size > 10_000


def test_metrics_compare_every_method_on_known_masks(evaluated):
    work, _ = evaluated
    record = json.loads((work / "results/lab/images/img0.json").read_text())
    assert (record["crop"], record["crop_from"], record["shape"]) == ({"bottom": BAR_ROWS}, "detected", [160, 160])
    table = pd.read_csv(work / "results/lab/evaluation/metrics.csv")
    assert list(table.columns) == ["method", "metric", "value"]
    assert list(table["method"].unique()) == list(METHODS)
    wide = table.pivot(index="metric", columns="method", values="value")
    assert (wide.loc["count_true"] == N_IMAGES * N_PARTICLES).all()
    assert wide.loc["mean_diameter_true_px"].iloc[0] == pytest.approx(2 * RADIUS, rel=0.1)
    # bright discs on a textured support: the classical segmenter and a network trained on the true
    # masks find them (the method's own accuracy on such stacks is checked in test_workflow.py)
    for method in ("classical", "supervised"):
        assert wide.loc["pixel_accuracy", method] > 0.9
        assert wide.loc["iou_particles", method] > 0.5
        assert wide.loc["object_f1", method] > 0.6
        assert abs(wide.loc["count_error_pct", method]) < 35
    assert wide.loc["pixel_accuracy", "label_free"] > 0.8
    # classical rough masks with their outlines redrawn at the outer edge (rough_masks.edge_level 0.25):
    # the same particles, larger by a rim (the truth here is the disc at half of its blurred edge)
    assert wide.loc["count_predicted", "rough_masks"] == wide.loc["count_predicted", "classical"]
    diameters = wide.loc["mean_diameter_predicted_px"]
    assert diameters["rough_masks"] > diameters["classical"] + 0.5
    for metric in ("pixel_accuracy", "mean_iou", "dice", "object_f1"):
        assert wide.loc[metric].between(0, 1).all()


def test_a_boundary_network_is_scored_with_its_boundaries(evaluated):
    """With npssegnet.instances boundary the method's NPsSegNet and its gen1-only ablation have the boundary
    channel: segment and baseline_masks write each image's boundaries (the network's on the image) beside its
    mask, and the scores are those of the particles split along them; the supervised folds stay binary."""
    work, _ = evaluated
    results = work / "results/lab"
    options = SegmentOptions(**load_config([str(ROOT / "config/tiny.yaml")])["segment"])
    models = {"label_free": (results / "npssegnet/model.pt", results / "segmentation"),
              "gen1_only": (results / "evaluation/npssegnet_gen1/model.pt", results / "evaluation/masks/gen1_only")}
    names = [f"img{i}" for i in range(N_IMAGES)]
    images = {n: read_image(results / "images" / f"{n}.png") for n in names}
    records = {n: json.loads((results / "images" / f"{n}.json").read_text()) for n in names}
    truth = {n: read_instances(work / "labelled/masks" / f"{n}.png", records[n]["crop"]) for n in names}
    ignore = {n: ignore_mask(images[n].shape, records[n]) for n in names}
    table = pd.read_csv(results / "evaluation/metrics.csv").set_index(["method", "metric"])["value"]
    for method, (model, folder) in models.items():
        net = load_model(model, torch.device("cpu"))
        for name, image in images.items():
            out = logits(net, image, torch.device("cpu"), options)
            assert len(out) == 2
            assert np.array_equal(read_boundary(folder / f"{name}.png"), boundary_mask(out, options.threshold))
        scores = score_method({n: read_mask(folder / f"{n}.png") for n in names}, truth, images, "masks",
                              PSDOptions(), ignore, {n: read_boundary(folder / f"{n}.png") for n in names})
        assert table[method, "count_predicted"] == scores["count_predicted"]
        assert table[method, "object_f1"] == pytest.approx(scores["object_f1"])
    fold = load_model(results / "evaluation/supervised/fold0/model.pt", torch.device("cpu"))
    assert len(logits(fold, images["img0"], torch.device("cpu"), options)) == 1
    assert not (results / "evaluation/masks/supervised/boundaries").exists()


def test_image_quality_of_both_generations(evaluated):
    work, _ = evaluated
    table = pd.read_csv(work / "results/lab/evaluation/image_quality.csv")
    assert sorted(table["generation"].unique()) == ["gen1", "gen2"]
    values = table.set_index(["generation", "metric"])["value"]
    for generation in ("gen1", "gen2"):
        assert 0 < values[generation, "ssim"] < 1 and values[generation, "psnr_db"] > 5
        assert values[generation, "kernel_mmd"] >= 0
        assert np.isnan(values[generation, "fid"])
    assert table[table["metric"] == "fid"]["note"].str.startswith("not computed").all()


def test_yolo_ground_truth_trains_the_supervised_baseline_too(tmp_path):
    root = make_labelled_stack(tmp_path / "labelled")
    (root / "boxes").mkdir()
    for i in range(N_IMAGES):
        (root / "boxes" / f"img{i}.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    config = write_stacks(tmp_path / "stacks.yaml", {
        "boxes": {"images": str(root / "images"), "ground_truth": {"yolo": str(root / "boxes")}},
        "plain": {"images": str(root / "images")}}, {"folds": 2})
    result = snakemake(tmp_path, "-n", configs=[config])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "results/boxes/evaluation/metrics.csv" in result.stdout
    assert "results/plain/evaluation" not in result.stdout
    assert "train_npssegnet_gen1" in result.stdout
    assert "results/boxes/evaluation/supervised/fold1/model.pt" in result.stdout  # on the boxes' ellipses


def test_adaptation_round_is_scored_against_the_previous_round_with_its_stacks_supervised_folds(tmp_path):
    """A round has its stack's images and labels: its evaluation trains no k-fold models of its own, and its
    rough-mask column is the previous round's NPsSegNet."""
    root = make_labelled_stack(tmp_path / "labelled")
    config = write_stacks(tmp_path / "stacks.yaml", {"lab": {"images": str(root / "images"),
                                                             "experimental": {"adaptation_rounds": 1},
                                                             "ground_truth": {"masks": str(root / "masks")}}},
                          {"folds": 2})
    result = snakemake(tmp_path, "-n", "results/lab_round1/evaluation/metrics.csv", configs=[config])
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned_jobs(result.stdout)
    assert [stack for rule, stack, _ in jobs if rule == "train_supervised"] == ["lab", "lab"]
    baseline = re.search(r"rule baseline_masks:\n\s+input: (.*)\n\s+output: results/lab_round1/", result.stdout)
    inputs = baseline.group(1).split(", ")
    assert "results/lab/evaluation/supervised/fold1/model.pt" in inputs
    assert "results/lab/npssegnet/model.pt" in inputs  # the rough masks of round 1
    assert "results/lab_round1/evaluation/npssegnet_gen1/model.pt" in inputs


def test_ground_truth_errors_name_the_stack_and_folder(tmp_path):
    root = make_labelled_stack(tmp_path / "labelled", n=3)
    config = write_stacks(tmp_path / "stacks.yaml", {"s": {"images": str(root / "images"),
                                                           "ground_truth": {"masks": str(tmp_path / "nowhere")}}})
    result = snakemake(tmp_path, "-n", configs=[config])
    assert result.returncode != 0 and "stack s: ground_truth" in result.stdout + result.stderr
    assert "nowhere: ground-truth folder does not exist" in result.stdout + result.stderr
    config = write_stacks(tmp_path / "stacks.yaml", {"s": {"images": str(root / "images"),
                                                           "ground_truth": {"masks": str(root / "masks")}}})
    result = snakemake(tmp_path, "-n", configs=[config])  # 5 folds (the default) from 3 images
    assert result.returncode != 0 and "5 folds need at least 5 images" in result.stdout + result.stderr


# ---------------------------------------------------------------- reading ground truth, unit level

def test_instance_and_binary_masks(tmp_path):
    data = np.zeros((10, 12), np.uint16)
    data[2:5, 2:5] = 7
    data[2:5, 5:8] = 300  # touches particle 7
    iio.imwrite(tmp_path / "inst.png", data)
    labels = read_instances(tmp_path / "inst.png")
    assert labels.max() == 2 and (labels == 1).sum() == 9 and (labels == 2).sum() == 9
    binary = np.where(data > 0, 255, 0).astype(np.uint8)
    binary[8, 10] = 255  # a one-pixel particle
    iio.imwrite(tmp_path / "bin.png", binary)
    labels = read_instances(tmp_path / "bin.png")  # touching particles merge in a binary mask
    assert labels.max() == 2 and sorted(np.bincount(labels.ravel())[1:]) == [1, 18]
    tifffile.imwrite(tmp_path / "inst.tif", data)
    cropped = read_instances(tmp_path / "inst.tif", {"top": 2, "left": 5})
    assert cropped.shape == (8, 7) and cropped.max() == 1 and (cropped == 1).sum() == 9


def test_ground_truth_files_match_image_names(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.tif").write_bytes(b"")
    (tmp_path / "other.png").write_bytes(b"")
    assert ground_truth_files({"masks": str(tmp_path)}, ["b", "a", "c"]) == {"a": str(tmp_path / "a.png"),
                                                                          "b": str(tmp_path / "b.tif")}
    with pytest.raises(ValueError, match="no ground-truth file"):
        ground_truth_files({"yolo": str(tmp_path)}, ["a"])
    with pytest.raises(ValueError, match="exactly one of masks, yolo"):
        ground_truth_files({"masks": str(tmp_path), "yolo": str(tmp_path)}, ["a"])


def test_yolo_boxes_follow_the_crop(tmp_path):
    path = tmp_path / "img.txt"
    path.write_text("0 0.5 0.5 0.2 0.1\n0 0.02 0.5 0.1 0.1\n")  # original 100 x 80 (h x w)
    boxes = read_boxes(path, (100, 80))
    assert boxes[0] == pytest.approx([32, 45, 48, 55])
    boxes = read_boxes(path, (90, 75), {"top": 10, "left": 5})
    assert boxes[0] == pytest.approx([27, 35, 43, 45])
    assert boxes[1] == pytest.approx([0, 35, 0.6, 45])  # clipped at the cropped edge


def test_kfold_is_balanced_and_order_free():
    names = [f"n{i}" for i in range(7)]
    folds = kfold(names, 3, seed=0)
    assert sorted(np.bincount(list(folds.values()))) == [2, 2, 3]
    assert kfold(names[::-1], 3, seed=0) == folds
    with pytest.raises(ValueError, match="3 folds need at least 3 images"):
        kfold(names[:2], 3)


def test_cover_tiles():
    array = np.arange(35).reshape(5, 7)
    tiles = cover_tiles(array, 4)
    assert len(tiles) == 4 and all(t.shape == (4, 4) for t in tiles)
    assert np.array_equal(tiles[-1], array[1:5, 3:7])
    assert set(np.concatenate([t.ravel() for t in tiles])) == set(array.ravel())
    assert cover_tiles(np.ones((2, 2)), 4)[0].shape == (4, 4)


def test_box_masks_are_the_inscribed_ellipses():
    boxes = np.array([[10, 20, 30, 30], [0, 0, 4, 4], [60, 60, 70, 70]], float)  # the last one runs off the image
    mask = box_masks(boxes, (64, 64))
    first = mask[20:30, 10:30]
    assert first.sum() == pytest.approx(np.pi / 4 * 200, rel=0.1)
    assert first[5].all() and first[:, 10].all() and not first[0, 0] and not first[-1, -1]
    assert mask[:20].sum() + mask[30:60].sum() == mask[0:4, 0:4].sum() > 0  # nothing outside the boxes
    labels = label(mask)
    assert labels.max() == 3
    assert np.allclose(ndimage.center_of_mass(mask[20:30, 10:30]), (4.5, 9.5))  # centred in the box


def test_supervised_training_masks_of_either_kind(tmp_path):
    (tmp_path / "a.txt").write_text("0 0.25 0.5 0.25 0.5\n")  # x 8-24, y 16-48 of a 64 x 64 image
    mask = read_truth_mask(tmp_path / "a.txt", "yolo", (64, 64))
    assert mask.sum() == pytest.approx(np.pi / 4 * 16 * 32, rel=0.1) and mask[32, 16] and not mask[32, 40]
    iio.imwrite(tmp_path / "a.png", (mask * 255).astype(np.uint8))
    assert np.array_equal(read_truth_mask(tmp_path / "a.png", "masks", (64, 64)), mask)
    with pytest.raises(ValueError, match=r"a.png: ground truth \(64, 64\) and its image \(64, 60\) differ"):
        read_truth_mask(tmp_path / "a.png", "masks", (64, 60))


def test_scores_against_boxes():
    mask = np.zeros((64, 64), bool)
    mask[10:20, 10:20] = True  # matches the first box exactly
    mask[40:44, 40:44] = True  # a particle with no box
    boxes = np.array([[10, 10, 20, 20], [50, 5, 58, 13]], float)
    s = score_method({"a": mask}, {"a": boxes}, {"a": mask.astype(float)}, "yolo", PSDOptions())
    assert "pixel_accuracy" not in s
    assert s["object_precision"] == 0.5 and s["object_recall"] == 0.5
    assert s["box_recall"] == 0.5 and s["centroid_precision"] == 0.5
    assert s["count_true"] == 2 and s["count_predicted"] == 2
    assert s["mean_diameter_true_px"] == pytest.approx(9.0)  # sides 10 and 8


def test_scores_leave_out_the_burned_in_annotations_the_psd_rule_ignores():
    """A segmented scale bar is no particle of the user's table: with import_image's ignore region it
    leaves the count, the object and the pixel scores, and a true particle cut by it leaves the sizes."""
    labels = np.zeros((96, 96), np.int32)
    for i, (y, x) in enumerate([(15, 15), (15, 60), (50, 30), (50, 75)], start=1):
        labels[y - 5:y + 5, x - 5:x + 5] = i
    labels[80:88, 10:20] = 5  # a true particle under the bar's rectangle ...
    mask = labels > 0
    mask[92:95, 40:80] = True  # ... and the segmented bar
    ignore = np.zeros(mask.shape, bool)
    ignore[86:, 0:90] = True
    args = ({"a": mask}, {"a": labels}, {"a": mask.astype(float)}, "masks", PSDOptions())
    plain, scored = score_method(*args), score_method(*args, {"a": ignore})
    assert plain["count_predicted"] == 6 and scored["count_predicted"] == 4  # the sizes' counts: cut ones out
    assert plain["object_precision"] == pytest.approx(5 / 6) and scored["object_precision"] == 1.0
    assert plain["iou_particles"] < 1.0 and scored["iou_particles"] == 1.0
    assert plain["count_true"] == 5 and scored["count_true"] == 4
    assert plain["mean_diameter_true_px"] < scored["mean_diameter_true_px"]  # the cut 10x8 one left out


def test_scores_split_touching_particles_along_the_predicted_boundaries():
    """Particles overlapping by a radius are one blob of the mask each pair, matched to one of its two particles
    at best; split along their boundaries they are matched one by one, as the psd rule counts them."""
    image, labels = touching_pairs((160, 160), radius=10, spacing=1.0, n_pairs=4, seed=2)
    args = ({"a": labels > 0}, {"a": labels}, {"a": image}, "masks", PSDOptions())
    merged, split = score_method(*args), score_method(*args, boundaries={"a": instance_boundary(labels)})
    assert merged["count_predicted"] == 4 and merged["object_f1"] == pytest.approx(2 / 3)
    assert split["count_predicted"] == 8 and split["object_f1"] == 1.0 and split["count_error_pct"] == 0.0


def test_scores_against_instance_masks_of_a_perfect_prediction():
    _, labels = particle_image((96, 96), radii=(5,) * 6, seed=3)
    s = score_method({"a": labels > 0}, {"a": labels}, {"a": (labels > 0).astype(float)}, "masks", PSDOptions())
    assert s["pixel_accuracy"] == 1.0 and s["mean_iou"] == 1.0 and s["object_f1"] == 1.0
    assert s["count_error_pct"] == 0.0 and s["wasserstein_px"] == pytest.approx(0.0, abs=1e-9)


def test_epoch_size_sets_the_training_steps(tmp_path, monkeypatch):
    """The supervised baseline draws as many crops per epoch as the virtual dataset has masks."""
    import torch

    from tgan import npssegnet
    from tgan.options import NPsSegNetOptions

    calls = []
    batch = npssegnet._batch
    monkeypatch.setattr(npssegnet, "_batch", lambda images, masks, indices, transform=None: (
        calls.append(list(indices)) if transform is not None else None) or batch(images, masks, indices, transform))
    image, labels = particle_image((64, 64), radii=(5,) * 4, seed=1)
    opts = NPsSegNetOptions(encoder="resnet18", encoder_depth=3, decoder_channels=[16, 8, 8], epochs=1, batch_size=2,
                            crop_size=32)
    npssegnet.train_npssegnet([image] * 3, [labels > 0] * 3, opts, tmp_path / "a", torch.device("cpu"))
    assert sum(map(len, calls)) == 2  # one validation image, each training image once
    calls.clear()
    npssegnet.train_npssegnet([image] * 3, [labels > 0] * 3, opts, tmp_path / "b", torch.device("cpu"), epoch_size=7)
    drawn = [i for c in calls for i in c]
    assert len(drawn) == 7 and len(set(drawn)) == 2  # the two training images, drawn 4 and 3 times
