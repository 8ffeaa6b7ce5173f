"""Random crops for GAN training, and the value ranges each network sees.

GANs work in [-1, 1] (tanh outputs). NPsSegNet sees each image standardised by its own mean and
standard deviation, so that a real image and a generated one meet the network on the same footing.
"""

from __future__ import annotations

import numpy as np
import torch


def to_gan(image: np.ndarray) -> np.ndarray:
    return image * 2.0 - 1.0


def from_gan(values: np.ndarray) -> np.ndarray:
    return np.clip((values + 1.0) / 2.0, 0.0, 1.0)


def standardise(image: np.ndarray) -> np.ndarray:
    """Zero mean, unit standard deviation (a constant image becomes all zeros)."""
    image = image.astype(np.float32)
    std = float(image.std())
    return (image - float(image.mean())) / (std if std > 1e-6 else 1.0)


def pad_to(array: np.ndarray, size: int) -> np.ndarray:
    """Reflect-pad the last two axes up to `size` so that images smaller than a crop still train."""
    h, w = array.shape[-2:]
    ph, pw = max(0, size - h), max(0, size - w)
    if ph == 0 and pw == 0:
        return array
    pad = [(0, 0)] * (array.ndim - 2) + [(ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)]
    return np.pad(array, pad, mode="reflect" if min(h, w) > 1 else "edge")


class CropSampler:
    """Draws batches of random square crops from a list of (C, H, W) arrays.

    Images are drawn in proportion to their area, so a large image gives more crops than a small
    one. With `augment`, each crop gets one of the 8 flips/rotations of the square, applied to all
    channels together (a mask stays aligned with its image).
    """

    def __init__(self, arrays: list[np.ndarray], crop: int, generator: torch.Generator, augment: bool = True):
        if not arrays:
            raise ValueError("no images to crop from")
        self.arrays = [pad_to(np.asarray(a, np.float32), crop) for a in arrays]
        self.crop = crop
        self.generator = generator
        self.augment = augment
        areas = torch.tensor([a.shape[-1] * a.shape[-2] for a in self.arrays], dtype=torch.float64)
        self.weights = areas / areas.sum()

    def _randint(self, high: int) -> int:
        return int(torch.randint(0, high, (1,), generator=self.generator))

    def batch(self, size: int) -> torch.Tensor:
        crops = []
        for i in torch.multinomial(self.weights, size, replacement=True, generator=self.generator).tolist():
            array = self.arrays[i]
            h, w = array.shape[-2:]
            y, x = self._randint(h - self.crop + 1), self._randint(w - self.crop + 1)
            crop = torch.from_numpy(np.ascontiguousarray(array[..., y:y + self.crop, x:x + self.crop]))
            if self.augment:
                crop = torch.rot90(crop, self._randint(4), dims=(-2, -1))
                if self._randint(2):
                    crop = torch.flip(crop, dims=(-1,))
            crops.append(crop)
        return torch.stack(crops, 0)
