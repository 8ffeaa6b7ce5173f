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
- fewer than 2 images: refused (the method needs a morphology and a contrast subset).
All problems of a stack are reported together, one line per file, so one run finds them all.
"""

from __future__ import annotations

import os
from pathlib import Path

from .images import import_image


class InputError(ValueError):
    """A stack whose images cannot be used; the message names every bad file and the reason."""


def _where(name: str, source: str, frame: int) -> str:
    """The file, and the frame when the file holds several images."""
    return source if name == Path(source).stem else f"{source} (frame {frame})"


def _reason(error: Exception, source: str) -> str:
    """The reader's message without its leading file name (the report puts its own in front)."""
    text = str(error)
    return text[len(source) + 2:] if text.startswith(f"{source}: ") else text


def check_image(image, min_side: int) -> str | None:
    """Why an imported image cannot be used for training, or None."""
    h, w = image.shape
    if image.min() == image.max():
        return "a constant image (no contrast: a blank frame or a failed acquisition); remove it"
    if min(h, w) < min_side:
        return (f"{h} x {w} pixels, smaller than the training crop of {min_side} px (pix2pix and cyclegan "
                "crop_size); remove it (a thumbnail?) or set a smaller crop_size for this stack")
    return None


def skipped_files(folder: str | os.PathLike, sources: dict[str, tuple[str, int]]) -> list[str]:
    """Files of the folder that are not images of the stack (other types, .emi beside their .ser)."""
    used = {Path(source).name for source, _ in sources.values()}
    return sorted(p.name for p in Path(folder).iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.name not in used)


def validate_stack(stack: str, folder: str | os.PathLike, sources: dict[str, tuple[str, int]],
                   crop: dict[str, int] | None = None, pixel_size_nm: float | None = None,
                   min_side: int = 1) -> dict:
    """Read and check every image of a stack ({name: (file, frame)} from `images.stack_sources`).

    Returns the report written to validated.json: per image its file, frame, shape and pixel size;
    the skipped files; notes on what is accepted but worth knowing. Raises InputError otherwise.
    """
    problems, images = [], {}
    for name, (source, frame) in sources.items():
        where = _where(name, source, frame)
        try:
            image, record = import_image(source, frame, crop, pixel_size_nm)
        except ValueError as err:  # ImageFileError, and crops that leave nothing
            problems.append(f"{where}: {_reason(err, source)}")
            continue
        reason = check_image(image, min_side)
        if reason:
            problems.append(f"{where}: {reason}")
        images[name] = {"source": source, "frame": frame, "shape": list(image.shape),
                        "pixel_size_nm": record["pixel_size_nm"]}
    if problems:
        raise InputError(f"stack {stack}: {len(problems)} of {len(sources)} images cannot be used "
                         "(nothing of this stack has been written):\n  " + "\n  ".join(problems))
    if len(images) < 2:
        raise InputError(f"stack {stack}: {folder} holds {len(images)} image; the method needs at least 2 "
                         "(a morphology and a contrast subset)")
    return {"stack": stack, "images": images, "skipped": skipped_files(folder, sources),
            "notes": _notes(images)}


def _notes(images: dict[str, dict]) -> list[str]:
    """What is accepted but worth knowing: mixed sizes, images without a pixel size."""
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
    return notes
