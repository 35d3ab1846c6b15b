"""Map-style datasets returned by ``get_dataset``.

Both kinds expose ``.classes``, ``.targets`` and a settable ``.transform`` (applied to a PIL
RGB image), so the trainer can change augmentation between stages without rebuilding them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .manifest import DataError


class ImageFileDataset(torch.utils.data.Dataset):
    """Images on disk. ``targets[i]`` is a class index, or a tuple of them when ``multilabel``.

    Multi-label targets are returned as a vector over the classes that sums to 1 (paper §5.2:
    ImageNet-21k labels are normalized before the softmax loss).
    """

    def __init__(self, samples: list[tuple[str, object]], classes: list[str], transform=None,
                 multilabel: bool = False, name: str = "", fix_hint: str = ""):
        self.samples = samples
        self.classes = classes
        self.transform = transform
        self.multilabel = multilabel
        self.name = name
        self.fix_hint = fix_hint
        # Decode JPEGs at a reduced scale (libjpeg DCT scaling) when the images are much larger
        # than needed; None decodes at full size. The trainer may set it to the stage's size.
        self.draft_size: int | None = None

    @property
    def targets(self) -> list:
        return [t for _, t in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def load_image(self, index: int) -> Image.Image:
        path = self.samples[index][0]
        try:
            with Image.open(path) as img:
                if self.draft_size:
                    img.draft("RGB", (self.draft_size, self.draft_size))
                return img.convert("RGB")
        except (OSError, UnidentifiedImageError, SyntaxError) as exc:
            raise DataError(f"{path}: cannot decode this image ({exc}). The prepared copy of '{self.name}' "
                            f"is damaged. {self.fix_hint}") from exc

    def __getitem__(self, index: int):
        img = self.load_image(index)
        target = self.samples[index][1]
        if self.multilabel:
            vec = torch.zeros(len(self.classes))
            vec[list(target)] = 1.0 / len(target)
            target = vec
        return (self.transform(img) if self.transform else img), target


class ArrayImageDataset(torch.utils.data.Dataset):
    """Images held in memory as a uint8 array (N, H, W, 3), e.g. the official CIFAR pickles."""

    def __init__(self, images: np.ndarray, targets: list[int], classes: list[str], transform=None):
        self.images = images
        self._targets = list(targets)
        self.classes = classes
        self.transform = transform

    @property
    def targets(self) -> list[int]:
        return self._targets

    def __len__(self) -> int:
        return len(self._targets)

    def load_image(self, index: int) -> Image.Image:
        return Image.fromarray(self.images[index])

    def __getitem__(self, index: int):
        img = self.load_image(index)
        return (self.transform(img) if self.transform else img), self._targets[index]


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
