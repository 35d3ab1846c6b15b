"""Datasets by name: manifest -> mirror or download -> checksum -> safe extraction -> loader.

    from replication.data import get_dataset, train_transform, eval_transform
    train = get_dataset("imagenette", "train", train_transform(128, randaug_magnitude=5, randaug_mmax=30))
    test = get_dataset("imagenette", "eval", eval_transform(160))

Splits: every dataset has "train" and "eval" (what the paper trains on and reports); manifests
list extra ones ("val", "test", "minival", ...). See ``archive.py`` for the environment variables.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from replication.config import DataConfig

from .archive import extract_source, find_files, file_digest, is_prepared, mirror_dirs, prepared_path
from .datasets import ImageFileDataset, SyntheticDataset
from .layouts import POST_EXTRACT, read_split
from .manifest import DataError, Manifest, list_datasets, load_manifest
from .transforms import NORMALIZATION, eval_transform, official_eval_transform, train_transform

__all__ = ["DataError", "get_dataset", "train_transform", "eval_transform", "official_eval_transform", "NORMALIZATION",
           "prepare", "verify", "stats", "describe_source",
           "list_datasets", "load_manifest", "decode_speed", "add_commands"]


def _downloads_allowed(allow_download: bool | None) -> bool:
    return bool(allow_download) if allow_download is not None else os.environ.get("REPLICATION_ALLOW_DOWNLOAD") == "1"


def prepare(name: str, allow_download: bool | None = None, force: bool = False):
    """Make the dataset available on disk; return (folder, source) of the first usable source."""
    manifest = load_manifest(name)
    looked = []
    for source in manifest.sources:
        if source.kind == "folder":
            folder = os.environ.get(source.env)
            if folder:
                if not os.path.isdir(folder):
                    raise DataError(f"${source.env}={folder} is not a folder. Point it at an extracted copy "
                                    f"of {manifest.title} or unset it.")
                return Path(folder), source
            looked.append(f"${source.env} (unset)")
            continue
        if not force and is_prepared(manifest, source):
            return prepared_path(manifest, source), source
        paths = find_files(manifest, source, allow_download=False)
        if paths is None and source.kind == "download" and _downloads_allowed(allow_download):
            paths = find_files(manifest, source, allow_download=True)
        if paths is not None:
            return extract_source(manifest, source, paths, POST_EXTRACT.get(source.layout)), source
        looked.append(f"{', '.join(f.name for f in source.files)} ({source.kind})")
    where = ", ".join(str(d) for d in mirror_dirs())
    raise DataError(f"dataset '{name}' is not available. Looked for: {'; '.join(looked)} in {where}. "
                    "Fix: copy the files into $REPLICATION_DATA_MIRROR, set the folder variable named above, "
                    "or allow downloads (REPLICATION_ALLOW_DOWNLOAD=1 or `data prepare --download`). "
                    f"Manifest: {manifest.path}")


def _holdout(manifest: Manifest, samples_len: int) -> np.ndarray:
    """Indices of the held-out images (ImageNet minival, ImageNet-21k eval): fixed by the seed."""
    h = manifest.holdout
    count = h["count"] if samples_len >= 50 * h["count"] else max(1, round(samples_len * h["fraction_if_small"]))
    return np.random.default_rng(h["seed"]).permutation(samples_len)[:count]


def tuning_holdout(targets, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a class-balanced minival: ``round(fraction x n_c)`` images of every class c, drawn
    with ``seed`` (one generator, classes in order); the rest of 'train' is what a tuning run trains on."""
    targets = np.asarray(targets)
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(targets == c))[:round(fraction * (targets == c).sum())]
              for c in np.unique(targets)]
    return np.sort(np.concatenate(picked))


SYNTHETIC = "synthetic"  # not a manifest: random tensors for benchmarks (datasets.SyntheticDataset)


def get_dataset(name: str, split: str, transform=None, allow_download: bool | None = None):
    if name == SYNTHETIC:
        if split not in SyntheticDataset.SPLITS:
            raise DataError(f"dataset '{SYNTHETIC}' has no split '{split}'; its splits are {sorted(SyntheticDataset.SPLITS)}.")
        ds = SyntheticDataset(SyntheticDataset.SPLITS[split], seed=0 if split == "train" else 1)
        ds.transform = transform
        return ds
    manifest = load_manifest(name)
    if split not in manifest.splits:
        raise DataError(f"dataset '{name}' has no split '{split}'; its splits are {sorted(manifest.splits)}.")
    root, source = prepare(name, allow_download)
    h, tune = manifest.holdout, manifest.tuning
    carved = h is not None and split in ("train", h["split"])
    tuning = tune is not None and split in (tune["split"], tune["rest"])
    ds = read_split(manifest, source, root, "train" if carved or tuning else split)
    if carved or tuning:
        if carved:
            held = set(_holdout(manifest, len(ds.samples)).tolist())
        else:
            held = set(tuning_holdout([t for _, t in ds.samples], tune["fraction"], tune["seed"]).tolist())
        inside = split == (h["split"] if carved else tune["split"])
        ds.samples = [s for i, s in enumerate(ds.samples) if (i in held) == inside]
    ds.transform = transform
    if isinstance(ds, ImageFileDataset):
        ds.name = name
        ds.fix_hint = f"Run `python -m replication data prepare {name} --force` to unpack it again."
    return ds


def describe_source(name: str) -> dict:
    """Which archive a run reads ``name`` from: manifest, source and the checksum of each file (run.json)."""
    if name == SYNTHETIC:
        return {"dataset": name, "source": "random tensors"}
    manifest = load_manifest(name)
    _, source = prepare(name)
    files = [{"name": f.name, "checksum": ":".join(f.checksum)} for f in source.files]
    return {"dataset": name, "manifest": manifest.path.name, "source": source.id, "kind": source.kind, "files": files}


def stats(name: str) -> dict:
    manifest = load_manifest(name)
    splits = {}
    for split in manifest.splits:
        ds = get_dataset(name, split)
        splits[split] = len(ds)
        classes = len(ds.classes)
    _, source = prepare(name)
    return {"dataset": name, "source": source.id, "train": splits["train"], "eval": splits["eval"],
            "classes": classes, "splits": splits}


def verify(name: str, images: bool = False) -> dict:
    """Re-hash the source files, check every split's size against the manifest, optionally decode all images."""
    manifest = load_manifest(name)
    root, source = prepare(name)
    checked = []
    if source.kind != "folder":
        paths = find_files(manifest, source, allow_download=False)
        for path, spec in zip(paths or [], source.files):
            algo, expected = spec.checksum
            if file_digest(path, algo) != expected:
                raise DataError(f"checksum mismatch for {path}: the manifest expects {algo} {expected}. "
                                "Delete the file and copy/download it again.")
            checked.append(f"{spec.name} {algo} ok")
    counts = {}
    for split, expected in manifest.splits.items():
        ds = get_dataset(name, split)
        counts[split] = len(ds)
        if expected is not None and len(ds) != expected:
            raise DataError(f"dataset '{name}' split '{split}' has {len(ds)} images, the manifest "
                            f"{manifest.path.name} expects {expected}. Re-run `data prepare {name} --force`.")
        if images:
            for i in range(len(ds)):
                ds.load_image(i)
    return {"dataset": name, "source": source.id, "folder": str(root), "files": checked, "splits": counts,
            "images_decoded": images, "ok": True}


def decode_speed(name: str, transform, split: str = "train", images: int = 400, draft: bool = False,
                 cache: bool = False) -> dict:
    """Images/s of decode + ``transform`` in this process (one core): is the input pipeline a
    bottleneck? ``cache``: time it with the images already in the decoded cache."""
    import time
    ds = get_dataset(name, split, transform)
    image_size, randaug_magnitude = transform.image_size, transform.randaug_magnitude
    ds.draft_size = image_size if draft else None
    ds.cache_decoded = cache
    step = max(1, len(ds) // images)
    picked = list(range(0, len(ds), step))[:images]
    for i in picked if cache else picked[:20]:  # warm-up (and the cache filled)
        ds[i]
    finish = getattr(transform, "finish", None)  # a batched transform's per-batch step, timed in batches of 64
    start = time.perf_counter()
    batch = []
    for i in picked:
        batch.append(ds[i][0])
        if finish is not None and (len(batch) == 64 or i == picked[-1]):
            finish(torch.stack(batch))
        if len(batch) == 64:
            batch = []
    seconds = time.perf_counter() - start
    return {"dataset": name, "image_size": image_size, "randaug_magnitude": randaug_magnitude, "draft": draft,
            "cache": cache, "images": len(picked), "images_per_second": round(len(picked) / seconds, 1)}


# ---- command line -------------------------------------------------------------------------------
def _cmd_list(args) -> int:
    for name in list_datasets():
        m = load_manifest(name)
        print(f"{name:16s} {m.num_classes:6d} classes  {m.title}")
    return 0


def _run(fn):
    def handler(args) -> int:
        try:
            print(json.dumps(fn(args), indent=2))
            return 0
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return handler


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("data", help="list, verify, prepare and describe datasets",
                              description="Datasets described by data_manifests/*.yaml.")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="datasets with a manifest").set_defaults(func=_cmd_list)
    v = sub.add_parser("verify", help="check checksums and split sizes against the manifest")
    v.add_argument("name")
    v.add_argument("--images", action="store_true", help="also decode every image (slow)")
    v.set_defaults(func=_run(lambda a: verify(a.name, a.images)))
    pr = sub.add_parser("prepare", help="find or download, verify and unpack into $REPLICATION_DATA_DIR")
    pr.add_argument("name")
    pr.add_argument("--download", action="store_true", help="allow downloading missing official files")
    pr.add_argument("--force", action="store_true", help="unpack again even if already prepared")
    pr.set_defaults(func=_run(lambda a: {"dataset": a.name, "folder": str(prepare(a.name, a.download or None, a.force)[0])}))
    s = sub.add_parser("stats", help="train/eval image counts and classes as JSON")
    s.add_argument("name")
    s.set_defaults(func=_run(lambda a: stats(a.name)))
    sp = sub.add_parser("speed", help="decode + augment images/s in one process")
    sp.add_argument("name")
    sp.add_argument("--image-size", type=int, default=128)
    sp.add_argument("--randaug-magnitude", type=float, default=0)
    sp.add_argument("--images", type=int, default=400)
    sp.add_argument("--draft", action="store_true", help="let libjpeg decode at a reduced scale")
    sp.add_argument("--cache", action="store_true", help="time it from the decoded cache (data.cache_decoded)")
    sp.set_defaults(func=_run(lambda a: decode_speed(a.name, _speed_transform(a), images=a.images, draft=a.draft,
                                                     cache=a.cache)))


def _speed_transform(args):

    return train_transform(args.image_size, randaug_magnitude=args.randaug_magnitude, randaug_mmax=DataConfig.randaug_mmax)
