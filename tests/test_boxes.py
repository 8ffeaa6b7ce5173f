import numpy as np
import pytest

from tgan.boxes import box_recall, centroid_precision, read_yolo


def test_read_yolo_to_pixels(tmp_path):
    (tmp_path / "a.txt").write_text("0 0.5 0.25 0.1 0.2\n0 0.1 0.1 0.2 0.2\n")
    boxes = read_yolo(tmp_path / "a.txt", (200, 100))  # height 200, width 100
    assert np.allclose(boxes[0], [45, 30, 55, 70])
    assert np.allclose(boxes[1], [0, 0, 20, 40])


def test_bad_yolo_line_names_the_file(tmp_path):
    (tmp_path / "bad.txt").write_text("0 0.5 0.5\n")
    with pytest.raises(ValueError, match="bad.txt"):
        read_yolo(tmp_path / "bad.txt", (10, 10))


def test_recall_and_precision():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], float)
    centroids = np.array([[5, 5], [6, 6], [25, 25], [90, 90]], float)
    assert box_recall(boxes, centroids) == pytest.approx(2 / 3)
    assert centroid_precision(boxes, centroids) == pytest.approx(3 / 4)
    assert box_recall(boxes, np.zeros((0, 2))) == 0.0
    assert np.isnan(box_recall(np.zeros((0, 4)), centroids))
    assert np.isnan(centroid_precision(boxes, np.zeros((0, 2))))
