"""Train and eval transforms whose image size and augmentation strength are arguments.

Progressive learning (paper Algorithm 1) changes these per stage, so each transform records its
settings as attributes (``image_size``, ``randaug_magnitude``, ``randaug_layers``, ``cutout``)
that the trainer and the tests can read back.

RandAugment magnitude mapping. The paper's magnitudes (5..25, Table 6) follow the official code,
where an op's strength is ``magnitude / 10 * max_range`` — so 15 or 25 extrapolate past the
nominal maximum of 10. timm uses the same ``/ 10`` scale but clips magnitudes at 10 unless
``magnitude_max`` is raised; we pass ``data.randaug_mmax`` (30 by default) so 15..25 keep their meaning.
Ops and probabilities are timm's defaults (2 layers, each op applied with probability 0.5).
Cutout (§5.3 transfer recipe) is timm's RandomErasing with a constant (zero after
normalization) fill, one patch, applied with probability 0.5.

``variant="official"`` builds the released code's RandAugment (google/automl efficientnetv2
autoaugment.py) from timm's ops: every chosen op is applied (p = 1), the op list adds Invert,
SolarizeAdd and Cutout (a square of half-side 40 px x m/10), translations are absolute (100 px x
m/10), empty pixels are filled with 128 and geometric ops sample nearest pixels. Left different:
timm caps SolarizeAdd's addition at 128 (the official one reaches 165 at m = 15), and the pixel
operations are PIL's, not TensorFlow's.

Official evaluation (``official_eval_transform``) and normalization (``OFFICIAL_MEAN``/``OFFICIAL_STD``:
(x - 128) / 128) follow google/automl efficientnetv2 preprocessing.py.
"""
from __future__ import annotations

import random

import numpy as np
import torch
from PIL import Image, ImageDraw
from timm.data.auto_augment import RandAugment, rand_augment_ops
from timm.data.random_erasing import RandomErasing
from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OFFICIAL_MEAN = OFFICIAL_STD = (128 / 255,) * 3  # on [0, 1] tensors: (x - 128) / 128 on 0-255 pixels
NORMALIZATION = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "official": (OFFICIAL_MEAN, OFFICIAL_STD)}
# the released RandAugment's ops, by timm's names (TranslateX/Y: absolute pixels), Cutout added separately
OFFICIAL_RANDAUG_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "Color", "Contrast",
                        "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY", "SolarizeAdd")


class Cutout:
    """The released RandAugment's Cutout op (timm has none): a square of half-side ``40 px x m / 10``
    centred at a uniformly drawn pixel, clipped to the image, filled with 128; timm's op interface."""

    def __init__(self, magnitude: float, mmax: float, half_side: float = 40.0, fill: int = 128):
        self.name, self.prob, self.magnitude, self.magnitude_max = "Cutout", 1.0, magnitude, mmax
        self.half_side, self.fill = half_side, fill

    def __call__(self, img: Image.Image) -> Image.Image:
        pad = int(max(0.0, min(self.magnitude, self.magnitude_max)) / 10 * self.half_side)
        if pad == 0:
            return img
        cy, cx = random.randrange(img.height), random.randrange(img.width)
        img = img.copy()
        box = (max(0, cx - pad), max(0, cy - pad), min(img.width, cx + pad) - 1, min(img.height, cy + pad) - 1)
        ImageDraw.Draw(img).rectangle(box, fill=(self.fill,) * len(img.getbands()))
        return img


def randaugment(magnitude: float, layers: int, mmax: float, mean=IMAGENET_MEAN, variant: str = "timm") -> RandAugment:
    """timm's RandAugment; ``mmax`` is its cap (``data.randaug_mmax``, which the config checks);
    ``variant="official"``: the released code's (module docstring)."""
    if variant == "official":
        hparams = {"magnitude_max": mmax, "img_mean": (128, 128, 128), "translate_const": 100,
                   "interpolation": Image.NEAREST}
        ops = rand_augment_ops(magnitude=magnitude, prob=1.0, hparams=hparams, transforms=list(OFFICIAL_RANDAUG_OPS))
        return RandAugment(ops + [Cutout(magnitude, mmax)], num_layers=layers)
    if variant != "timm":
        raise ValueError(f"RandAugment variant {variant!r}: choose timm or official (data.randaug_variant)")
    hparams = {"magnitude_max": mmax, "img_mean": tuple(round(255 * m) for m in mean)}
    return RandAugment(rand_augment_ops(magnitude=magnitude, hparams=hparams), num_layers=layers)


class PixelsHWC:
    """A PIL image as its uint8 pixels, height x width x channels (a batch of them stacks to N x H x W x C)."""

    def __call__(self, img: Image.Image) -> torch.Tensor:
        return torch.from_numpy(np.array(img, np.uint8, copy=True))


class BatchNormalize:
    """ToTensor and Normalize for a whole batch of ``PixelsHWC`` images: N x H x W x C uint8 in, N x C x H x W
    float32 out, laid out channels-last (a view of the batch, no transposing copy). The same operations in the
    same order as ``T.ToTensor()`` then ``T.Normalize`` on each image, so the values are identical bit for bit.
    Any other tensor (a float batch, e.g. ``SyntheticDataset``'s) passes through unchanged."""

    def __init__(self, mean, std):
        self.mean, self.std = tuple(mean), tuple(std)
        self._mean, self._std = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.uint8:
            return x
        x = x.permute(0, 3, 1, 2).to(torch.float32).div(255)
        return x.sub_(self._mean).div_(self._std)


def train_transform(image_size: int, randaug_magnitude: float = 0, randaug_layers: int = 2,
                    randaug_mmax: float | None = None, cutout: bool = False, hflip: bool = True,
                    scale: tuple[float, float] = (0.08, 1.0), mean=IMAGENET_MEAN, std=IMAGENET_STD,
                    randaug_variant: str = "timm", batched: bool = False) -> T.Compose:
    """RandomResizedCrop -> flip -> RandAugment(magnitude) -> tensor -> normalize (-> cutout).

    ``batched``: each image stops at its uint8 pixels (``PixelsHWC``) and ``transform.finish``, a
    ``BatchNormalize``, turns a collated batch into the normalized float tensor, identical values at a fraction
    of the per-image cost (not with ``cutout``, which erases after normalization: then ``finish`` is None)."""
    if image_size < 8:
        raise ValueError(f"image_size={image_size} is too small; use at least 8 px.")
    steps = [T.RandomResizedCrop(image_size, scale=scale, interpolation=T.InterpolationMode.BILINEAR)]
    if hflip:
        steps.append(T.RandomHorizontalFlip())
    if randaug_magnitude > 0:
        if randaug_mmax is None:
            raise ValueError("randaug_mmax is needed with a RandAugment magnitude: pass the config's data.randaug_mmax")
        steps.append(randaugment(randaug_magnitude, randaug_layers, randaug_mmax, mean, randaug_variant))
    batched = batched and not cutout
    steps += [PixelsHWC()] if batched else [T.ToTensor(), T.Normalize(mean, std)]
    if cutout:
        steps.append(RandomErasing(probability=0.5, mode="const", max_count=1, device="cpu"))
    tf = T.Compose(steps)
    tf.image_size, tf.randaug_magnitude, tf.randaug_layers, tf.cutout = image_size, randaug_magnitude, randaug_layers, cutout
    tf.finish = BatchNormalize(mean, std) if batched else None
    return tf


def eval_transform(image_size: int, crop_pct: float = 0.875, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> T.Compose:
    """Resize the shorter side to ``image_size / crop_pct``, center-crop ``image_size``."""
    if not 0 < crop_pct <= 1:
        raise ValueError(f"crop_pct={crop_pct} must be in (0, 1].")
    tf = T.Compose([T.Resize(int(round(image_size / crop_pct)), interpolation=T.InterpolationMode.BICUBIC),
                    T.CenterCrop(image_size), T.ToTensor(), T.Normalize(mean, std)])
    tf.image_size, tf.randaug_magnitude, tf.randaug_layers, tf.cutout = image_size, 0, 0, False
    return tf


class _CentreFraction:
    """The official eval crop: a centred square of ``int(fraction x shorter side)`` px, offsets rounded
    down as TensorFlow's ``crop_to_bounding_box`` call does (torchvision's CenterCrop rounds them)."""

    def __init__(self, fraction: float):
        self.fraction = fraction

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        side = int(self.fraction * min(h, w))
        top, left = (h - side) // 2, (w - side) // 2
        return x[..., top:top + side, left:left + side]


def official_eval_transform(image_size: int, mean=OFFICIAL_MEAN, std=OFFICIAL_STD) -> T.Compose:
    """google/automl efficientnetv2 ``preprocess_for_eval``: from 320 px the whole image resized to
    ``image_size x image_size`` (no crop, aspect ratio not kept); below 320 px a centred square of
    ``image_size / (image_size + 32)`` of the shorter side first. Resizing is TensorFlow's bilinear
    (half-pixel centres, no antialiasing) on the decoded 0-255 values, then normalization."""
    steps = [T.PILToTensor(), T.ConvertImageDtype(torch.float32)]
    if image_size < 320:
        steps.append(_CentreFraction(image_size / (image_size + 32)))
    steps += [T.Resize((image_size, image_size), interpolation=T.InterpolationMode.BILINEAR, antialias=False),
              T.Normalize(mean, std)]
    tf = T.Compose(steps)
    tf.image_size, tf.randaug_magnitude, tf.randaug_layers, tf.cutout = image_size, 0, 0, False
    return tf
