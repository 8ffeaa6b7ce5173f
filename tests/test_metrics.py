"""Metrics against values computed by hand on small arrays."""

import tracemalloc

import numpy as np
import pytest

from tgan import metrics

NAN = pytest.approx(float("nan"), nan_ok=True)


def scores(pred, truth):
    return metrics.pixel_scores(metrics.confusion(np.array(pred, bool), np.array(truth, bool)))


def test_pixel_scores_of_a_half_right_mask():
    # tp 1, fp 1, fn 1, tn 1
    s = scores([[1, 1], [0, 0]], [[1, 0], [1, 0]])
    assert s == {"pixel_accuracy": 0.5, "iou_background": pytest.approx(1 / 3), "iou_particles": pytest.approx(1 / 3),
                 "mean_iou": pytest.approx(1 / 3), "dice": 0.5}


def test_pixel_scores_of_an_undersegmented_particle():
    truth = np.zeros((4, 4), bool)
    truth[1:3, 1:3] = True
    pred = np.zeros((4, 4), bool)
    pred[1, 1:3] = True  # tp 2, fp 0, fn 2, tn 12
    s = scores(pred, truth)
    assert s["pixel_accuracy"] == pytest.approx(14 / 16)
    assert s["iou_particles"] == pytest.approx(0.5)
    assert s["iou_background"] == pytest.approx(12 / 14)
    assert s["mean_iou"] == pytest.approx((0.5 + 12 / 14) / 2)
    assert s["dice"] == pytest.approx(4 / 6)


def test_pixel_scores_of_empty_and_full_masks():
    empty = np.zeros((3, 3), bool)
    s = scores(empty, empty)  # no particle, none found: the particle class is undefined, not perfect
    assert s == {"pixel_accuracy": 1.0, "iou_background": 1.0, "iou_particles": NAN, "mean_iou": 1.0, "dice": NAN}
    s = scores(~empty, ~empty)
    assert s == {"pixel_accuracy": 1.0, "iou_background": NAN, "iou_particles": 1.0, "mean_iou": 1.0, "dice": 1.0}
    s = scores(~empty, empty)  # everything called particle on an empty image
    assert s == {"pixel_accuracy": 0.0, "iou_background": 0.0, "iou_particles": 0.0, "mean_iou": 0.0, "dice": 0.0}


def test_one_pixel_particle_one_pixel_off():
    truth, pred = np.zeros((5, 5), bool), np.zeros((5, 5), bool)
    truth[2, 2], pred[2, 3] = True, True  # tp 0, fp 1, fn 1, tn 23
    s = scores(pred, truth)
    assert s["pixel_accuracy"] == pytest.approx(23 / 25)
    assert s["iou_particles"] == 0.0 and s["dice"] == 0.0
    assert s["iou_background"] == pytest.approx(23 / 25)
    assert s["mean_iou"] == pytest.approx(23 / 50)
    assert scores(truth, truth)["iou_particles"] == 1.0


def test_pixel_counts_pool_over_images():
    a = metrics.confusion(np.array([[1, 0]], bool), np.array([[1, 0]], bool))  # tp 1, tn 1
    b = metrics.confusion(np.array([[1, 1]], bool), np.array([[0, 0]], bool))  # fp 2
    assert a.tolist() == [1, 0, 0, 1] and b.tolist() == [0, 2, 0, 0]
    assert metrics.pixel_scores(a + b)["iou_particles"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="differ in size"):
        metrics.confusion(np.zeros((2, 2), bool), np.zeros((2, 3), bool))


def test_instance_matching_at_iou_half():
    truth = np.zeros((8, 8), int)
    truth[0:2, 0:2] = 1  # 4 px
    truth[5, 5] = 2  # one-pixel particle
    pred = np.zeros((8, 8), int)
    pred[0:2, 0:3] = 4  # IoU 4/6 with particle 1: a match
    pred[5, 6] = 7  # next to the one-pixel particle: IoU 0
    pred[7, 7] = 9  # nothing there
    iou = metrics.instance_iou(truth, pred)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(4 / 6) and iou[1].max() == 0
    matched = metrics.count_matches(iou)
    assert matched == 1
    assert metrics.detection_scores(matched, 2, 3) == {"object_precision": pytest.approx(1 / 3),
                                                       "object_recall": 0.5, "object_f1": pytest.approx(2 / 5)}


def test_matching_is_one_to_one_at_a_tie():
    truth = np.zeros((2, 2), int)
    truth[0, :] = 1
    pred = np.zeros((2, 2), int)
    pred[0, 0], pred[0, 1] = 1, 2  # each half of the particle: IoU exactly 0.5 with both
    iou = metrics.instance_iou(truth, pred)
    assert iou.tolist() == [[0.5, 0.5]]
    assert metrics.count_matches(iou) == 1
    one = np.zeros((3, 3), int)
    one[1, 1] = 1
    assert metrics.count_matches(metrics.instance_iou(one, one)) == 1


def test_detection_scores_without_particles():
    assert metrics.detection_scores(0, 0, 0) == {"object_precision": NAN, "object_recall": NAN, "object_f1": NAN}
    assert metrics.detection_scores(0, 3, 0) == {"object_precision": NAN, "object_recall": 0.0, "object_f1": 0.0}
    assert metrics.count_matches(metrics.instance_iou(np.zeros((3, 3), int), np.zeros((3, 3), int))) == 0


def test_box_iou():
    iou = metrics.box_iou(np.array([[0, 0, 2, 2], [10, 10, 12, 12]]), np.array([[1, 1, 3, 3], [0, 0, 2, 2]]))
    assert iou == pytest.approx(np.array([[1 / 7, 1.0], [0.0, 0.0]]))
    assert metrics.box_iou(np.zeros((0, 4)), np.array([[0, 0, 1, 1]])).shape == (0, 1)


def test_psd_agreement():
    s = metrics.psd_agreement([2.0, 4.0], [3.0, 3.0, 3.0])
    assert s["count_true"] == 2 and s["count_predicted"] == 3
    assert s["count_error_pct"] == pytest.approx(50.0)
    assert s["mean_diameter_error_pct"] == pytest.approx(0.0)
    assert s["wasserstein_px"] == pytest.approx(1.0)  # half the mass moves by 1 px each way
    assert s["ks_statistic"] == pytest.approx(0.5)
    s = metrics.psd_agreement([10.0], [12.0])
    assert s["mean_diameter_error_pct"] == pytest.approx(20.0) and s["wasserstein_px"] == pytest.approx(2.0)
    assert s["ks_statistic"] == pytest.approx(1.0)
    s = metrics.psd_agreement([2.0, 4.0], [])
    assert s["count_error_pct"] == -100.0
    assert s["mean_diameter_error_pct"] == NAN and s["wasserstein_px"] == NAN and s["ks_statistic"] == NAN
    assert metrics.psd_agreement([], [])["count_error_pct"] == NAN


def test_ssim_and_psnr():
    real = np.zeros((16, 16))
    assert metrics.ssim_psnr(real + 0.1, real)[1] == pytest.approx(20.0)  # MSE 0.01
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(32, 32))
    ssim, psnr = metrics.ssim_psnr(image, image)
    assert ssim == pytest.approx(1.0) and psnr == float("inf")
    assert metrics.ssim_psnr(rng.uniform(size=(32, 32)), image)[0] < 0.2
    with pytest.raises(ValueError, match="differ in size"):
        metrics.ssim_psnr(image, image[:8])


def test_kernel_mmd():
    # k(x, x) = k(y, y) = 1, k(x, y) = exp(-1/2)
    assert metrics.kernel_mmd(np.array([[0.0]]), np.array([[1.0]]), bandwidth=1.0) == pytest.approx(2 - 2 * np.exp(-0.5))
    x = np.array([[0.0, 1.0], [2.0, 0.0]])
    assert metrics.kernel_mmd(x, x.copy()) == pytest.approx(0.0)


def test_crop_features_tell_contrast_and_noise_apart():
    rng = np.random.default_rng(1)

    def image(mean, noise):
        return np.clip(mean + rng.normal(0, noise, (128, 128)), 0, 1)

    def features(images):
        return np.vstack([metrics.crop_features(i, rng, size=32, count=8) for i in images])

    real = features([image(0.4, 0.05) for _ in range(4)])
    same = features([image(0.4, 0.05) for _ in range(4)])
    brighter = features([image(0.55, 0.05) for _ in range(4)])
    noisier = features([image(0.4, 0.12) for _ in range(4)])
    assert real.shape == (32, 24)
    baseline = metrics.standardised_mmd(same, real)
    assert metrics.standardised_mmd(brighter, real) > 5 * baseline
    assert metrics.standardised_mmd(noisier, real) > 5 * baseline


def test_inception_scores_need_a_local_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth: Inception weights file not found"):
        metrics.inception_scores([np.zeros((8, 8))], [np.zeros((8, 8))], tmp_path / "missing.pth")


def test_inception_scores_with_a_local_weights_file(tmp_path, monkeypatch):
    """The FID/KID/IS path end to end, with a randomly initialised Inception saved as the local file
    (the real weights cannot be downloaded here): identical sets have FID ~ 0, different ones do not."""
    import torch
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with monkeypatch.context() as patch:  # build the network without loading (downloading) weights
        patch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        patch.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", lambda *a, **k: {})
        torch.manual_seed(0)
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.save(net.state_dict(), tmp_path / "inception.pth")
    rng = np.random.default_rng(0)
    real = [rng.uniform(0.3, 0.5, (64, 64)) for _ in range(2)]
    same = metrics.inception_scores(real, real, tmp_path / "inception.pth")
    other = metrics.inception_scores([np.clip(r * 2, 0, 1) for r in real], real, tmp_path / "inception.pth")
    assert set(same) == {"fid", "kid", "inception_score"}
    assert abs(same["fid"]) < 1e-2 * max(other["fid"], 1e-9) and other["fid"] > 0
    assert same["inception_score"] >= 1.0 - 1e-6


def test_mmd_of_many_crops_holds_a_sample_of_them_in_memory():
    """The paper settings' 2,000 generated images give 32,000 crop rows: the pairwise kernel of them all is 8 GB.
    The MMD takes a random sample of max_rows of each set: here 20,000 rows, of which 500 are used (a full kernel
    of the pooled 24,000 would need 4.6 GB); it still tells a brighter set from the same one."""
    rng = np.random.default_rng(0)
    real, same, brighter = rng.normal(0, 1, (4000, 24)), rng.normal(0, 1, (20000, 24)), rng.normal(0.5, 1, (20000, 24))
    tracemalloc.start()
    try:
        baseline = metrics.standardised_mmd(same, real, np.random.default_rng(1), max_rows=500)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 60e6  # bytes: the sample's kernels (1,000² float64 = 8 MB each) and the inputs' copies
    assert metrics.standardised_mmd(brighter, real, np.random.default_rng(1), max_rows=500) > 5 * baseline
    again = metrics.standardised_mmd(same, real, np.random.default_rng(1), max_rows=500)
    assert again == baseline  # the same draw: the figure repeats
