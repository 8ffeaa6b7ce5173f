"""Classical (offline, training-free) segmenter that gives rough nanoparticle masks.

The pipeline is background subtraction + thresholding + cleanup, the standard recipe
for particles in electron micrographs.  Every length in it is derived from the image
itself (the estimated particle radius ``r``, the image size and the noise level), so the
same code works for 640 px HAADF-STEM frames with 4 px particles and 2048 px frames
with 40 px particles.  No pixel constant is tuned to one magnification.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi
from skimage import draw, feature, filters, measure, morphology, segmentation, transform

log = logging.getLogger(__name__)

_POLARITIES = ("bright", "dark")
_K_NOISE = 3.0
_MAX_ELONGATION = 3.0
# Two-phase images (particles that *are* the dark or bright phase, e.g. clean BF-TEM of large particles):
# Otsu's separability of the smoothed image and the convexity of the watershed-split phase. Measured on
# real images: EMPS TEM figure crops 0.85-0.93 / 0.94-0.99, HAADF-STEM catalysts on a textured support
# 0.64-0.80 / 0.87-0.93 (their bright phase is the support, not particles).
_TWO_PHASE_SEPARABILITY = 0.83
_TWO_PHASE_SOLIDITY = 0.935
# Rims of edge-bright particles (see fill_rims): an arc over at least a third of the circle (12 of 36 sectors of
# 10 degrees), at least 4 px in radius, no wider than 40 % of its radius (a filled blob's pixels spread over its
# whole radius).
_RIM_SECTORS, _RIM_MIN_SECTORS = 36, 12
_RIM_MIN_RADIUS = 4.0
_RIM_MAX_WIDTH = 0.4
# The bright phase of the coarse image is taken for the support (and the scale search restricted to it) only when
# it covers at least a fifth of the frame: on the 33 STEM catalyst images the support covers 22-86 %, while on a
# flat film (EMPS, BF-TEM on carbon) a smaller bright phase is the particles themselves, and restricting the
# search to them makes every particle-sized response dense: the score then peaks at the pixel noise.
_MIN_SUPPORT_FRACTION = 0.2
# A component is a particle only when its mean contrast stands this many robust standard deviations above what
# the image's background gives for a mean over as many pixels (see significant_components): noise clusters that
# the threshold picks out reach 3-6 (the unit tests' carbon frames at 5-100 e-/px, smoothed at 0.4 r, keep
# specks up to 5.5), a 20 px particle at 5 e-/px 8-10. 5 would find more STEM particles at 20 e-/px (demo box
# recall 0.29 instead of 0.24) but hands on noise specks.
_K_SIGNIFICANT = 6.0
# The test runs on noisy images only: pixel noise (see pixel_noise) above a fifth of the threshold's contrast.
# The 14 clean 640 px STEM catalyst images have 0.01-0.09, the same images at 100 e-/px or less 0.33-4.6; on
# clean images the support's texture, not noise, is the background, and the threshold already deals with it.
_NOISY = 0.2
# A noisy image is smoothed with a Gaussian of 0.4 r instead of r/4 before the top-hat: closer to the matched
# filter of a disc of radius r, at the cost of sharp outlines that the edge redraw (edges.py) restores. 0.3 / 0.4
# / 0.5 gave demo box F1 0.356 / 0.375 / 0.381 at 20 e-/px; 0.4 keeps the synthetic discs' IoU higher.
_NOISY_SIGMA = 0.4
# Scale search in noise: a scale counts only where its strongest responses stand 5 times above what the pixel
# noise alone gives there, and the spread they are measured against is the texture's, the noise's share taken
# out (but at least half of the whole spread, so that a flat noisy frame does not make every scale sharp).
# On 23 bench images at 20 e-/px the radius came within 30 % of its clean value for 52 % of them (17 % before).
# At 4 times, the finest scales of the demo images at 100 e-/px (noise and texture, flat scores) passed and came
# first: radius 2 px instead of the clean 4-5 (demo box F1 at 100 / 20 / 5 e-/px 0.433 / 0.328 / 0.176 at 4,
# 0.483 / 0.360 / 0.174 at 4.5, 0.513 / 0.362 / 0.153 at 5, 0.513 / 0.357 / 0.119 at 6).
_NOISE_STRENGTH = 5.0
_TEXTURE_FLOOR = 0.5
# The global threshold's phase is taken instead of the top-hat's particles when it is the larger mask and its
# outline lies on edges 1.25 times as strong (median gradient magnitude at 2 px, see edge_strength): large
# particles on an uneven film, not clean enough for is_two_phase, of which the top-hat's disc keeps pieces (where
# the top-hat finds more, as the discs that fill_rims makes of edge-bright particles, it is kept). On 30 EMPS images
# pooled particle IoU 0.25 -> 0.40; the HAADF support phase's outline scores at most 1.21 times the particles'.
_EDGE_MARGIN = 1.25
_EDGE_SIGMA = 2.0
# ... and only when that outline's edges are at least 1.75 times the image's median gradient: where a threshold
# cuts a smooth random field (a noise frame), the gradient along its outline is 1.3-1.45 times the median
# (level crossings are likelier where the field changes fast), so the phases of noise are never taken.
_EDGE_MIN = 1.75
# A top-hat mask of less than 1 % of the global threshold's phase is a few specks (on the EMPS images: 0-0.5 % in
# most, the particles being the phase), whose outlines, picked for their contrast, are sharp whatever the image:
# its edges are not compared, and the phase is taken on its own edges (_EDGE_MIN). On the STEM and demo images,
# clean and at 100-5 e-/px, the top-hat mask is at least 1.2 % of the phase (the support) and is kept (33 STEM and 10
# demo images: box F1 unchanged at every dose). 99 EMPS images, pooled particle IoU clean / 100 / 20 / 5 e-/px:
# 0.357 / 0.360 / 0.344 / 0.334 -> 0.450 / 0.476 / 0.408 / 0.436.
_SPECKS = 0.01
# On a noisy image the global threshold, its figures and the edge test above run on the image smoothed by the
# Gaussian that brings the pixel noise down to a tenth of the contrast between the two phases (white noise: a
# Gaussian of sigma s divides it by 2 sqrt(pi) s). On the 99 EMPS images (pooled particle IoU at 100 / 20 / 5
# e-/px, without the specks rule above) a tenth gave 0.360 / 0.344 / 0.334, 0.085 0.371 / 0.345 / 0.316, 0.12
# 0.360 / 0.353 / 0.258 (a few large images flip between the phase and the top-hat); 0.327 / 0.318 / 0.154
# without the smoothing. Clean images keep their default.
_PHASE_NOISE = 0.1
# White pixel noise of standard deviation n has standard deviation n / (2 sqrt(pi) s) after a Gaussian of sigma s.
_NOISE_AFTER_GAUSSIAN = 2 * np.sqrt(np.pi)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got an array of shape {image.shape}")
    return image.astype(np.float32, copy=False)


def _downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Block-mean downsampling by an integer factor (cheap anti-aliased pyramid level)."""
    if factor <= 1:
        return image
    h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    return image[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def _mad_sigma(values: np.ndarray) -> float:
    """Robust standard deviation (1.4826 * median absolute deviation)."""
    med = np.median(values)
    return float(1.4826 * np.median(np.abs(values - med))) or float(values.std()) or 1e-12


def estimate_particle_radius(image: np.ndarray) -> float:
    """Characteristic radius (px) of the bright particles in ``image``.

    Computes the scale-normalised Laplacian-of-Gaussian response ``-s^2 LoG_s`` over a
    geometric range of scales ``s`` and scores each scale by how *sparse* its strongest
    responses are: the 99.5th percentile of the response in units of its own robust
    spread (median + MAD).  Particles are small, compact outliers at their own scale,
    while the support is bright and blobby everywhere, so its response is dense and its
    score low; this is what stops the larger support blobs from winning, as a plain
    maximum of the response would.  The first clear peak of the score (the smallest
    scale that is a local maximum within 70 % of the best) is taken, and converted to a
    radius with ``r = 1.6 s`` (``sqrt(2) s`` for an ideal disc; real, blurred particles
    at the p99.5 score come out about a quarter smaller).

    The score is taken over the support only (the bright phase of a coarse image, when it
    covers at least a fifth of the frame: particles sit on the support, not in vacuum); a
    smaller bright phase is the particles themselves on a flat film, and every pixel is used.

    In noise (Lindeberg's scale selection assumes none) the pixel noise inflates the spread at
    fine scales, where a normalised LoG passes most of it, and the score's peak drifted to
    coarser scales (a 4 px STEM particle read as 10-20 px at 20 e-/px). The noise's share of
    the spread at each scale is known from Immerkaer's pixel-noise estimate and the kernel's
    L2 norm (white noise); it is taken out in quadrature, leaving the texture's spread, and a
    scale whose strongest responses are within 5 times the noise's is not a particle scale.
    On a clean image the noise's share is nil and the score is the plain one.

    Coarse scales are computed on a block-mean pyramid, so a 2048 px image costs about
    as much as a 640 px one.  Use on bright-particle images (invert BF-TEM first).
    """
    image = _check_image(image)
    base = max(1, int(np.ceil(max(image.shape) / 1024)))  # work on <= ~1024 px
    smax = min(image.shape) / 32.0 / base  # larger scales are the support, not particles
    scales = np.geomspace(1.0, max(smax, 2.0), 16)
    levels: dict[int, np.ndarray] = {}
    coarse = ndi.gaussian_filter(_downsample(image, base), min(image.shape) / base / 64)
    support = coarse > filters.threshold_otsu(coarse)  # particles sit on the support, not in vacuum
    if support.mean() < _MIN_SUPPORT_FRACTION:  # no support/vacuum split, only particles picked out: every pixel
        support[:] = True
    noise = pixel_noise(_downsample(image, base))
    score = np.empty(len(scales))
    for i, s in enumerate(scales):
        f = max(1, 2 ** int(np.floor(np.log2(s / 1.5))))  # keep s/f >= 1.5 px at each level
        if f not in levels:
            levels[f] = _downsample(image, base * f)
        resp = -((s / f) ** 2) * ndi.gaussian_laplace(levels[f], s / f)
        sup = support[: resp.shape[0] * f : f, : resp.shape[1] * f : f][: resp.shape[0], : resp.shape[1]]
        v = resp[sup]
        strength, spread = np.percentile(v, 99.5) - np.median(v), _mad_sigma(v)
        from_noise = noise / f * _log_norm(s / f)  # the pixel noise's share of the response's spread
        texture = np.sqrt(max(spread**2 - from_noise**2, (_TEXTURE_FLOOR * spread) ** 2))
        score[i] = strength / texture if strength >= _NOISE_STRENGTH * from_noise else 0.0
    best = score[1:-1].max()
    peaks = [i for i in range(1, len(scales) - 1)
             if score[i] >= score[i - 1] and score[i] >= score[i + 1] and score[i] >= 0.7 * best]
    i = peaks[0] if peaks else int(np.argmax(score))
    return float(1.6 * scales[i] * base)


def _log_norm(s: float) -> float:
    """L2 norm of the sampled scale-normalised Laplacian-of-Gaussian kernel s^2 LoG_s: the standard deviation of
    its response to white noise of unit standard deviation."""
    half = int(np.ceil(4 * s))
    delta = np.zeros((2 * half + 1, 2 * half + 1), np.float64)
    delta[half, half] = 1.0
    return float(s**2 * np.linalg.norm(ndi.gaussian_laplace(delta, s)))


def _split_solidity(mask: np.ndarray) -> float:
    """Area-weighted solidity of a mask's pieces after a distance-transform watershed: near 1 when the
    mask is made of convex particles (touching or not), lower for an irregular support network."""
    distance = ndi.distance_transform_edt(mask)
    labels = measure.label(mask)
    peaks = feature.peak_local_max(distance, min_distance=5, labels=labels, exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    pieces = measure.regionprops(segmentation.watershed(-distance, markers, mask=mask))
    area = sum(p.area for p in pieces)
    return float(sum(p.area * p.solidity for p in pieces) / area) if area else 0.0


def phase_noise_sigma(smooth: np.ndarray, noise: float) -> float:
    """Gaussian sigma (px) that brings an image's pixel noise (`noise`, `pixel_noise`) down to a tenth of the
    contrast between its two phases (Otsu's class means of `smooth`, the image after the default smoothing of
    two_phase_mask): the smoothing that a noisy image needs before a global threshold and the edge test. Near 0 on
    a clean image."""
    if np.ptp(smooth) < 1e-6:
        return 0.0
    mask = smooth > filters.threshold_otsu(smooth)
    contrast = float(smooth[mask].mean() - smooth[~mask].mean()) if mask.any() and not mask.all() else 0.0
    return noise / (_NOISE_AFTER_GAUSSIAN * _PHASE_NOISE * contrast) if contrast > 0 else 0.0


def two_phase_mask(image: np.ndarray, noise: float) -> tuple[np.ndarray, dict[str, float]]:
    """Bright phase of a bright-particle image by a global Otsu threshold, with the figures that say
    whether the image is two-phase: (mask, {"separability", "solidity", "fraction", "noise_sigma"}).

    Large particles (tens to hundreds of px, as in EMPS or BF-TEM of colloids) do not fit the
    top-hat's disc: on such images the particles are simply the one phase, and a global threshold
    outlines them best (pooled particle IoU 0.84 on the EMPS bench images, against 0.01 for the
    top-hat). `separability` is Otsu's effectiveness (between-class over total variance, the variance that
    the pixel noise (`noise`, `pixel_noise`) leaves after the smoothing taken out). The image is smoothed with a
    Gaussian of max(1, side/256) px, or of `phase_noise_sigma` where that is larger: at low dose the pixel noise
    otherwise breaks the phase into specks and lowers its separability.
    """
    default = max(1.0, min(image.shape) / 256)
    smooth = ndi.gaussian_filter(image, default)
    noise_sigma = phase_noise_sigma(smooth, noise)
    sigma = max(default, noise_sigma)
    if sigma > default:
        smooth = ndi.gaussian_filter(image, sigma)
    if np.ptp(smooth) < 1e-6:
        return np.zeros(image.shape, bool), {"separability": 0.0, "solidity": 0.0, "fraction": 0.0,
                                             "noise_sigma": noise_sigma}
    t = filters.threshold_otsu(smooth)
    mask = smooth > t
    fraction = float(mask.mean())
    variance = smooth.var()
    variance = max(variance - (noise / (_NOISE_AFTER_GAUSSIAN * sigma)) ** 2, 0.5 * variance)
    separability = fraction * (1 - fraction) * (smooth[mask].mean() - smooth[~mask].mean()) ** 2 / variance
    mask = ndi.binary_fill_holes(morphology.remove_small_objects(mask, max_size=20))
    mask = ndi.binary_opening(mask, morphology.disk(2))
    return mask, {"separability": float(separability), "solidity": _split_solidity(mask), "fraction": fraction,
                  "noise_sigma": noise_sigma}


def is_two_phase(figures: dict[str, float]) -> bool:
    """True for an image whose particles are one of two well-separated phases (see two_phase_mask)."""
    return (figures["separability"] >= _TWO_PHASE_SEPARABILITY and figures["solidity"] >= _TWO_PHASE_SOLIDITY
            and 0.005 <= figures["fraction"] <= 0.6)


def fill_rims(mask: np.ndarray) -> np.ndarray:
    """The mask with each rim of an edge-bright particle filled in: the disc that the rim outlines.

    In SEM (secondary electrons escape more easily near edges), and in TEM where a particle's edge is darker
    than its body (bright after the inversion of polarity 'dark'), a particle can be brightest at its edge,
    with a body no brighter than the support. A threshold keeps the rim only: a
    ring or, where one side of the edge is brighter than the other, a crescent. Filling holes closes a whole
    ring but not a crescent, and a rim's width, not the particle, is what the PSD and the chain would learn.
    A component is taken for a rim when its pixels lie on a circle (least-squares fit, skimage's
    CircleModel): at least 4 px in radius, covering at least a third of the circle's angles, and a band no
    wider than 40 % of the radius (a filled particle's pixels spread over its whole radius, so a compact
    blob never passes). It is replaced by the disc out to the rim's outer edge; every other component is
    left as it is.
    """
    out = np.array(mask, bool)
    for region in measure.regionprops(measure.label(out)):
        points = region.coords.astype(float)  # fewer pixels than sectors cannot cover them: no fit needed
        circle = measure.CircleModel.from_estimate(points) if len(points) >= _RIM_MIN_SECTORS else None
        if not circle or not _RIM_MIN_RADIUS <= circle.radius <= max(out.shape):
            continue
        offset = points - circle.center
        width = 2 * np.percentile(np.abs(np.hypot(*offset.T) - circle.radius), 90)
        angles = np.arctan2(offset[:, 0], offset[:, 1])
        sectors = np.unique(np.floor((angles + np.pi) / (2 * np.pi) * _RIM_SECTORS).astype(int) % _RIM_SECTORS)
        if width <= _RIM_MAX_WIDTH * circle.radius and len(sectors) >= _RIM_MIN_SECTORS:
            out[draw.disk(tuple(circle.center), circle.radius + width / 2, shape=out.shape)] = True
    return out


def classical_mask(image: np.ndarray, polarity: str = "bright",
                   radius: float | None = None) -> np.ndarray:
    """Rough particle mask of a 2-D float image in [0, 1].

    Images made of two well-separated phases whose particle phase is convex pieces (large particles
    on a clean film, see `two_phase_mask`) get a global threshold; all others (small particles on a
    textured support) the top-hat pipeline below, unless the global threshold's outline lies on clearly
    stronger edges than the top-hat's (`edge_strength`, 1.25 times: large particles on an uneven film,
    too large for the top-hat's disc; a top-hat mask of a few specks, under 1 % of the phase, is not compared);
    on a noisy image the threshold and both edge measures come after the smoothing of `phase_noise_sigma`. A
    given ``radius`` forces the top-hat.

    ``polarity``: 'bright' (HAADF-STEM) or 'dark' (BF-TEM, dark particles on a bright
    background; the image is inverted first).  ``radius``: particle radius in px, from
    :func:`estimate_particle_radius` when None.  Returns a 2-D bool mask.

    Steps, with ``r`` the particle radius:
      1. denoise with a Gaussian of ``r/4`` (keeps particle edges, kills pixel noise); on a noisy
         image (pixel noise above a fifth of the threshold's contrast at ``r/4``) of ``0.4 r``,
         nearer the matched filter of a disc;
      2. background = grey opening with a disc of ``2r``: everything a disc twice the
         particle size fits into (the support, its thickness ramps, large blobs) is
         background, so the top-hat (image - background) keeps only particle-sized bumps.
         The opening runs on a pyramid level where ``r`` is ~8 px, for speed;
      3. threshold the top-hat at the stricter of Otsu and ``median + 3 MAD`` (the robust
         noise/texture level), so that images with few particles or none do not get a
         threshold inside the background distribution; the rims of edge-bright particles
         (SEM) become the discs they outline (`fill_rims`);
      4. cleanup: drop objects smaller than ``pi (r/3)^2`` and thin, long ones (axis ratio
         > 3: support ridges and edges that the disc does not fit into); on a noisy image
         also every object whose mean
         contrast is not significant against the noise (`significant_components`: shot-noise
         clusters, so that pure noise gives an empty mask, not specks); fill holes, light
         opening with a disc of ``r/6``.
    """
    if polarity not in _POLARITIES:
        raise ValueError(f"polarity must be one of {_POLARITIES}, got {polarity!r}")
    image = _check_image(image)
    if polarity == "dark":
        image = 1.0 - image
    noise = pixel_noise(image)
    if radius is None:
        two_phase, figures = two_phase_mask(image, noise)
        if is_two_phase(figures):
            return two_phase
    r = float(radius) if radius is not None else estimate_particle_radius(image)
    r = max(r, 1.0)
    mask = _tophat_mask(image, r, noise)
    if radius is not None or two_phase.sum() <= mask.sum():
        return mask
    sigma = figures["noise_sigma"]
    specks = mask.sum() < _SPECKS * two_phase.sum()
    if edge_strength(image, two_phase, sigma) > max(_EDGE_MIN, 0.0 if specks else
                                                    _EDGE_MARGIN * edge_strength(image, mask, sigma)):
        return two_phase  # the particles are the global threshold's phase, which the top-hat cut into pieces
    return mask


def _tophat_mask(image: np.ndarray, r: float, noise: float) -> np.ndarray:
    """The top-hat pipeline's mask for particles of radius r (steps 1-4 of classical_mask); noise: the image's
    `pixel_noise`."""
    tophat, bg, level, threshold = _tophat(image, r, r / 4.0)
    noisy = noise > _NOISY * (threshold - level)
    if noisy:
        tophat, bg, level, threshold = _tophat(image, r, _NOISY_SIGMA * r)
    above = tophat > threshold
    mask = fill_rims(above)

    labels, _ = ndi.label(mask)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= np.pi * (r / 3.0) ** 2
    for p in measure.regionprops(labels):  # support ridges/edges are thin and long, particles round
        if keep[p.label] and p.axis_major_length > _MAX_ELONGATION * max(p.axis_minor_length, 1.0):
            keep[p.label] = False
    keep[0] = False
    mask = keep[labels]
    if noisy:
        keep &= significant_components(image - bg, labels, sizes)
        # the stronger smoothing spreads each particle: its outline is where it falls to half its peak
        # (pixels that fill_rims added stay: a rim's body need not be bright)
        peaks = np.asarray(ndi.maximum(tophat, labels, np.arange(len(sizes))))
        mask = keep[labels] & ~(above & (tophat <= (level + peaks[labels]) / 2))
    mask = ndi.binary_fill_holes(mask)
    return ndi.binary_opening(mask, morphology.disk(max(1, round(r / 6.0))).astype(bool))


def edge_strength(image: np.ndarray, mask: np.ndarray, noise_sigma: float = 0.0) -> float:
    """How sharply the image changes along a mask's outline: the median gradient magnitude (Gaussian derivative
    of 2 px, the scale at which an outline is placed, not the particles'; of `noise_sigma` where that is larger,
    see phase_noise_sigma: in strong noise a 2 px gradient is the noise's everywhere) on the outline's pixels,
    over the image's median gradient magnitude. A mask whose outline follows the particles' edges scores high;
    one cut through smooth ramps (a global threshold on an uneven film) or through texture (a top-hat too small
    for the particles) scores low. An empty mask or one of a few pixels scores 0."""
    gradient = ndi.gaussian_gradient_magnitude(image, max(_EDGE_SIGMA, noise_sigma))
    outline = mask ^ ndi.binary_erosion(mask)
    if outline.sum() < 10:
        return 0.0
    return float(np.median(gradient[outline]) / (np.median(gradient) + 1e-12))


def _tophat(image: np.ndarray, r: float, sigma: float) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(top-hat, background, the top-hat's median, its threshold) of the image smoothed with a Gaussian of
    `sigma`: the background is a grey opening with a disc of 2r, run on a pyramid level where r is ~8 px; the
    threshold the stricter of Otsu's and median + 3 MAD."""
    smooth = ndi.gaussian_filter(image, max(sigma, 0.5))
    f = max(1, int(r // 8))
    bg = morphology.opening(_downsample(smooth, f), morphology.disk(max(1, round(2 * r / f)), decomposition="sequence"))
    if f > 1:
        bg = transform.resize(bg, smooth.shape, order=1, mode="edge", anti_aliasing=False)
    tophat = smooth - bg
    level = float(np.median(tophat))
    return tophat, bg, level, max(level + _K_NOISE * _mad_sigma(tophat), float(filters.threshold_otsu(tophat)))


def pixel_noise(image: np.ndarray) -> float:
    """Standard deviation of an image's pixel noise, by Immerkaer's estimate (1996) in its robust form: the
    second-difference mask [[1, -2, 1], [-2, 4, -2], [1, -2, 1]] cancels the image's smooth structure, and
    the MAD of its response over the mask's norm (6) is the noise's standard deviation."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    return _mad_sigma(ndi.convolve(image, kernel, mode="reflect")) / 6.0


def significant_components(tophat: np.ndarray, labels: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per label (index 0 included, always False): whether the component's mean contrast is a particle's and
    not the noise's.

    In a low-dose image the threshold also picks out clusters of noise, at every size up to the particles'
    (pure shot noise gives dozens per frame). A component of area A is kept when its mean of the
    (unsmoothed) top-hat stands at least 6 robust standard deviations (MAD) above the background's median,
    the standard deviation being that of the background's means over windows of about A pixels (measured on
    the image itself, so correlated noise and support texture count as they are). Every other component is
    noise: dropped, and logged when it was most of the mask.
    """
    background = labels == 0
    level = float(np.median(tophat[background])) if background.any() else 0.0
    means = ndi.mean(tophat, labels, np.arange(len(sizes)))
    keep = np.zeros(len(sizes), bool)
    sides = np.maximum(1, 2 ** np.floor(np.log2(np.sqrt(np.maximum(sizes, 1))))).astype(int)
    for side in np.unique(sides[1:]):  # windows of 1, 2, 4, ... px a side: the largest within the component's area
        local = ndi.uniform_filter(tophat, int(side))[background]
        spread = _mad_sigma(local) if local.size else 0.0
        chosen = sides == side
        keep[chosen] = means[chosen] - level >= _K_SIGNIFICANT * spread
    keep[0] = False
    dropped = int(np.count_nonzero(~keep[1:]))
    if dropped and dropped >= (len(sizes) - 1) / 2:
        log.warning("classical rough mask: %d of %d components were noise (contrast below %.0f sigma of the "
                    "background at their size) and were dropped", dropped, len(sizes) - 1, _K_SIGNIFICANT)
    return keep
