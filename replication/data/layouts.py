"""Readers for the on-disk layouts named in the manifests (each dataset's official format).

``read_split(layout, root, ...)`` returns the samples of one split. Every reader checks the
layout it expects and, when it is not there, says which file or folder is missing.
"""
from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np

from .archive import safe_extract
from .datasets import ArrayImageDataset, ImageFileDataset, list_images
from .manifest import DataError, Manifest, Source


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(f"wrong layout: expected {what} at {path}, which does not exist. "
                        "Check that the folder/archive is the official one (see the manifest's 'layout').")
    return path


def _loadmat(path: Path) -> dict:
    from scipy.io import loadmat  # only the official Flowers/Cars/ImageNet files need it
    try:
        return loadmat(_need(path, "a MATLAB file"), squeeze_me=True, struct_as_record=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable MATLAB file ({exc}). Obtain a clean copy.") from exc


# ---- image folders: <root>/<split dir>/<class>/<image> -------------------------------------------
def _image_folder(manifest: Manifest, source: Source, root: Path, split: str) -> ImageFileDataset:
    dirs = source.split_dirs.get(split)
    dirs = [dirs] if isinstance(dirs, str) else list(dirs)
    first = _need(root / dirs[0], f"the '{split}' folder")
    classes = list(source.class_order or sorted(p.name for p in first.iterdir() if p.is_dir()))
    if len(classes) != manifest.num_classes:
        raise DataError(f"wrong layout: {first} has {len(classes)} class folders, the manifest "
                        f"{manifest.path.name} expects {manifest.num_classes}.")
    samples = []
    for d in dirs:
        folder = _need(root / d, f"the '{split}' folder")
        found = sorted(p.name for p in folder.iterdir() if p.is_dir())
        if sorted(classes) != found:
            raise DataError(f"wrong layout: the class folders in {folder} differ from those in {first}.")
        for index, cls in enumerate(classes):
            samples += [(str(p), index) for p in list_images(folder / cls)]
    return ImageFileDataset(samples, classes)


def _image_folder_multilabel(manifest: Manifest, source: Source, root: Path, split: str) -> ImageFileDataset:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"wrong layout: no class folders in {root} (expected <wnid>/*.JPEG).")
    index = {c: i for i, c in enumerate(classes)}
    extra = {}
    if (root / "labels.tsv").exists():
        for line in (root / "labels.tsv").read_text().splitlines():
            rel, _, more = line.partition("\t")
            extra[rel] = [index[w] for w in more.split(",") if w]
    samples = []
    for cls in classes:
        for p in list_images(root / cls):
            rel = f"{cls}/{p.name}"
            samples.append((str(p), tuple(sorted({index[cls], *extra.get(rel, [])}))))
    return ImageFileDataset(samples, classes, multilabel=True)


# ---- CIFAR-10/100 official python pickles -------------------------------------------------------
CIFAR = {  # variant -> (train files, test files, meta file, label names key, labels key)
    "cifar10": ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta", "label_names", "labels"),
    "cifar100": (["train"], ["test"], "meta", "fine_label_names", "fine_labels"),
}


def _cifar_python(manifest: Manifest, source: Source, root: Path, split: str) -> ArrayImageDataset:
    train_files, test_files, meta_file, names_key, labels_key = CIFAR[source.variant]
    def load(name):
        with open(_need(root / name, f"the CIFAR pickle '{name}'"), "rb") as f:
            try:
                return pickle.load(f, encoding="latin1")
            except (pickle.UnpicklingError, EOFError, ValueError) as exc:
                raise DataError(f"{root / name}: corrupt CIFAR pickle ({exc}). Obtain a clean copy.") from exc
    batches = [load(n) for n in (train_files if split == "train" else test_files)]
    images = np.concatenate([b["data"] for b in batches]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    targets = [t for b in batches for t in b[labels_key]]
    return ArrayImageDataset(np.ascontiguousarray(images), targets, list(load(meta_file)[names_key]))


# ---- Oxford Flowers-102: jpg/ + imagelabels.mat + setid.mat --------------------------------------
FLOWERS_SPLITS = {"train": ("trnid", "valid"), "train_only": ("trnid",), "val": ("valid",),
                  "eval": ("tstid",), "test": ("tstid",)}


def _flowers_official(manifest: Manifest, source: Source, root: Path, split: str) -> ImageFileDataset:
    labels = np.atleast_1d(_loadmat(root / "imagelabels.mat")["labels"])
    setid = _loadmat(root / "setid.mat")
    ids = [int(i) for key in FLOWERS_SPLITS[split] for i in np.atleast_1d(setid[key])]
    samples = [(str(_need(root / "jpg" / f"image_{i:05d}.jpg", "a Flowers image")), int(labels[i - 1]) - 1)
               for i in sorted(ids)]
    return ImageFileDataset(samples, [f"{c:03d}" for c in range(1, 103)])


# ---- Stanford Cars: cars_train/ cars_test/ devkit/*.mat cars_test_annos_withlabels.mat -----------
def _stanford_cars(manifest: Manifest, source: Source, root: Path, split: str) -> ImageFileDataset:
    classes = [str(c) for c in np.atleast_1d(_loadmat(root / "devkit" / "cars_meta.mat")["class_names"])]
    if split == "train":
        annos, folder = root / "devkit" / "cars_train_annos.mat", root / "cars_train"
    else:
        annos, folder = root / "cars_test_annos_withlabels.mat", root / "cars_test"
    records = np.atleast_1d(_loadmat(annos)["annotations"])
    samples = [(str(_need(folder / str(r.fname), "a Cars image")), int(r.__dict__["class"]) - 1) for r in records]
    return ImageFileDataset(samples, classes)


# ---- ImageNet official archives -> image folders -------------------------------------------------
def imagenet_from_archives(staging: Path) -> None:
    """Turn the unpacked official archives into train/<wnid>/ and val/<wnid>/ folders.

    The train tar holds one tar per class; the val tar holds 50,000 images whose classes come
    from the devkit (ground-truth ILSVRC2012_IDs, mapped to WordNet ids by meta.mat).
    """
    devkit = _need(staging / "ILSVRC2012_devkit_t12", "the unpacked devkit")
    synsets = np.atleast_1d(_loadmat(devkit / "data" / "meta.mat")["synsets"])
    wnid_of = {int(s.ILSVRC2012_ID): str(s.WNID) for s in synsets if int(s.num_children) == 0}
    for class_tar in sorted(staging.glob("n*.tar")):
        safe_extract(class_tar, staging / "train" / class_tar.stem)
        class_tar.unlink()
    truth = _need(devkit / "data" / "ILSVRC2012_validation_ground_truth.txt", "the validation ground truth")
    val_images = sorted(staging.glob("ILSVRC2012_val_*.JPEG"))
    ids = [int(x) for x in truth.read_text().split()]
    if len(ids) != len(val_images):
        raise DataError(f"{truth} lists {len(ids)} labels but the val archive holds {len(val_images)} images.")
    for image, class_id in zip(val_images, ids):
        (staging / "val" / wnid_of[class_id]).mkdir(parents=True, exist_ok=True)
        image.rename(staging / "val" / wnid_of[class_id] / image.name)
    shutil.rmtree(devkit)


READERS = {
    "image-folder": _image_folder,
    "image-folder-multilabel": _image_folder_multilabel,
    "cifar-python": _cifar_python,
    "flowers-official": _flowers_official,
    "stanford-cars": _stanford_cars,
    "imagenet-archives": lambda m, s, root, split: _image_folder(m, _as_folder(s), root, split),
}
POST_EXTRACT = {"imagenet-archives": imagenet_from_archives}


def _as_folder(source: Source) -> Source:
    from dataclasses import replace
    return replace(source, split_dirs={"train": "train", "eval": "val", "val": "val"})


def read_split(manifest: Manifest, source: Source, root: Path, split: str):
    return READERS[source.layout](manifest, source, root / source.root, split)
