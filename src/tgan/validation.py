"""Input validation of a stack (rule validate_inputs): every image is read once, exactly as
`import_image` will read it, so that a bad file stops the run before hours of training.

What happens to each kind of input (the README lists the same, for users):
- missing folder, folder without images: refused when the workflow starts (`images.stack_sources`);
- a file of another type (notes, `Thumbs.db`, `.xml` exports): skipped, and listed in the report;
- a file with an image suffix that cannot be read (corrupt, truncated, not an image): refused;
- a colour image: refused; grey RGB(A) exports: the channels are averaged;
- 16-bit and float data: stretched between percentiles; NaN or infinite pixels: refused;
- a constant image (blank frame, failed acquisition): refused;
- an image smaller than the training crop (thumbnails): refused, not padded, because a thumbnail
  shows the particles at another scale and would teach the networks wrong sizes;
- mixed image sizes and calibrations: accepted (every step works per image) and noted in the report;
  pixel sizes that differ by more than 1 % are noted with their range;
- an information bar burned into the bottom rows: cut off by `import_image` (the rows the vendor's metadata
  records, else those `annotations.bottom_bar_rows` finds) and noted, unless the stack's crop sets the bottom
  itself (`bottom: 0` keeps the rows);
- scale bars and labels burned into the image: accepted, recorded as regions the PSD ignores, noted;
- fewer than 2 images: refused (the method needs a morphology and a contrast subset).
All problems of a stack are reported together, one line per file, so one run finds them all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .cache import Cache
from .images import calibration_note, crop_note, import_image

# Images of a stack whose pixel sizes differ by more than this (relative) are noted.
PIXEL_SIZE_SPREAD = 0.01


class InputError(ValueError):
    """A stack whose images cannot be used; the message names every bad file and the reason."""


def _where(name: str, source: str, frame: int) -> str:
    """The file, and the frame when the file holds several images."""
    return source if name == Path(source).stem else f"{source} (frame {frame})"


def _reason(error: Exception, source: str) -> str:
    """The reader's message without its leading file name (the report puts its own in front)."""
    text = str(error)
    return text[len(source) + 2:] if text.startswith(f"{source}: ") else text


def check_image(image) -> str | None:
    """Why an imported image cannot be used, or None."""
    if image.min() == image.max():
        return "a constant image (no contrast: a blank frame or a failed acquisition); remove it"
    return None


def check_training_crop(images: dict[str, np.ndarray], crop_size: int, setting: str) -> None:
    """Refuse the images ({file: image}) that a stage cuts training crops of `crop_size` from when one is
    smaller than the crop, naming every such file: a thumbnail shows the particles at another scale and,
    padded, would teach wrong sizes. Checked by the training stage itself, not by validate_inputs: a crop
    size changed in the config then retrains that stage, without importing every image again."""
    small = [f"{path}: {image.shape[0]} x {image.shape[1]} pixels" for path, image in images.items()
             if min(image.shape[:2]) < crop_size]
    if small:
        raise InputError(f"{len(small)} image(s) smaller than the training crop of {crop_size} px ({setting}): "
                         "remove them (thumbnails?) or set a smaller crop_size for this stack:\n  " + "\n  ".join(small))


def skipped_files(folder: str | os.PathLike, sources: dict[str, tuple[str, int]]) -> list[str]:
    """Files of the folder that are not images of the stack (other types, .emi beside their .ser)."""
    used = {Path(source).name for source, _ in sources.values()}
    return sorted(p.name for p in Path(folder).iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.name not in used)


RECORD_KEYS = ("source", "frame", "shape", "crop", "crop_from", "bar_rows", "pixel_size_nm", "pixel_size_from",
               "calibration", "scale_bar", "scale_bar_check", "ignore")


def check_source(source: str, frame: int, crop: dict[str, int] | None, pixel_size_nm: float | None) -> dict:
    """One image read as import_image reads it: {"record": its validated.json record} or {"problem": why it
    cannot be used}."""
    try:
        image, record = import_image(source, frame, crop, pixel_size_nm)
    except ValueError as err:  # ImageFileError, and crops that leave nothing
        return {"problem": _reason(err, source)}
    reason = check_image(image)
    return {"problem": reason} if reason else {"record": {key: record[key] for key in RECORD_KEYS}}


def validate_stack(stack: str, folder: str | os.PathLike, sources: dict[str, tuple[str, int]],
                   crop: dict[str, int] | None = None, pixel_size_nm: float | None = None,
                   trains: bool = True, cache: Cache | None = None) -> dict:
    """Read and check every image of a stack ({name: (file, frame)} from `images.stack_sources`).

    Returns the report written to validated.json: per image its file, frame, crop and where it came from
    (`crop_from`, `bar_rows`: an information bar cut off), shape, pixel size and where it came from
    (`pixel_size_from`: config, file, scale_bar or none; `calibration`: which metadata or which bar; `scale_bar`:
    the bar's reading; `scale_bar_check`: metadata and bar disagree), and the
    regions it ignores; the skipped files; notes on what is accepted but worth knowing. Raises
    InputError otherwise. A stack that `trains` its own chain needs two images (a morphology and a contrast
    subset); one segmented with another stack's model (segment_with) may hold one. With a `cache` (keyed on
    the crop, the pixel size and the code), an image checked before is read back instead of read again, so an
    image added to a long series costs one image's check.
    """
    problems, images, checked = [], {}, []
    for name, (source, frame) in sources.items():
        stored = cache.get(source, str(frame)) if cache else None
        entry = stored[1] if stored else check_source(source, frame, crop, pixel_size_nm)
        if not stored:
            checked.append((source, frame, entry))
        if "problem" in entry:
            problems.append(f"{_where(name, source, frame)}: {entry['problem']}")
        else:
            images[name] = entry["record"]
    if problems:
        raise InputError(f"stack {stack}: {len(problems)} of {len(sources)} images cannot be used "
                         "(nothing of this stack has been written):\n  " + "\n  ".join(problems))
    if trains and len(images) < 2:
        raise InputError(f"stack {stack}: {folder} holds {len(images)} image; the method needs at least 2 "
                         "(a morphology and a contrast subset)")
    for source, frame, entry in checked if cache else ():  # stored only when the stack passed: a refused stack
        cache.put(source, {}, entry, str(frame))             # leaves nothing behind
    return {"stack": stack, "images": images, "skipped": skipped_files(folder, sources),
            "notes": _notes(images), "settings": {"crop": crop, "pixel_size_nm": pixel_size_nm}}


def imports_stale(validated: str | os.PathLike, crop: dict[str, int] | None, pixel_size_nm: float | None,
                  names) -> bool:
    """Whether every image of a stack is to be imported again: its last validation (its validated.json) was made
    with another crop or pixel size than the config now gives (then every image's record changes), or with an
    image that the stack no longer holds (`names`: its images now). The workflow's import gate asks this when it
    parses: Snakemake 9 plans no job that it reaches only through an ancient input of a job that reruns, and an
    import's gate is ancient so that a new image imports only itself. An image taken out of a stack reruns only
    its validation, so without this the next run would split, train, segment and measure the stack as it was,
    the removed image counted in its PSD, until a second run; its imports rerun instead, and everything after
    them with them. A validated.json that predates the settings record counts as changed: that matters only
    when the stack is validated again, and then its images are imported again in the same run, not in the next."""
    path = Path(validated)
    if not path.exists():
        return True
    record = json.loads(path.read_text())
    if record.get("settings") != {"crop": crop, "pixel_size_nm": pixel_size_nm}:
        return True
    return bool(set(record.get("images", {})) - set(names))


def _notes(images: dict[str, dict]) -> list[str]:
    """What is accepted but worth knowing: mixed sizes, images without a pixel size, pixel sizes that
    disagree, information bars cut off (recorded by the vendor or detected), annotations left out of the PSD."""
    notes = []
    shapes = sorted({tuple(i["shape"]) for i in images.values()})
    if len(shapes) > 1:
        notes.append(f"mixed image sizes {', '.join(f'{h} x {w}' for h, w in shapes)}: fine, every step works "
                     "per image")
    uncalibrated = sorted(name for name, i in images.items() if i["pixel_size_nm"] is None)
    if uncalibrated and len(uncalibrated) < len(images):
        notes.append(f"{len(uncalibrated)} of {len(images)} images have no pixel size ({', '.join(uncalibrated)}): "
                     "they are measured in pixels only, and so are the stack's histogram and density "
                     "(set pixel_size_nm)")
    sizes = {name: i["pixel_size_nm"] for name, i in images.items() if i["pixel_size_nm"] is not None}
    if sizes and max(sizes.values()) > (1 + PIXEL_SIZE_SPREAD) * min(sizes.values()):
        small, large = min(sizes, key=sizes.get), max(sizes, key=sizes.get)
        notes.append(f"pixel sizes differ by more than {PIXEL_SIZE_SPREAD:.0%}: from {sizes[small]:.5g} nm ({small}) "
                     f"to {sizes[large]:.5g} nm ({large}); each image is measured with its own")
    for name, i in images.items():
        if note := crop_note(i):
            notes.append(f"{name}: {note}")
        if note := calibration_note(i):
            notes.append(f"{name}: {note}")
        if i["scale_bar_check"]:
            notes.append(f"{name}: WARNING {i['scale_bar_check']}")
        if i["ignore"]:
            boxes = ", ".join(f"rows {r['top']}-{r['bottom']}, columns {r['left']}-{r['right']}" for r in i["ignore"])
            notes.append(f"{name}: burned-in scale bar or label ({boxes}) left out of the PSD")
    return notes
