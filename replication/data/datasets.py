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

# Decoded images by (path, short side), shared by every ImageFileDataset of this process that sets
# ``cache_decoded``: each JPEG is decoded once per process, not once per epoch and stage.
DECODED: dict[tuple[str, int], np.ndarray] = {}


def _shrink(img: Image.Image, short_side: int) -> Image.Image:
    """``img`` with its shorter side brought down to ``short_side`` (antialiased bicubic; never enlarged)."""
    if not short_side or min(img.size) <= short_side:
        return img
    scale = short_side / min(img.size)
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BICUBIC)


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
        # Keep decoded pixels in memory (``DECODED``, uint8, about 0.2 MB per 224 px image). Worth it
        # when decoding shares the cores with the model (data.num_workers=0); a DataLoader worker
        # process would fill its own copy. Pixels are identical either way, so results do not change.
        self.cache_decoded = False
        # With the cache: keep images whose shorter side exceeds this many px downscaled to it (0: as
        # decoded), so that training at small sizes does not resize large images at every step.
        self.cache_short_side = 0

    @property
    def targets(self) -> list:
        return [t for _, t in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def load_image(self, index: int) -> Image.Image:
        path = self.samples[index][0]
        if self.cache_decoded and not self.draft_size:
            key = (path, self.cache_short_side)
            pixels = DECODED.get(key)
            if pixels is None:
                pixels = DECODED[key] = np.asarray(_shrink(self._decode(path), self.cache_short_side))
            return Image.fromarray(pixels)
        return self._decode(path)

    def _decode(self, path: str) -> Image.Image:
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


class SyntheticDataset(torch.utils.data.Dataset):
    """Random images that cost nothing to produce: ``get_dataset("synthetic", split)``.

    For benchmarks that separate the model's speed from the input pipeline's. Item ``i`` is one
    fixed random tensor at the size the current transform asks for (``transform.image_size``, as
    every transform of ``replication.data.transforms`` records; 224 without one) and label
    ``i % num_classes``. The transform itself is never applied: no decoding, no augmentation.
    """

    SPLITS = {"train": 10_000, "eval": 1_000}

    def __init__(self, length: int, num_classes: int = 10, seed: int = 0):
        self.length, self.classes, self.seed = length, [f"class{i}" for i in range(num_classes)], seed
        self.transform = None
        self._images: dict[int, torch.Tensor] = {}

    @property
    def targets(self) -> list[int]:
        return [i % len(self.classes) for i in range(self.length)]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        size = getattr(self.transform, "image_size", 224)
        if size not in self._images:
            self._images[size] = torch.randn(3, size, size, generator=torch.Generator().manual_seed(self.seed + size))
        return self._images[size], index % len(self.classes)
