"""Pixel size from a burned-in scale bar: the bar's length in pixels and the length its label states.

Figure crops, PNG/JPEG exports and screenshots carry no calibration in their metadata, but most carry a scale
bar with a label ("100 nm"). `read_scale_bar` measures the bar and reads its label:

- The bars are found by `bar_boxes`: horizontal white or black shapes that stand out, either rectangles as
  `annotations.scale_bar_boxes` finds them or shapes with a solid core (rounded ends, blurred edges). Each is
  measured from its ends to a fraction of a pixel (`bar_length_px`): along its core rows, each pixel of its
  ends counts for the share of it the bar covers, so that a figure resampled after the bar was drawn, whose
  bar ends in a grey pixel or two, is measured as drawn, not rounded to whole pixels. A bar whose length from
  its area and from its half-level crossings (`crossing_length_px`) differ is unread: its ends are not sharp.
- The label is read by OCR (RapidOCR, whose ONNX models come inside its PyPI wheel: nothing is downloaded)
  in windows around the bar, the bar painted over, enlarged so that small figure text reaches the height the
  OCR models read best. Its text must hold one number and one length unit (nm, um/µm, Å, pm); the nearest
  such text to the bar is its label.
- Nothing is guessed: no bar, no label near it, a label without a number and unit, a weak OCR score, blurred
  ends, or bars whose readings disagree each make the bar unread, and `reason` says why. A wrong pixel size
  is worse than none: every diameter of the PSD would carry the error silently.

On the EMPS test figures (tests/data/scale_bars.csv, lengths and labels read by eye) 55 of the 59 whose bar is
found and labelled are read within 2 %, 4 are unread and none is wrong; about 26 more EMPS figures carry a bar
that is not found (rulers with ticks, I-beams, bars in SEM data bands, bars cut by the border).

The OCR is imported on the first label to read (about half a second to import and a second to load its
models on a 2-core CPU, then some 0.3-1 s per bar), never on importing this module: a stack whose images carry
no bar, or with a configured pixel size, does not pay for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from skimage.transform import rescale

from .annotations import (LEVEL_TOLERANCE, MAX_SCALE_BAR_FRACTION, MIN_SCALE_BAR_LENGTH, grey_levels,
                          scale_bar_boxes)

# A bar is white or black within this many grey levels (of 255): looser than `annotations.LEVEL_TOLERANCE`,
# because JPEG ringing and a resampled figure leave a bar's edge pixels some 10-40 levels off, which ragged
# its ends past the straight-edge test. A loose level finds more dark shapes too (a rod seen end-on), but
# only a bar with a label beside it is read.
BAR_LEVEL_TOLERANCE = 40
# A bar found by its core (`has_core`): the core's rows each span all but CORE_SLACK px of the bar's length (a
# rounded end), and the bar is MIN_CORE_ASPECT times longer than its core is high.
CORE_SLACK = 2
MIN_CORE_ASPECT = 4
# Pixels outside each end of the bar that may hold its blurred end (a resampled figure smears an edge over
# one or two pixels).
END_PX = 2
# The label is searched in windows around the bar: LABEL_ROWS bar-lengths (at least LABEL_MIN_ROWS px) above
# and below it, and, left and right of it, a number of bar-lengths (at least a number of px: a short bar's label
# is wider than the bar; some labels stand beside it). The windows are read in turn until one holds a label:
# (bar-lengths, px, px of padding). More of the image around a label (texture, other text) makes the OCR miss
# labels that a narrow window reads, and the padding helps it with some labels and not others (on the EMPS
# figures of tests/data/scale_bars.csv each window read some label no other did, and none read one wrong).
LABEL_ROWS, LABEL_MIN_ROWS = 0.5, 40
LABEL_WINDOWS = ((0.75, 0, 16), (1.0, 80, 16), (0.75, 0, 0))
# The window is enlarged so that it is at least OCR_MIN_ROWS rows high (RapidOCR reads text of about 48 px
# height best; figure labels are often 8-15 px), by at most OCR_MAX_ZOOM.
OCR_MIN_ROWS = 160
OCR_MAX_ZOOM = 4
# Pieces of text on one line this many text heights apart (or closer) are one text.
LINE_GAP = 1.5
# OCR readings scored below this are not trusted (a misread digit would be a wrong calibration).
MIN_OCR_SCORE = 0.8
# A bar whose length from its area and from its half-level crossings differ by more than this fraction has
# ends too ill-defined (ringing, a glyph touching it) to be read within BAR_AGREEMENT.
END_AGREEMENT = 0.01
# Readings of several bars of one image must agree within this fraction (else the image is unread).
BAR_AGREEMENT = 0.02
# A label: a number and a length unit, nothing else of note ("100 nm", "0.5 µm", "2 Å"). OCR reads µ as u,
# μ (Greek mu) or sometimes µ's look-alikes; Å as A. "mm" is not taken: no figure of nanoparticles is drawn at
# that scale, and OCR reads a serif "nm" as "mm" (EMPS 728f55aed4: a million times off).
LABEL = re.compile(r"(?<![\d.,])(\d+(?:[.,]\d+)?)\s*(nm|[uµμ]m|pm|[AÅ])(?![a-z])", re.IGNORECASE)
NO_BAR = "no scale bar found (a solid, straight, horizontal, white or black bar)"
UNIT_NM = {"nm": 1.0, "um": 1e3, "µm": 1e3, "μm": 1e3, "pm": 1e-3, "a": 0.1, "å": 0.1}


@dataclass
class ScaleBar:
    """A scale bar's reading: length in px, label as read, its length in nm, and the pixel size (nm per px);
    `reason` says why it is unread (pixel_size_nm None). `box` (top, bottom, left, right) is None when no bar
    was found at all."""

    length_px: float | None = None
    label: str | None = None
    length_nm: float | None = None
    pixel_size_nm: float | None = None
    box: dict[str, int] | None = None
    reason: str | None = None

    def as_record(self) -> dict:
        return {"length_px": self.length_px, "label": self.label, "length_nm": self.length_nm,
                "pixel_size_nm": self.pixel_size_nm, "box": self.box, "reason": self.reason}


def read_scale_bar(image: np.ndarray) -> ScaleBar:
    """The scale bar of a [0, 1] grey image, read (pixel_size_nm set) or unread (reason set).

    With several bars (a figure of panels), each is read; they must agree within BAR_AGREEMENT.
    """
    boxes = bar_boxes(image)
    if not boxes:
        return ScaleBar(reason=NO_BAR)
    readings = [_read_one(image, box) for box in boxes]
    read = [r for r in readings if r.pixel_size_nm is not None]
    if not read:
        return readings[0] if len(readings) == 1 else ScaleBar(box=readings[0].box, reason=(
            f"none of {len(readings)} scale bars read: " + "; ".join(r.reason for r in readings)))
    sizes = [r.pixel_size_nm for r in read]
    if max(sizes) > (1 + BAR_AGREEMENT) * min(sizes):
        return ScaleBar(box=read[0].box, reason="scale bars disagree: " + ", ".join(
            f"{r.label!r} over {r.length_px:.1f} px" for r in read))
    return read[0]


def bar_boxes(image: np.ndarray) -> list[tuple[slice, slice]]:
    """The scale bars of an image: `annotations.scale_bar_boxes` at `annotations.LEVEL_TOLERANCE` and at
    BAR_LEVEL_TOLERANCE (the loose level finds bars with ragged edges, the strict one those that the loose level
    joins to a label or a dark particle touching them), then shapes with a solid core (`has_core`) at the loose
    level; each bar once. A bar cut by the image border is left out (its length is unknown), and so is a
    vertical one (figure scale bars are horizontal; a vertical "bar" is a glyph's stem, the "1" of a label)."""
    boxes = []
    for tolerance, is_bar in ((LEVEL_TOLERANCE, None), (BAR_LEVEL_TOLERANCE, None), (BAR_LEVEL_TOLERANCE, has_core)):
        boxes += [box for box in scale_bar_boxes(image, tolerance, is_bar)
                  if not any(_overlap(box, other) for other in boxes)]
    return [box for box in boxes if box[0].start > 0 and box[1].start > 0 and box[0].stop < image.shape[0]
            and box[1].stop < image.shape[1] and box[1].stop - box[1].start > box[0].stop - box[0].start]


def has_core(mask: np.ndarray, image_shape: tuple[int, int]) -> bool:
    """A bar with blurred edges or rounded ends (a JPEG or a resampled figure: of EMPS 04dbda93f9's, 40 levels
    from black, only 64 % of the rows span its full length): a horizontal shape MIN_SCALE_BAR_LENGTH px or longer
    (at most MAX_SCALE_BAR_FRACTION of the width), whose core, the rows that span all but CORE_SLACK px of its
    length each, is at least 2 and half its rows, and is at most 1 / MIN_CORE_ASPECT of its length high."""
    h, w = mask.shape
    if not MIN_SCALE_BAR_LENGTH <= w <= MAX_SCALE_BAR_FRACTION * image_shape[1]:
        return False
    core = mask.sum(axis=1) >= w - CORE_SLACK
    return bool(core.sum() >= max(2, h / 2) and w >= MIN_CORE_ASPECT * core.sum())


def _overlap(a: tuple[slice, slice], b: tuple[slice, slice]) -> bool:
    return all(x.start < y.stop and y.start < x.stop for x, y in zip(a, b))


def bar_length_px(image: np.ndarray, box: tuple[slice, slice]) -> float:
    """Length of a horizontal bar (box: its bounding slices), to a fraction of a pixel, from its area.

    Along the mean profile of its core rows, each pixel from END_PX outside its box to END_PX inside counts for
    the share of it the bar covers: (level - outside) / (bar - outside), clipped to [0, 1] (`_profile`).
    """
    profile, bar, outside = _profile(image, box)
    cols = box[1]
    length = float(max(cols.stop - cols.start - 2 * END_PX, 0))
    for (first, step), out in zip(((cols.start + END_PX - 1, -1), (cols.stop - END_PX, 1)), outside):
        if abs(bar - out) < 1e-6:
            continue
        ends = profile[np.clip(np.arange(first, first + step * 2 * END_PX, step), 0, profile.size - 1)]
        length += float(np.clip((ends - out) / (bar - out), 0.0, 1.0).sum())
    return length


def crossing_length_px(image: np.ndarray, box: tuple[slice, slice]) -> float:
    """Length of a horizontal bar between the points where its profile (as in `bar_length_px`) crosses half-way
    from the bar's level to the outside's, interpolated linearly: the other usual sub-pixel estimate. For an end
    that is sharp or evenly blurred the two agree; ringing, or a glyph or particle touching the end, part them."""
    profile, bar, outside = _profile(image, box)
    middle = (box[1].start + box[1].stop) // 2
    ends = []
    for step, out in zip((-1, 1), outside):
        half = (bar + out) / 2
        x = middle
        while 0 < x < profile.size - 1 and (profile[x] - half) * (profile[x + step] - half) > 0:
            x += step
        v0, v1 = profile[x], profile[min(max(x + step, 0), profile.size - 1)]
        ends.append(x + step * (0.5 if v1 == v0 else (half - v0) / (v1 - v0)))
    return float(ends[1] - ends[0])


def _profile(image: np.ndarray, box: tuple[slice, slice]) -> tuple[np.ndarray, float, tuple[float, float]]:
    """(mean profile along the image width of a bar's core rows, those a quarter of its height (at least one)
    in from its top and bottom edges, which may be blurred or rounded; the bar's level; the outside level beyond
    each end: the pixel one past the next beyond those `bar_length_px` sums, clear of a blurred edge)."""
    rows, cols = box
    trim = max(1, (rows.stop - rows.start) // 4) if rows.stop - rows.start > 2 else 0
    core = image[rows.start + trim:rows.stop - trim]
    profile = core.mean(axis=0).astype(float)
    inner = profile[cols.start + END_PX:cols.stop - END_PX]
    bar = float(np.median(inner if inner.size else profile[cols]))
    at = (cols.start - END_PX - 2, cols.stop + END_PX + 1)
    return profile, bar, tuple(float(profile[min(max(x, 0), profile.size - 1)]) for x in at)


def parse_label(text: str) -> tuple[float, str] | None:
    """(length in nm, the label as matched) of a label text; None when it holds no number with a length unit, or
    more than one, or the length is 0."""
    match = _label_match(text)
    if match is None:
        return None
    value, unit = match.groups()
    return float(value.replace(",", ".")) * UNIT_NM[unit.lower().replace("μ", "u").replace("µ", "u")], \
        f"{value} {unit}"


def _label_match(text: str) -> re.Match | None:
    """The one match of LABEL in a text, or None (no match, several, or a length of 0)."""
    matches = list(LABEL.finditer(text.replace("\u00a0", " ")))
    if len(matches) != 1 or float(matches[0].group(1).replace(",", ".")) == 0:
        return None
    return matches[0]


@lru_cache(maxsize=1)
def _ocr():
    """The OCR engine, loaded once per process on first use (see the module's docstring)."""
    from rapidocr import RapidOCR  # lazy: half a second to import, models loaded on first call

    return RapidOCR(params={"Global.log_level": "error", "Global.use_cls": False,
                            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                            "EngineConfig.onnxruntime.inter_op_num_threads": 1})


def read_text(window: np.ndarray) -> list[tuple[str, list[tuple[int, int, float]], np.ndarray]]:
    """(text, its pieces (start, end in the text, OCR score), its box (x0, y0, x1, y1) in the window's pixels)
    of each line of text the OCR finds in a [0, 1] grey window, enlarged first (OCR_MIN_ROWS, OCR_MAX_ZOOM).
    The OCR often returns a number and its unit as two pieces ("100", "nm"): pieces on one line (centres within
    half a text height), at most LINE_GAP text heights apart, are joined with a space."""
    zoom = float(np.clip(OCR_MIN_ROWS / window.shape[0], 1, OCR_MAX_ZOOM))
    big = rescale(window, zoom, order=1) if zoom > 1 else window
    rgb = np.repeat(grey_levels(big).astype(np.uint8)[..., None], 3, axis=-1)
    result = _ocr()(rgb)
    if result.txts is None:
        return []
    pieces = sorted(((text, float(score), np.asarray(points, float) / zoom)
                     for text, score, points in zip(result.txts, result.scores, result.boxes)),
                    key=lambda piece: piece[2][:, 0].min())
    lines: list[list] = []  # [text, pieces, x0, y0, x1, y1]
    for text, score, points in pieces:
        x0, y0 = points.min(axis=0)
        x1, y1 = points.max(axis=0)
        for line in lines:
            height = max(line[5] - line[3], y1 - y0)
            if abs((line[3] + line[5]) - (y0 + y1)) / 2 < height / 2 and x0 - line[4] < LINE_GAP * height:
                start = len(line[0]) + 1
                line[:] = [f"{line[0]} {text}", line[1] + [(start, start + len(text), score)], line[2],
                           min(line[3], y0), max(line[4], x1), max(line[5], y1)]
                break
        else:
            lines.append([text, [(0, len(text), score)], x0, y0, x1, y1])
    return [(text, spans, np.array([x0, y0, x1, y1])) for text, spans, x0, y0, x1, y1 in lines]


def _label_window(image: np.ndarray, box: tuple[slice, slice], top: int, left: int, bottom: int,
                  right: int, pad: int) -> np.ndarray:
    """The window image[top:bottom, left:right] as the OCR reads it: the bar painted over with the window's
    median level and `pad` px of that level around it (the OCR's text detector missed labels that stand
    right on a bar or at the window's edge: EMPS 257e44104b, b5ba9813a4, f98c5fb82a)."""
    window = image[top:bottom, left:right].copy()
    level = float(np.median(window))
    window[max(box[0].start - top - END_PX, 0):box[0].stop - top + END_PX,
           max(box[1].start - left - END_PX, 0):box[1].stop - left + END_PX] = level
    return np.pad(window, pad, constant_values=level)


def _label_score(text: str, spans: list[tuple[int, int, float]]) -> float:
    """The OCR score of a line's label: that of its weakest piece holding part of the label (a piece of other
    text on the line, such as a magnification beside it, does not count: EMPS a1e18db01a)."""
    match = _label_match(text)
    return min(score for start, end, score in spans if start < match.end() and match.start() < end)


def _read_one(image: np.ndarray, box: tuple[slice, slice]) -> ScaleBar:
    """Read one bar: its length, then its label in the windows around it (see the module's docstring)."""
    length_px = bar_length_px(image, box)
    found = {"top": box[0].start, "bottom": box[0].stop, "left": box[1].start, "right": box[1].stop}
    crossing = crossing_length_px(image, box)
    if abs(crossing - length_px) > END_AGREEMENT * length_px:
        return ScaleBar(length_px=length_px, box=found, reason=(
            f"the bar's ends are not sharp: its length from its area ({length_px:.2f} px) and from its half-level "
            f"crossings ({crossing:.2f} px) differ by more than {END_AGREEMENT:.0%}"))
    long_side = box[1].stop - box[1].start
    reach_rows = int(max(LABEL_ROWS * long_side, LABEL_MIN_ROWS))
    labels = []
    for columns, min_columns, pad in LABEL_WINDOWS:
        reach_cols = int(max(columns * long_side, min_columns))
        top, left = max(box[0].start - reach_rows, 0), max(box[1].start - reach_cols, 0)
        window = _label_window(image, box, top, left, box[0].stop + reach_rows, box[1].stop + reach_cols, pad)
        top, left = top - pad, left - pad
        centre = np.array([(box[1].start + box[1].stop) / 2 - left, (box[0].start + box[0].stop) / 2 - top])
        labels = [(float(np.hypot(*((at[:2] + at[2:]) / 2 - centre))), text, _label_score(text, spans), parsed)
                  for text, spans, at in read_text(window) if (parsed := parse_label(text)) is not None]
        if labels:
            break
    if not labels:
        return ScaleBar(length_px=length_px, box=found, reason="no label with a number and a length unit "
                                                                 "(nm, µm, Å, pm) read near the bar")
    _, text, score, (length_nm, label) = min(labels)
    if score < MIN_OCR_SCORE:
        return ScaleBar(length_px=length_px, label=text, box=found,
                        reason=f"label read as {text!r} with a low OCR score ({score:.2f} < {MIN_OCR_SCORE})")
    return ScaleBar(length_px=length_px, label=label, length_nm=length_nm, pixel_size_nm=length_nm / length_px,
                    box=found)
