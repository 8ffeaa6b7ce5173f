"""Reading and writing EM images and masks, and their pixel size.

Every image enters the pipeline as a 2-D float32 array in [0, 1] so that the networks, the
classical segmenter and the PSD code never have to care about file format, bit depth or colour.
The pixel size travels separately (nm, or None when the file carries no calibration), because only
the particle-size distribution needs it.

Every microscope format, TIFF included, is read through RosettaSciIO, the readers the EM community
maintains for each vendor's metadata (Zeiss, FEI/Thermo, JEOL SightX, TVIPS, Olympus SIS, Gatan DM and
its TIFF export, ImageJ; DM, EMD Velox/NCEM, TIA files): calibration written by hand for each vendor
missed half of the real instrument files. Two TIFF calibrations RosettaSciIO leaves aside are added:
OME's PhysicalSize, and the resolution tags (through RosettaSciIO's own force_read_resolution).
PNG and JPEG, which carry no calibration, are read by imageio.
A file holding several frames (a TIFF stack, a DM image series, a 3-D EMD dataset) is a stack of
images: `stack_sources` names them `<file stem>_f000`, `<file stem>_f001`, ...
"""

from __future__ import annotations

import importlib
import json
import os
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from math import prod
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile
from rsciio.tiff import file_reader as read_tiff
from rsciio.utils.rgb import is_rgbx, rgbx2regular_array

from .annotations import annotation_regions, bottom_bar_rows
from .files import atomic
from .scale_bar import ScaleBar, read_scale_bar

# RosettaSciIO plugin (module under rsciio) of each microscope format.
TIFF_SUFFIXES = (".tif", ".tiff")
RSCIIO_PLUGINS = {".tif": "tiff", ".tiff": "tiff", ".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph",
                  ".emd": "emd", ".ser": "tia", ".emi": "tia"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", *RSCIIO_PLUGINS)
# Where the calibration of each format comes from, as the validation report and the image's JSON say it.
# TIFF: the first tag of TIFF_VENDOR_TAGS present among the tags RosettaSciIO returns names the vendor
# whose metadata RosettaSciIO read (FEI's tag comes back parsed, as fei_metadata).
TIFF_VENDOR_TAGS = [("fei_metadata", "FEI/Thermo Fisher metadata (FEI_HELIOS/FEI_SFEG tag)"),
                    ("CZ_SEM", "Zeiss SEM metadata (CZ_SEM tag)"), ("TVIPS", "TVIPS metadata (TVIPS tag)"),
                    ("OlympusSIS", "Olympus SIS metadata (SIS tag)"), ("SightX_Notes", "JEOL SightX metadata"),
                    ("65003", "Gatan DigitalMicrograph TIFF export (DM tags)")]
PLUGIN_SOURCES = {"digitalmicrograph": "Gatan DigitalMicrograph axes", "emd": "EMD axes (Velox or NCEM)",
                  "tia": "TIA axes (.ser)"}

# Length units as RosettaSciIO, ImageJ, OME and FEI write them (micro signs folded to "u" first).
NM_PER_UNIT = {"m": 1e9, "cm": 1e7, "mm": 1e6, "um": 1e3, "micron": 1e3, "microns": 1e3, "micrometer": 1e3,
               "nm": 1.0, "nanometer": 1.0, "A": 0.1, "\u00c5": 0.1, "\u212b": 0.1, "angstrom": 0.1, "pm": 1e-3}
# Units that mean "not calibrated" in the files' axes.
NO_UNITS = {"", "[]", "<undefined>", "pixel", "pixels", "px", "none"}
# Resolution tags giving pixels larger than this are the default dpi of image software (72 dpi is
# 0.35 mm per pixel), not a microscope calibration.
MAX_TIFF_RESOLUTION_PIXEL_NM = 1e4
# An RGB file is grey when the channels agree in 99 % of the pixels (JPEG noise and a small
# coloured annotation allowed); a colour image is refused rather than silently averaged.
GREY_CHANNEL_TOLERANCE = 10 / 255
SQUARE_PIXEL_TOLERANCE = 0.01
# The metadata's pixel size and a scale bar's reading may differ by this fraction before they are said to disagree
# (a bar measured to a fraction of a pixel over 50-200 px, a label rounded to one figure).
SCALE_BAR_AGREEMENT = 0.02


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files of a stack folder, sorted by name; hidden files are skipped.

    A TIA .emi file only holds the metadata of its acquisition's .ser files (NAME_1.ser, ...);
    when they are in the folder they are the images and the .emi is skipped. A link whose target is
    gone (moved data, an unmounted drive) is an error: skipped, its image would silently be missing
    from the stack's PSD.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: image folder does not exist")
    named = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    broken = [p for p in named if p.is_symlink() and not p.exists()]
    if broken:
        raise FileNotFoundError(f"{broken[0]}: a link to {os.readlink(broken[0])}, which does not exist"
                                + (f" ({len(broken) - 1} more such links in {folder})" if len(broken) > 1 else ""))
    files = [p for p in named if p.is_file()]
    ser_stems = {p.stem.rsplit("_", 1)[0] for p in files if p.suffix.lower() == ".ser"}
    files = [p for p in files if not (p.suffix.lower() == ".emi" and p.stem in ser_stems)]
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return files


def stack_sources(folder: str | os.PathLike, frames=None) -> dict[str, tuple[str, int]]:
    """{image name: (file, frame)} of a stack folder.

    A single-image file is named by its stem; frame k of a multi-frame file is `<stem>_f<kkk>`.
    Names are the workflow's {image} wildcard, so they must be unique within the stack.
    `frames` counts a file's frames (`count_frames`, or a `FrameCounts` that remembers them).
    """
    frames = frames or count_frames
    sources: dict[str, tuple[str, int]] = {}
    for path in list_images(folder):
        n = frames(path)
        names = [path.stem] if n == 1 else [f"{path.stem}_f{k:03d}" for k in range(n)]
        for frame, name in enumerate(names):
            if name in sources:
                raise ValueError(f"{folder}: {sources[name][0]} and {path} both give the image name {name}; "
                                 "rename one")
            sources[name] = (str(path), frame)
    return sources


class FrameCounts:
    """`count_frames` that remembers, in a JSON file, the frame count of every EM file by its path, size and
    modification time. The workflow lists each stack's images when it is parsed, and it is parsed again by every
    cluster job: opening each EM file's header (5-30 ms a file) would be repeated by each. PNG and JPEG files hold
    one image and are never opened. The file is rewritten (atomically) only when a count was added."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.known = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.known = {}
        self.changed = False

    def __call__(self, path: str | os.PathLike) -> int:
        path = Path(path)
        if path.suffix.lower() not in RSCIIO_PLUGINS:
            return count_frames(path)
        stat = path.stat()
        key, signature = str(path.resolve()), [stat.st_size, stat.st_mtime_ns]
        entry = self.known.get(key)
        if entry is None or entry[:2] != signature:
            self.known[key] = [*signature, count_frames(path)]
            self.changed = True
        return self.known[key][2]

    def save(self) -> None:
        if self.changed:
            with atomic(self.path) as tmp:
                tmp.write_text(json.dumps(self.known))
            self.changed = False


def to_unit_range(data: np.ndarray) -> np.ndarray:
    """Scale raw pixel data to float32 [0, 1].

    8-bit data keep their absolute scale (divide by 255); deeper or float data are stretched
    between the 0.1 and 99.9 percentiles so that a few hot pixels do not flatten the image.
    """
    if data.dtype == np.uint8:
        return data.astype(np.float32) / 255.0
    data = data.astype(np.float32)
    lo, hi = np.percentile(data, [0.1, 99.9])
    if hi <= lo:
        return np.zeros(data.shape, np.float32)
    return np.clip((data - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


class ImageFileError(ValueError):
    """An image file that cannot be read, or holds no usable grey image; the message names the file."""


@contextmanager
def _reading(path: Path):
    """Around every reader: any failure names the file (the libraries' messages often do not)."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ImageFileError(f"{path}: unsupported image format {path.suffix!r}; "
                             f"supported: {', '.join(IMAGE_SUFFIXES)}")
    try:
        yield
    except ImageFileError:
        raise
    except Exception as err:  # the readers raise many kinds
        raise ImageFileError(f"{path}: cannot read image ({type(err).__name__}: {err})") from err


def count_frames(path: str | os.PathLike) -> int:
    """How many 2-D images the file holds (reads the header only)."""
    path = Path(path)
    with _reading(path):
        if path.suffix.lower() in RSCIIO_PLUGINS:
            return prod(_em_signal(path)["data"].shape[:-2])
        return 1


def read_image(path: str | os.PathLike, frame: int = 0, crop: dict[str, int] | None = None) -> np.ndarray:
    """One grey EM image (frame `frame` of a multi-frame file) as float32 [0, 1].

    crop is cut off before the contrast is set, so a burned-in data bar neither sets the
    percentiles of 16-bit data nor makes an image with a coloured label look like a colour image.
    """
    path = Path(path)
    return _to_image(_read_frame(path, frame)[0], crop, path)


def _read_frame(path: Path, frame: int) -> tuple[np.ndarray, dict | None]:
    """(raw data of one frame, the RosettaSciIO signal it comes from; None for PNG/JPEG)."""
    with _reading(path):
        signal = None
        if path.suffix.lower() in RSCIIO_PLUGINS:
            signal = _em_signal(path)
            data = signal["data"]
            data = data.reshape(-1, *data.shape[-2:])
        else:
            data = np.asarray(iio.imread(path))[None]
        if not 0 <= frame < len(data):
            raise ImageFileError(f"{path}: no frame {frame} (the file holds {len(data)})")
        data = np.asarray(data[frame])
        if is_rgbx(data):  # RosettaSciIO's structured RGB(A) pixels
            data = rgbx2regular_array(data)
    return data, signal


def _to_image(data: np.ndarray, crop: dict[str, int] | None, path: Path) -> np.ndarray:
    """Raw frame data -> the cropped float32 [0, 1] grey image; NaN or infinite pixels are refused."""
    if crop:
        data = crop_image(data, crop, path)
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        bad = int(data.size - np.isfinite(data).sum())
        raise ImageFileError(f"{path}: {bad} of {data.size} pixels are NaN or infinite; replace them in the "
                             "file, or cut them off with the stack's crop setting")
    return to_unit_range(_grey(data, path))


def _grey(data: np.ndarray, path: Path) -> np.ndarray:
    """A 2-D grey image from grey or equal-channel RGB(A) data; colour images are refused."""
    if data.ndim == 3 and data.shape[-1] in (3, 4):
        rgb = data[..., :3].astype(np.float32)
        spread = rgb.max(axis=-1) - rgb.min(axis=-1)
        full_scale = 255.0 if data.dtype == np.uint8 else max(float(np.ptp(rgb)), 1e-12)
        if np.percentile(spread, 99) > GREY_CHANNEL_TOLERANCE * full_scale:
            raise ImageFileError(f"{path}: a colour image; EM images are grey (convert it to grey first)")
        data = rgb.mean(axis=-1).astype(data.dtype)
    if data.ndim != 2:
        raise ImageFileError(f"{path}: expected a 2-D grey image, got shape {data.shape}")
    return data


def read_pixel_size_nm(path: str | os.PathLike) -> float | None:
    """Pixel size in nm from the file's metadata, or None when the file carries no calibration."""
    path = Path(path)
    with _reading(path):
        signal = _em_signal(path) if path.suffix.lower() in RSCIIO_PLUGINS else None
    return read_calibration(path, signal)[0]


def read_calibration(path: Path, signal: dict | None) -> tuple[float | None, str | None]:
    """(pixel size in nm, where the file records it) of a file and its RosettaSciIO signal; (None, None)
    when it records none.

    PNG and JPEG carry none (set pixel_size_nm in the config); non-square pixels are refused,
    because diameters would then depend on the direction.
    """
    with _reading(path):
        sizes, where = (None, None) if signal is None else _signal_pixel_size_nm(path, signal)
    if sizes is None:
        return None, None
    y, x = sizes
    if abs(x - y) > SQUARE_PIXEL_TOLERANCE * max(x, y):
        raise ImageFileError(f"{path}: pixels are not square ({x:.4g} x {y:.4g} nm); resample the image first")
    return float(x), where


def _signal_pixel_size_nm(path: Path, signal: dict) -> tuple[tuple[float, float] | None, str | None]:
    """((y, x) pixel size, its source) from the signal's image axes; for a TIFF whose axes RosettaSciIO
    left uncalibrated, from OME metadata, then from the resolution tags."""
    plugin = RSCIIO_PLUGINS[path.suffix.lower()]
    sizes = _axes_pixel_size_nm(signal["axes"][-2:])
    if plugin != "tiff":
        return sizes, PLUGIN_SOURCES[plugin] if sizes else None
    if sizes is not None:
        return sizes, _tiff_source(signal["original_metadata"])
    sizes = _imagej_pixel_size_nm(path, signal["axes"][-2:])
    if sizes is not None:
        return sizes, "ImageJ metadata (description and resolution tags)"
    sizes = _ome_pixel_size_nm(path)
    if sizes is not None:
        return sizes, "OME metadata (PhysicalSizeX/Y)"
    forced = read_tiff(str(path), lazy=True, force_read_resolution=True)[0]
    sizes = _axes_pixel_size_nm(forced["axes"][-2:])
    if sizes is not None and max(sizes) <= MAX_TIFF_RESOLUTION_PIXEL_NM:
        return sizes, "TIFF resolution tags"
    return None, None


def _tiff_source(tags: dict) -> str:
    """Whose metadata RosettaSciIO read the calibration of a TIFF from (its tags as RosettaSciIO returns them)."""
    for tag, source in TIFF_VENDOR_TAGS:
        if tag in tags:
            return source
    if str(tags.get("ImageDescription", "")).startswith("ImageJ="):
        return "ImageJ metadata (description and resolution tags)"
    return "TIFF metadata"


def data_bar_rows(signal: dict | None, rows: int) -> int:
    """Rows of a data bar that the vendor's metadata records below the scanned image (FEI/Thermo: the
    file's rows beyond [Image] ResolutionY, i.e. [PrivateFei] DatabarHeight); 0 when none is recorded."""
    if signal is None:
        return 0
    fei = signal["original_metadata"].get("fei_metadata") or {}
    scanned = (fei.get("Image") or {}).get("ResolutionY")
    return max(rows - int(scanned), 0) if scanned else 0


def nm_per_unit(unit: str) -> float | None:
    """nm in one `unit` (m, um, µm, micron, nm, Å, A, pm ...); None for an unknown unit."""
    unit = unit.strip().replace("\u00b5", "u").replace("\u03bc", "u").replace("\\u00B5", "u")
    return NM_PER_UNIT.get(unit, NM_PER_UNIT.get(unit.lower()))


def _axes_pixel_size_nm(axes: list[dict]) -> tuple[float, float] | None:
    """(y, x) pixel size of RosettaSciIO image axes; None when the axes are uncalibrated."""
    units = [str(ax.get("units") or "").strip() for ax in axes]
    if all(u.lower() in NO_UNITS for u in units):
        return None
    factors = [nm_per_unit(u) for u in units]
    if None in factors:
        raise ImageFileError(f"image axes in units {units}: not a real-space image with a length calibration")
    return tuple(float(ax["scale"]) * f for ax, f in zip(axes, factors))


def _em_signal(path: Path) -> dict:
    """The first image signal of an EM file (RosettaSciIO dictionary, data lazy).

    Files may hold several signals (a Velox EMD with HAADF, DF and EDS maps; an .emi with several
    .ser): the first whose last two axes are uncalibrated or lengths is the image; spectra and
    diffraction patterns (eV, 1/nm) are skipped.
    """
    plugin = importlib.import_module(f"rsciio.{RSCIIO_PLUGINS[path.suffix.lower()]}")
    for signal in plugin.file_reader(str(path), lazy=True):
        if len(signal["data"].shape) < 2:
            continue
        try:
            _axes_pixel_size_nm(signal["axes"][-2:])
        except ImageFileError:
            continue
        return signal
    raise ImageFileError(f"{path}: holds no 2-D real-space image")


def _imagej_pixel_size_nm(path: Path, axes: list[dict]) -> tuple[float, float] | None:
    """(y, x) pixel size of an ImageJ TIFF: RosettaSciIO 0.15 reads ImageJ's scale but keeps its unit only
    when it is "micron", so the unit (nm, µm, Å ...) is taken from the ImageJ description."""
    with tifffile.TiffFile(path) as tif:
        unit = (tif.imagej_metadata or {}).get("unit") if tif.is_imagej else None
    if not unit or str(unit).lower() in NO_UNITS:
        return None
    return tuple(float(ax["scale"]) * _known_unit(str(unit), path) for ax in axes)


def _ome_pixel_size_nm(path: Path) -> tuple[float, float] | None:
    """(y, x) pixel size from OME-TIFF metadata, which RosettaSciIO 0.15 does not read."""
    with tifffile.TiffFile(path) as tif:
        if not tif.is_ome:
            return None
        pixels = next(e for e in ET.fromstring(tif.ome_metadata).iter() if e.tag.endswith("}Pixels"))
    if "PhysicalSizeX" not in pixels.attrib:
        return None
    return tuple(float(pixels.attrib[f"PhysicalSize{a}"]) * _known_unit(pixels.attrib.get(f"PhysicalSize{a}Unit",
                                                                                            "µm"), path)
                 for a in "YX")


def _known_unit(unit: str, path: Path) -> float:
    factor = nm_per_unit(unit)
    if factor is None:
        raise ImageFileError(f"{path}: unknown length unit {unit!r} in the calibration")
    return factor


def crop_image(data: np.ndarray, crop: dict[str, int], path: str | os.PathLike = "image") -> np.ndarray:
    """Cut `crop` pixels off the {top, bottom, left, right} edges (burned-in data bars, labels)."""
    top, bottom = crop.get("top", 0), crop.get("bottom", 0)
    left, right = crop.get("left", 0), crop.get("right", 0)
    h, w = data.shape[:2]
    if top + bottom >= h or left + right >= w:
        raise ValueError(f"{path}: crop {crop} leaves nothing of the {h} x {w} image")
    return data[top:h - bottom, left:w - right]


def import_image(path: str | os.PathLike, frame: int, crop: dict[str, int] | None,
                 pixel_size_nm: float | None) -> tuple[np.ndarray, dict]:
    """(the image as the workflow uses it, its record: calibration, crop, ignored annotations).

    pixel_size_nm from the config overrides the file's metadata (which is then not read for the pixel
    size, so that a file with wrong or broken calibration can still be used). Unless crop sets the bottom
    itself (`bottom: 0` keeps the rows), an information bar is cut off: the data bar that the vendor's
    metadata records (FEI/Thermo), else one found in the pixels (`annotations.bottom_bar_rows`: Zeiss and
    Hitachi SEMs record none). A bar is a segmenter's particle, and cut off it measures nothing; asking the
    user to type a height the workflow has already found only stopped stacks of SEM files. The record says
    what was cut and why (`bar_rows`; `crop_from`: config, metadata, detected, joined by " + " when the
    config cut other edges, or none), and the logs and the PSD summary say it again, so that a wrong
    detection is seen, not hidden. Scale bars and labels burned into the image are found and recorded as
    regions for the PSD and the overlay to ignore.

    The pixel size comes from, in this order: the config's pixel_size_nm, the file's metadata, the scale bar
    burned into the image (`scale_bar.read_scale_bar`: its length and its label read by OCR); `pixel_size_from`
    says which (`config`, `file`, `scale_bar`, `none`). Without a configured pixel size the bar is read in any
    case (`scale_bar`: its reading, or why it is unread), and where the metadata gives one too the two are
    compared (`scale_bar_check`: a warning when they differ by more than SCALE_BAR_AGREEMENT, else None).
    """
    path = Path(path)
    data, signal = _read_frame(path, frame)
    crop = dict(crop or {})
    crop_from, bar = ["config"] if crop else [], 0
    if "bottom" not in crop and (bar := data_bar_rows(signal, data.shape[0])):
        crop["bottom"] = bar
        crop_from.append("metadata")
    image = _to_image(data, crop, path)
    if "bottom" not in crop and (bar := bottom_bar_rows(image)):
        crop["bottom"] = bar
        crop_from.append("detected")
        image = _to_image(data, crop, path)  # without the bar, which set the contrast of 16-bit data
    scale_bar, check = None, None
    if pixel_size_nm is not None:
        source, where = "config", "stack setting pixel_size_nm"
    else:
        pixel_size_nm, where = read_calibration(path, signal)
        source = "file" if pixel_size_nm is not None else "none"
        scale_bar = read_scale_bar(image)
        if pixel_size_nm is None and scale_bar.pixel_size_nm is not None:
            pixel_size_nm, source = scale_bar.pixel_size_nm, "scale_bar"
            where = f"scale bar {scale_bar.label!r} over {scale_bar.length_px:.2f} px"
        elif pixel_size_nm is not None:
            check = scale_bar_check(pixel_size_nm, scale_bar)
    return image, {"source": str(path), "frame": frame, "crop": crop, "crop_from": " + ".join(crop_from) or "none",
                   "bar_rows": bar, "shape": list(image.shape), "pixel_size_nm": pixel_size_nm,
                   "pixel_size_from": source, "calibration": where,
                   "scale_bar": scale_bar.as_record() if scale_bar else None, "scale_bar_check": check,
                   "ignore": annotation_regions(image)}


def import_validated(record: dict) -> np.ndarray:
    """The image of `import_image`, given the record that validate_inputs wrote when it read the file
    (validated.json): only the pixels are read again. The metadata, the information bar, the scale bar's
    OCR and the annotation scan are in the record already (one pass per image: they cost most of an import).
    A file that changed since gives another shape, and is refused: validate the stack again."""
    path = Path(record["source"])
    data, _ = _read_frame(path, record["frame"])
    image = _to_image(data, record["crop"], path)
    if list(image.shape) != list(record["shape"]):
        raise ImageFileError(f"{path}: {image.shape[1]} x {image.shape[0]} px after the crop, but "
                             f"{record['shape'][1]} x {record['shape'][0]} px when the stack was validated: the "
                             "file changed since; run the workflow again (validate_inputs reads it anew)")
    return image


def scale_bar_check(pixel_size_nm: float, scale_bar: ScaleBar) -> str | None:
    """The warning when the file's metadata and the scale bar burned into its image disagree by more than
    SCALE_BAR_AGREEMENT (one of them is wrong: a figure resampled after export, a wrong magnification entry);
    None when they agree or no bar was read."""
    if scale_bar.pixel_size_nm is None:
        return None
    apart = scale_bar.pixel_size_nm / pixel_size_nm - 1
    if abs(apart) <= SCALE_BAR_AGREEMENT:
        return None
    return (f"the metadata's pixel size ({pixel_size_nm:.5g} nm) and the scale bar's ({scale_bar.label!r} over "
            f"{scale_bar.length_px:.2f} px: {scale_bar.pixel_size_nm:.5g} nm) differ by {apart:+.1%}: one of them is "
            "wrong (a resampled image, a wrong magnification entry); the metadata's is used (set pixel_size_nm to "
            "override it)")


def calibration_note(record: dict) -> str | None:
    """What the logs say of a pixel size read from a scale bar, or of a bar found but not read where the file has
    no calibration; None otherwise (no bar found: the image is measured in px, as the notes say). A disagreement
    of metadata and bar is `scale_bar_check`."""
    bar = record.get("scale_bar")
    if record["pixel_size_from"] == "scale_bar":
        return (f"pixel size {record['pixel_size_nm']:.5g} nm from the burned-in scale bar ({bar['label']!r} over "
                f"{bar['length_px']:.2f} px); check it, or set pixel_size_nm")
    if record["pixel_size_from"] == "none" and bar and bar["box"] is not None:
        return f"no pixel size: no calibration in the file, and the scale bar is unread ({bar['reason']})"
    return None


def crop_note(record: dict) -> str | None:
    """What the logs say of an information bar that import_image cut off without the config asking; None
    when it cut none."""
    if "metadata" in record["crop_from"]:
        return (f"the data bar its metadata records ({record['bar_rows']} rows at the bottom) is cut off "
                "(crop: {bottom: 0} keeps the rows)")
    if "detected" in record["crop_from"]:
        return (f"an information bar of {record['bar_rows']} rows burned into the bottom (uniform rows with text) "
                "is cut off (crop: {bottom: 0} keeps the rows, crop: {bottom: N} cuts N)")
    return None


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a float [0, 1] image as 8-bit PNG (atomically: a killed job leaves no half file)."""
    with atomic(path) as tmp:
        iio.imwrite(tmp, (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a binary mask (any non-zero pixel is foreground)."""
    data = np.asarray(iio.imread(path))
    if data.ndim == 3:
        data = data[..., 0]
    return data > 0


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write a binary mask as an 8-bit PNG with values 0 and 255 (visible in any viewer), atomically."""
    with atomic(path) as tmp:
        iio.imwrite(tmp, np.where(mask, 255, 0).astype(np.uint8))


def boundary_path(mask_path: str | os.PathLike) -> Path:
    """Where the predicted boundaries between touching particles of a mask are kept: boundaries/NAME.png
    beside the mask NAME.png (written where NPsSegNet has a boundary channel, npssegnet.instances)."""
    mask_path = Path(mask_path)
    return mask_path.parent / "boundaries" / mask_path.name


def read_boundary(mask_path: str | os.PathLike) -> np.ndarray | None:
    """The predicted boundaries of a mask (`boundary_path`), or None where none were predicted."""
    path = boundary_path(mask_path)
    return read_mask(path) if path.is_file() else None


def write_labels(path: str | os.PathLike, labels: np.ndarray) -> None:
    """Write instance labels (0 background, 1.. one per particle, below 65536) as a 16-bit PNG, atomically."""
    if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.uint16).max):
        raise ValueError(f"{path}: instance labels must lie in 0-65535, got {labels.min()}-{labels.max()}")
    with atomic(path) as tmp:
        iio.imwrite(tmp, labels.astype(np.uint16))


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Instance labels written by write_labels."""
    return np.asarray(iio.imread(path)).astype(np.int32)
