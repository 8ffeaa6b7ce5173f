"""Split a stack into the morphology and contrast subsets (step 1 of the method)."""

from __future__ import annotations

import hashlib


def _score(name: str, seed: int) -> int:
    """A stable pseudo-random score per file name: the same name always gets the same score."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "big")


def split_subsets(names: list[str], morphology_size: int, seed: int = 0) -> dict[str, list[str]]:
    """Pick `morphology_size` images for the morphology subset; the rest form the contrast subset.

    Each name is ranked by a hash of (seed, name) rather than by a shuffled list, so adding a file
    to the folder never reshuffles the others: at most the new file takes one place.
    A stack with fewer images than morphology_size + 1 still keeps one image for contrast.
    """
    if len(names) < 2:
        raise ValueError(f"a stack needs at least 2 images to split, got {len(names)}")
    if len(set(names)) != len(names):
        raise ValueError("image names in a stack must be unique")
    k = max(1, min(morphology_size, len(names) - 1))
    ranked = sorted(names, key=lambda n: (_score(n, seed), n))
    morphology = sorted(ranked[:k])
    contrast = sorted(ranked[k:])
    return {"morphology": morphology, "contrast": contrast}


def kfold(names: list[str], k: int, seed: int = 0) -> dict[str, int]:
    """{name: fold} for k-fold cross-validation, folds 0..k-1 of (nearly) equal size.

    Ranked by the same name hash as split_subsets, so a fold's members do not depend on the order
    in which the files were listed.
    """
    if k < 2:
        raise ValueError(f"k-fold cross-validation needs at least 2 folds, got {k}")
    if len(names) < k:
        raise ValueError(f"{k} folds need at least {k} images with ground truth, got {len(names)}")
    ranked = sorted(names, key=lambda n: (_score(n, seed), n))
    return {name: i % k for i, name in enumerate(ranked)}


def pseudo_label_images(subsets: dict[str, dict[str, str]], which: str) -> dict[str, str]:
    """The images (name: path, from subsets.json) that get rough masks and, with npssegnet.real_fraction,
    become NPsSegNet's pseudo-labelled real crops: the morphology subset (whose rough masks step 2
    makes for pix2pix anyway), or 'all' the stack's images, so that the network also sees the
    contrast subset's images, e.g. particles with softer edges than the morphology subset's."""
    if which == "morphology":
        return dict(subsets["morphology"])
    if which == "all":
        return {**subsets["morphology"], **subsets["contrast"]}
    raise ValueError(f"npssegnet.pseudo_labels must be 'morphology' or 'all', got {which!r}")
