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
"""
from __future__ import annotations

from timm.data.auto_augment import RandAugment, rand_augment_ops
from timm.data.random_erasing import RandomErasing
from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def randaugment(magnitude: float, layers: int, mmax: float, mean=IMAGENET_MEAN) -> RandAugment:
    """timm's RandAugment; ``mmax`` is its cap (``data.randaug_mmax``, which the config checks)."""
    hparams = {"magnitude_max": mmax, "img_mean": tuple(round(255 * m) for m in mean)}
    return RandAugment(rand_augment_ops(magnitude=magnitude, hparams=hparams), num_layers=layers)


def train_transform(image_size: int, randaug_magnitude: float = 0, randaug_layers: int = 2,
                    randaug_mmax: float | None = None, cutout: bool = False, hflip: bool = True,
                    scale: tuple[float, float] = (0.08, 1.0), mean=IMAGENET_MEAN, std=IMAGENET_STD) -> T.Compose:
    """RandomResizedCrop -> flip -> RandAugment(magnitude) -> tensor -> normalize (-> cutout)."""
    if image_size < 8:
        raise ValueError(f"image_size={image_size} is too small; use at least 8 px.")
    steps = [T.RandomResizedCrop(image_size, scale=scale, interpolation=T.InterpolationMode.BILINEAR)]
    if hflip:
        steps.append(T.RandomHorizontalFlip())
    if randaug_magnitude > 0:
        if randaug_mmax is None:
            raise ValueError("randaug_mmax is needed with a RandAugment magnitude: pass the config's data.randaug_mmax")
        steps.append(randaugment(randaug_magnitude, randaug_layers, randaug_mmax, mean))
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    if cutout:
        steps.append(RandomErasing(probability=0.5, mode="const", max_count=1, device="cpu"))
    tf = T.Compose(steps)
    tf.image_size, tf.randaug_magnitude, tf.randaug_layers, tf.cutout = image_size, randaug_magnitude, randaug_layers, cutout
    return tf


def eval_transform(image_size: int, crop_pct: float = 0.875, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> T.Compose:
    """Resize the shorter side to ``image_size / crop_pct``, center-crop ``image_size``."""
    if not 0 < crop_pct <= 1:
        raise ValueError(f"crop_pct={crop_pct} must be in (0, 1].")
    tf = T.Compose([T.Resize(int(round(image_size / crop_pct)), interpolation=T.InterpolationMode.BICUBIC),
                    T.CenterCrop(image_size), T.ToTensor(), T.Normalize(mean, std)])
    tf.image_size, tf.randaug_magnitude, tf.randaug_layers, tf.cutout = image_size, 0, 0, False
    return tf
