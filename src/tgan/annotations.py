"""Burned-in annotations: information bars at the bottom of an image, scale bars with their labels inside it.

SEM and many TEM exports burn an information bar (voltage, magnification, scale) into the bottom rows,
and figure exports burn a scale bar and its label ("50 nm") into the image area. Both are high-contrast
shapes on a flat background, so every segmenter takes them for particles, and the PSD counts them.

- A bottom bar is a band of rows that are each almost one grey value (the bar's background), with
  some text in them, whose background is not that of the image above. `images.import_image` cuts it off and
  records it (`crop_from: detected`, with the rows), and the logs and the PSD summary say so: cut silently,
  a wrong detection would go unseen; refused, it stopped every stack of SEM files over a height the workflow
  had already found.
- An in-image annotation is anchored on a scale bar: a solid, straight-edged, elongated rectangle of
  pure white or pure black pixels (a saturated particle is round or ragged, never such a rectangle).
  Its label and the box behind it are the pure-white or pure-black pixels close to it. The region
  around them is ignored: left out of the PSD and drawn in the overlay, without stopping the run
  (figure crops such as the EMPS images carry them routinely).
- Text without such a bar (a panel letter "(d)", the label of a bar that is not pure white or black,
  "500 nm" written over the image) is found as a line of glyphs: pure-white or pure-black strokes of one
  height standing on one baseline. Its region is ignored the same way. Text is found this way, not by
  the particles' thinness: a thin particle is still a particle.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# Grey levels (of 255) within which a pixel counts as the row's background or as pure white/black:
# JPEG compression rings around text by a few levels.
LEVEL_TOLERANCE = 6
# A bar row has at least this fraction of its pixels at its background value; real image rows,
# with noise and texture, have far fewer at any single value.
BAR_ROW_UNIFORMITY = 0.5
MAX_GAP_ROWS = 2
# A bottom bar is at least this many rows high, at most this fraction of the image, and has text
# (pixels off its background) in at least this fraction of its pixels.
MIN_BAR_ROWS = 8
MAX_BAR_FRACTION = 0.3
MIN_BAR_TEXT = 0.003
# Rows of large, soft text (an FEI/Hitachi bar exported at a few hundred px, its letters blurred and dense) are
# far from uniform (22-45 % at the bar's grey on EMPS e59a1a493e). Where the uniform rows find no bar, a text row
# counts: at least BAR_ROW_UNIFORMITY of it at the bar's grey (the bottom row's) or within TEXT_HALO_PX of text
# across it, and at least TEXT_ROW_BACKGROUND of each quarter at the bar's grey (a scale-bar box in a corner, or a
# dark region of the image, is not a full-width bar); gaps of up to MAX_TEXT_GAP_ROWS (the line between a bar's
# two rows of cells). On the 99 EMPS, 33 STEM and 10 demo images it finds three bars the uniform rows missed
# (EMPS 8c22d1acd5, 96c772f28b, e59a1a493e) and changes no other image.
TEXT_HALO_PX = 2
TEXT_ROW_BACKGROUND = 0.2
MAX_TEXT_GAP_ROWS = 3
# Text differs from the bar's background by at least this many grey levels; of the EDGE_ROWS image rows
# just above the bar, at most this fraction of the pixels are at the bar's background.
TEXT_CONTRAST = 96
EDGE_ROWS = 5
MAX_BACKGROUND_ABOVE = 0.2
# A scale bar (or the box drawn behind it and its label): at least this long (px) and at most this
# fraction of the image side it runs along (a full-width band is a data bar, not a scale bar), this
# many times longer than thick, its bounding box filled to this fraction, and straight along its
# length (its rows or columns all span the full box).
MIN_SCALE_BAR_LENGTH = 16
MAX_SCALE_BAR_FRACTION = 0.5
MIN_SCALE_BAR_ASPECT = 2.5
MIN_SCALE_BAR_FILL = 0.9
# The label is searched this far around the bar (a fraction of the bar's length, within bounds in px).
LABEL_SEARCH = 0.4
LABEL_SEARCH_PX = (10, 60)
# Components of fewer pixels are noise (a hot pixel), not glyphs.
MIN_GLYPH_PX = 4
IGNORE_MARGIN_PX = 3
# A scale bar stands out from what surrounds it: the median of the ring of RING_PX pixels around its box
# differs from it by at least TEXT_CONTRAST (a flat dark JPEG block in vacuum does not), the ring right
# at the box or the one RING_GAP px further out: a figure resampled after the bar was drawn blurs its edge
# over a pixel or two (EMPS cc87926397: 144, 74 | 0 ... 0 | 22, 53 on 190), and the ring on that edge alone
# hid the bar.
RING_PX = 2
RING_GAP = 2
# A glyph of a text line: GLYPH_HEIGHT px high, at most MAX_GLYPH_WIDTH heights wide, drawn in strokes
# (its thickest point, the largest inscribed radius, at most MAX_STROKE of its height: a saturated
# particle is compact), not cut by the image border, and the holes it encloses (the counter of an "o")
# within HOLE_CONTRAST of its surroundings (the body inside a particle's saturated rim is not).
GLYPH_HEIGHT = (6, 64)
MAX_GLYPH_WIDTH = 1.5
MAX_STROKE = 0.25
HOLE_CONTRAST = TEXT_CONTRAST // 2
# Glyphs of one line: heights within LINE_HEIGHT_RATIO, bottoms within LINE_BASELINE of the larger height
# (at least 2 px), horizontal gaps of at most LINE_GAP heights; a line has at least MIN_LINE_GLYPHS
# ("(d)", "nm"; a lone letter is not told from a particle's rim).
LINE_HEIGHT_RATIO = 1.6
LINE_BASELINE = 0.15
LINE_GAP = 1.0
MIN_LINE_GLYPHS = 2


def grey_levels(image: np.ndarray) -> np.ndarray:
    """A [0, 1] image as 0..255 integer grey levels, as the annotation was drawn."""
    return np.rint(np.clip(image, 0.0, 1.0) * 255).astype(np.int16)


def _row_uniformity(levels: np.ndarray) -> np.ndarray:
    """Per row: the fraction of pixels within LEVEL_TOLERANCE of the row's most common grey level."""
    modes = np.array([np.bincount(row, minlength=256).argmax() for row in levels])
    return (np.abs(levels - modes[:, None]) <= LEVEL_TOLERANCE).mean(axis=1)


def bottom_bar_rows(image: np.ndarray) -> int:
    """Height of an information bar burned into the bottom rows of a [0, 1] image; 0 when there is none.

    The bar is the run of uniform rows (BAR_ROW_UNIFORMITY) at the bottom, across gaps of up to
    MAX_GAP_ROWS rows (a line of dense text, a stray last row); where they find none, the run of text rows
    (`_text_rows`: a bar whose large, soft letters leave no row uniform). It counts only when it is between
    MIN_BAR_ROWS and MAX_BAR_FRACTION of the image high, has text in it (pixels of strong contrast to
    its background), and its background is not the image's: an empty background at the bottom of the
    image itself (vacuum, the bright film of a TEM figure with a scale bar) continues above it.
    """
    levels = grey_levels(image)
    rows = _checked_bar(levels, _bottom_run(_row_uniformity(levels) >= BAR_ROW_UNIFORMITY, MAX_GAP_ROWS))
    return rows or _checked_bar(levels, _bottom_run(_text_rows(levels), MAX_TEXT_GAP_ROWS))


def _bottom_run(rows: np.ndarray, max_gap: int) -> int:
    """How many rows up from the bottom the run of True rows reaches, across gaps of up to max_gap rows."""
    run, gap = 0, 0
    for k, is_bar in enumerate(rows[::-1], start=1):
        gap = 0 if is_bar else gap + 1
        if gap > max_gap:
            break
        if is_bar:
            run = k
    return run


def _text_rows(levels: np.ndarray) -> np.ndarray:
    """Per row: whether it is a row of a bar of the bottom row's grey with text across it (see TEXT_HALO_PX)."""
    background = np.bincount(levels[-1], minlength=256).argmax()
    at_background = np.abs(levels - background) <= LEVEL_TOLERANCE
    text = ndimage.binary_dilation(np.abs(levels - background) >= TEXT_CONTRAST,
                                   structure=np.ones((1, 2 * TEXT_HALO_PX + 1), bool))
    quarters = np.stack([q.mean(axis=1) for q in np.array_split(at_background, 4, axis=1)]).min(axis=0)
    return (quarters >= TEXT_ROW_BACKGROUND) & ((at_background | text).mean(axis=1) >= BAR_ROW_UNIFORMITY)


def _checked_bar(levels: np.ndarray, rows: int) -> int:
    """rows, if the bottom rows' run is a bar (see bottom_bar_rows), else 0."""
    if not MIN_BAR_ROWS <= rows <= MAX_BAR_FRACTION * len(levels):
        return 0
    band, above = levels[-rows:], levels[-rows - EDGE_ROWS:-rows]
    background = np.bincount(band.ravel(), minlength=256).argmax()
    if (np.abs(above - background) <= LEVEL_TOLERANCE).mean() > MAX_BACKGROUND_ABOVE:
        return 0
    text = (np.abs(band - background) >= TEXT_CONTRAST).mean()
    return rows if text >= MIN_BAR_TEXT else 0


def _is_scale_bar(component: np.ndarray, image_shape: tuple[int, int]) -> bool:
    """A solid, straight-edged, elongated rectangle (component: its mask within its bounding box; holes,
    such as a label written inside a box, are filled)."""
    h, w = component.shape
    length, thickness = max(h, w), min(h, w)
    side = image_shape[1] if w >= h else image_shape[0]
    if not MIN_SCALE_BAR_LENGTH <= length <= MAX_SCALE_BAR_FRACTION * side:
        return False
    if length < MIN_SCALE_BAR_ASPECT * thickness or thickness < 2:
        return False
    component = ndimage.binary_fill_holes(component)
    if component.mean() < MIN_SCALE_BAR_FILL:
        return False
    spans = component.sum(axis=1 if w >= h else 0)  # pixels along the length, per row (or column)
    return bool((spans >= length - 1).mean() >= MIN_SCALE_BAR_FILL)


def _ring(levels: np.ndarray, box: tuple[slice, slice], gap: int = 0) -> np.ndarray:
    """The grey levels of the ring of RING_PX pixels that starts `gap` px out from a box (within the image)."""
    outer = tuple(slice(max(b.start - gap - RING_PX, 0), b.stop + gap + RING_PX) for b in box)
    ring = np.ones(levels[outer].shape, bool)
    ring[tuple(slice(max(b.start - gap, 0) - o.start, b.stop + gap - o.start) for b, o in zip(box, outer))] = False
    return levels[outer][ring]


def _stands_out(levels: np.ndarray, labels: np.ndarray, box: tuple[slice, slice], k: int) -> bool:
    """Whether a ring around component k's box (right at it or RING_GAP px out) differs from it by
    TEXT_CONTRAST."""
    inside = float(np.median(levels[box][labels[box] == k]))
    rings = [ring for ring in (_ring(levels, box), _ring(levels, box, RING_GAP)) if ring.size]
    return any(abs(float(np.median(ring)) - inside) >= TEXT_CONTRAST for ring in rings)


def annotation_regions(image: np.ndarray) -> list[dict[str, int]]:
    """Rectangles {top, bottom, left, right} (bottom and right exclusive) of scale bars with their labels,
    and of lines of text.

    The anchors are scale bars and lines of text (`_text_lines`: a label whose bar is not pure, a panel
    letter). An anchor's region is its box joined with every pure-white or pure-black component that
    lies wholly within LABEL_SEARCH of it, has MIN_GLYPH_PX pixels and stands out from its own
    surroundings (a bar's label, a label's bar, the box behind them; not the splinters of a black
    particle nearby), plus IGNORE_MARGIN_PX; overlapping regions are merged.
    """
    levels = grey_levels(image)
    components = _pure_components(levels)
    anchors = [box for box, _ in _scale_bars(levels, components)]
    anchors += [_bounding_box(glyphs) for glyphs in _text_lines(levels, components)]
    regions = []
    for box in anchors:
        reach = int(np.clip(LABEL_SEARCH * max(s.stop - s.start for s in box), *LABEL_SEARCH_PX))
        window = (slice(box[0].start - reach, box[0].stop + reach), slice(box[1].start - reach, box[1].stop + reach))
        parts = [box] + [other for labels_j, other, j in components
                         if _within(other, window) and (labels_j[other] == j).sum() >= MIN_GLYPH_PX
                         and _stands_out(levels, labels_j, other, j)]
        margin = _bounding_box(parts)
        regions.append({"top": max(margin[0].start - IGNORE_MARGIN_PX, 0),
                        "bottom": min(margin[0].stop + IGNORE_MARGIN_PX, levels.shape[0]),
                        "left": max(margin[1].start - IGNORE_MARGIN_PX, 0),
                        "right": min(margin[1].stop + IGNORE_MARGIN_PX, levels.shape[1])})
    return _merged(regions)


def _pure_components(levels: np.ndarray, tolerance: int = LEVEL_TOLERANCE) -> list:
    """(labels, box, k) of every pure-white and pure-black component (within `tolerance` grey levels) of an
    image's grey levels."""
    components = []
    for pixels in (levels >= 255 - tolerance, levels <= tolerance):
        labels, _ = ndimage.label(pixels, structure=np.ones((3, 3)))
        components += [(labels, box, k) for k, box in enumerate(ndimage.find_objects(labels), start=1) if box]
    return components


def _scale_bars(levels: np.ndarray, components: list, is_bar=None) -> list[tuple[tuple[slice, slice], np.ndarray]]:
    """(box, mask within the box) of each component that is a scale bar (or the box behind one; `is_bar(mask,
    image shape)`, `_is_scale_bar` by default) and stands out."""
    is_bar = is_bar or _is_scale_bar
    return [(box, labels[box] == k) for labels, box, k in components
            if is_bar(labels[box] == k, levels.shape) and _stands_out(levels, labels, box, k)]


def scale_bar_boxes(image: np.ndarray, tolerance: int = LEVEL_TOLERANCE, is_bar=None) -> list[tuple[slice, slice]]:
    """Bounding boxes of the scale bars of a [0, 1] image: the scale-bar shapes of `annotation_regions`
    (white or black within `tolerance` grey levels; `is_bar` may judge the shape instead of `_is_scale_bar`)
    less the boxes drawn behind a bar and its label (a shape with holes, or one holding another bar)."""
    levels = grey_levels(image)
    bars = [(box, mask) for box, mask in _scale_bars(levels, _pure_components(levels, tolerance), is_bar)
            if (ndimage.binary_fill_holes(mask) & ~mask).mean() <= 1 - MIN_SCALE_BAR_FILL]
    return [box for box, _ in bars
            if not any(other is not box and _within(other, box) for other, _ in bars)]


def _bounding_box(boxes: list[tuple[slice, slice]]) -> tuple[slice, slice]:
    return tuple(slice(min(b[d].start for b in boxes), max(b[d].stop for b in boxes)) for d in (0, 1))


def _is_glyph(levels: np.ndarray, labels: np.ndarray, box: tuple[slice, slice], k: int) -> bool:
    """Whether component k looks like a letter or digit (see GLYPH_HEIGHT .. HOLE_CONTRAST)."""
    height, width = box[0].stop - box[0].start, box[1].stop - box[1].start
    if not GLYPH_HEIGHT[0] <= height <= GLYPH_HEIGHT[1] or width > MAX_GLYPH_WIDTH * height:
        return False
    if box[0].start == 0 or box[1].start == 0 or box[0].stop == levels.shape[0] or box[1].stop == levels.shape[1]:
        return False
    component = labels[box] == k
    if component.sum() < MIN_GLYPH_PX or ndimage.distance_transform_edt(np.pad(component, 1)).max() > MAX_STROKE * height:
        return False
    if not _stands_out(levels, labels, box, k):
        return False
    holes = ndimage.binary_fill_holes(component) & ~component
    if not holes.any():
        return True
    return abs(float(np.median(levels[box][holes])) - float(np.median(_ring(levels, box)))) < HOLE_CONTRAST


def _text_lines(levels: np.ndarray, components: list) -> list[list[tuple[slice, slice]]]:
    """The boxes of the glyphs of each line of text (at least MIN_LINE_GLYPHS glyphs of one height on one
    baseline, LINE_GAP apart): glyphs are joined to every neighbour that fits, lines are what is joined."""
    glyphs = sorted((box for labels, box, k in components if _is_glyph(levels, labels, box, k)),
                    key=lambda b: b[1].start)
    pairs = []
    for i, a in enumerate(glyphs):
        ha = a[0].stop - a[0].start
        for j in range(i + 1, len(glyphs)):
            b = glyphs[j]
            hb = b[0].stop - b[0].start
            if b[1].start - a[1].stop > LINE_GAP * GLYPH_HEIGHT[1]:
                break  # sorted by left edge: every later glyph is further away
            tall = max(ha, hb)
            if (tall <= LINE_HEIGHT_RATIO * min(ha, hb) and b[1].start - a[1].stop <= LINE_GAP * tall
                    and abs(a[0].stop - b[0].stop) <= max(2, LINE_BASELINE * tall)):
                pairs.append((i, j))
    rows, cols = np.array(pairs, int).reshape(-1, 2).T
    joined = coo_matrix((np.ones(len(pairs)), (rows, cols)), shape=(len(glyphs), len(glyphs)))
    lines: dict[int, list[tuple[slice, slice]]] = {}
    for box, line in zip(glyphs, connected_components(joined, directed=False)[1]):
        lines.setdefault(int(line), []).append(box)
    return [parts for parts in lines.values() if len(parts) >= MIN_LINE_GLYPHS]


def _within(box: tuple[slice, slice], window: tuple[slice, slice]) -> bool:
    return all(b.start >= v.start and b.stop <= v.stop for b, v in zip(box, window))


def _overlap(a: dict[str, int], b: dict[str, int]) -> bool:
    return a["top"] < b["bottom"] and b["top"] < a["bottom"] and a["left"] < b["right"] and b["left"] < a["right"]


def _merged(regions: list[dict[str, int]]) -> list[dict[str, int]]:
    """Overlapping rectangles joined into their common bounding box, until none overlap."""
    regions = list(regions)
    while any(_overlap(a, b) for n, a in enumerate(regions) for b in regions[n + 1:]):
        n, m = next((n, m) for n in range(len(regions)) for m in range(n + 1, len(regions))
                    if _overlap(regions[n], regions[m]))
        a, b = regions[n], regions.pop(m)
        regions[n] = {"top": min(a["top"], b["top"]), "bottom": max(a["bottom"], b["bottom"]),
                      "left": min(a["left"], b["left"]), "right": max(a["right"], b["right"])}
    return sorted(regions, key=lambda r: (r["top"], r["left"]))


def ignore_mask(shape: tuple[int, int], record: dict) -> np.ndarray:
    """Boolean mask of the burned-in annotations of an image: the `ignore` rectangles of its calibration
    record (as import_image writes it; none when the record has none)."""
    mask = np.zeros(shape, bool)
    for r in record.get("ignore", []):
        mask[r["top"]:r["bottom"], r["left"]:r["right"]] = True
    return mask
