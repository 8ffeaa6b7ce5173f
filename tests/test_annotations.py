"""Burned-in text found without a scale bar to anchor it, and what is not text."""

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.draw import disk

from burned_in import write_text
from synthetic import particle_image
from tgan.annotations import annotation_regions, bottom_bar_rows, ignore_mask


def covers(regions, pixels):
    return ignore_mask(pixels.shape, {"ignore": regions})[pixels].all()


def test_a_label_without_its_scale_bar_is_found():
    image, labels = particle_image((160, 200), radii=(6,) * 8, seed=3)
    image[labels == 0] = np.maximum(image[labels == 0], 0.45)  # a light support, for black text to stand out on
    text = write_text(image, 140, 20, 0.0)  # "50 nm" in black, no bar
    assert not (labels[text] > 0).any()
    (region,) = annotation_regions(image)
    assert covers([region], text)
    assert (region["bottom"] - region["top"]) * (region["right"] - region["left"]) < 2.5 * np.ptp(np.nonzero(text)[0]) * np.ptp(np.nonzero(text)[1])


def test_a_label_takes_in_its_bar_when_the_bar_alone_is_not_found():
    """A bar with gaps (a JPEG-damaged or dashed bar) is no scale bar by itself; its label finds it."""
    image, _ = particle_image((160, 200), radii=(6,) * 6, seed=4)
    image[110:160, 10:110] = 0.5  # a clear corner for the annotation
    text = write_text(image, 125, 20, 1.0)
    bar = np.zeros(image.shape, bool)
    bar[142:146, 18:78] = True
    bar[:, 30:78:8] = False
    image[bar] = 1.0
    without_label = image.copy()
    without_label[text] = 0.5
    assert annotation_regions(without_label) == []
    assert covers(annotation_regions(image), text | bar)


def test_particles_in_a_row_are_not_text():
    """Saturated particles side by side on one line: solid discs (compact, not strokes) and discs with a
    saturated rim around a grey body (the body is not the background, as an "o"'s counter is)."""
    image = np.full((120, 200), 0.3, np.float32)
    truth = np.zeros(image.shape, bool)
    for k in range(6):
        rr, cc = disk((30, 20 + 28 * k), 9)
        image[rr, cc] = 0.0  # solid black
        truth[rr, cc] = True
        rr, cc = disk((90, 20 + 28 * k), 10)
        image[rr, cc] = 1.0  # white rim ...
        rr, cc = disk((90, 20 + 28 * k), 8)
        image[rr, cc] = 0.7  # ... around a grey body
    assert annotation_regions(image) == []


def test_a_scale_bar_blurred_by_resampling_is_found():
    """A black bar whose edges a resampled figure export smeared over two pixels each side (the levels of
    EMPS cc87926397's bar): the pixels right around it are dark, those two pixels further out are not."""
    image, _ = particle_image((160, 200), radii=(6,) * 8, seed=5)
    image[120:, 100:] = 0.75  # a clear corner, the support's level of that figure
    levels = np.full((20, 80), 190.0)  # grey levels around the bar and in it, as in that figure
    levels[0], levels[1], levels[18], levels[19] = 144, 74, 22, 53  # above and below it
    levels[2:18, 0], levels[2:18, 1], levels[2:18, 78], levels[2:18, 79] = 122, 34, 25, 126  # its ends
    levels[2:18, 2:78] = 0
    image[128:148, 110:190] = levels / 255
    bar = np.zeros(image.shape, bool)
    bar[130:146, 112:188] = True
    (region,) = annotation_regions(image)
    assert covers([region], bar)
    assert region["top"] >= 120 and region["left"] >= 100  # the bar and its margin, not the particles


def soft_text_bar(width: int, rows: int = 40) -> np.ndarray:
    """A black information bar with two lines of dense, blurred white text and a grey line between them, as an
    FEI bar exported at a few hundred px: its text rows are far from uniform."""
    bar = np.zeros((rows, width), np.float32)
    for top in (5, rows - 15):
        for left in range(2, width - 50, 64):  # "50 nm" again and again
            write_text(bar, top, left, 1.0)
    bar[rows // 2] = 0.3  # the line between the bar's two rows of cells
    return np.clip(gaussian_filter(bar, 1.2), 0, 1)


def test_a_bar_of_soft_dense_text_is_cut_off_and_a_corner_box_is_not():
    image, _ = particle_image((200, 256), radii=(6,) * 10, seed=3)
    bar = soft_text_bar(256)
    assert bottom_bar_rows(np.vstack([image, bar])) == 40
    # the same text in a box over the bottom-right quarter: a scale-bar label, not a bar across the image
    boxed = np.vstack([image, image[-40:]])
    boxed[-40:, -64:] = bar[:, :64]
    assert bottom_bar_rows(boxed) == 0
