"""Tiny datasets in the official on-disk formats, built in a temp folder for the loader tests.

``FakeEnv`` points the package at a private copy of the manifests, a private mirror and a
private data folder; ``install`` drops files into the mirror and rewrites the matching
manifest source's checksums to the fake files' digests (same algorithm as the official ones).
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def jpeg(seed: int, size: int = 24) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes], gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def mat_bytes(variables: dict) -> bytes:
    from scipy.io import savemat
    buf = io.BytesIO()
    savemat(buf, variables)
    return buf.getvalue()


def mirror_has(name: str) -> bool:
    """Whether the real dataset mirror (../shared/datasets in CI) holds ``name``."""
    dirs = os.environ.get("REPLICATION_DATA_MIRROR", "").split(os.pathsep)
    return any(d and (Path(d) / name).exists() for d in dirs)


class FakeEnv:
    def __init__(self, tmp: Path, monkeypatch):
        self.manifests, self.mirror, self.data = tmp / "manifests", tmp / "mirror", tmp / "data"
        shutil.copytree(REPO / "data_manifests", self.manifests)
        self.mirror.mkdir()
        for var, value in (("REPLICATION_MANIFESTS", self.manifests), ("REPLICATION_DATA_MIRROR", self.mirror),
                           ("REPLICATION_DATA_DIR", self.data)):
            monkeypatch.setenv(var, str(value))
        for var in ("REPLICATION_IMAGENET_DIR", "REPLICATION_IMAGENET21K_DIR", "REPLICATION_ALLOW_DOWNLOAD"):
            monkeypatch.delenv(var, raising=False)

    def install(self, dataset: str, source_id: str, files: dict[str, bytes], fix_checksums: bool = True) -> None:
        for name, data in files.items():
            (self.mirror / name).write_bytes(data)
        if fix_checksums:
            path = self.manifests / f"{dataset}.yaml"
            raw = yaml.safe_load(path.read_text())
            source = next(s for s in raw["sources"] if s["id"] == source_id)
            for spec in source["files"]:
                algo = "sha256" if "sha256" in spec else "md5"
                spec[algo] = hashlib.new(algo, files[spec["name"]]).hexdigest()
            path.write_text(yaml.safe_dump(raw, sort_keys=False))

    def patch(self, dataset: str, **top_level) -> None:
        """Change top-level manifest keys (e.g. num_classes of a 3-class fake ImageNet)."""
        path = self.manifests / f"{dataset}.yaml"
        raw = yaml.safe_load(path.read_text())
        raw.update(top_level)
        path.write_text(yaml.safe_dump(raw, sort_keys=False))


# ---- official layouts ---------------------------------------------------------------------------
def cifar_python(variant: str, n_train: int = 12, n_test: int = 6) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    classes = 10 if variant == "cifar10" else 100
    def batch(n, key):
        return pickle.dumps({"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
                             key: [int(i % classes) for i in range(n)]})
    if variant == "cifar10":
        members = {f"cifar-10-batches-py/data_batch_{i}": batch(n_train // 5 + 1, "labels") for i in range(1, 6)}
        members["cifar-10-batches-py/test_batch"] = batch(n_test, "labels")
        members["cifar-10-batches-py/batches.meta"] = pickle.dumps({"label_names": [f"c{i}" for i in range(10)]})
        return {"cifar-10-python.tar.gz": tar_bytes(members)}
    members = {"cifar-100-python/train": batch(n_train, "fine_labels"),
               "cifar-100-python/test": batch(n_test, "fine_labels"),
               "cifar-100-python/meta": pickle.dumps({"fine_label_names": [f"f{i}" for i in range(100)]})}
    return {"cifar-100-python.tar.gz": tar_bytes(members)}


def flowers_official(n: int = 12) -> dict[str, bytes]:
    images = {f"jpg/image_{i:05d}.jpg": jpeg(i) for i in range(1, n + 1)}
    labels = np.array([[1 + (i % 102) for i in range(n)]])
    ids = np.arange(1, n + 1)
    return {"102flowers.tgz": tar_bytes(images), "imagelabels.mat": mat_bytes({"labels": labels}),
            "setid.mat": mat_bytes({"trnid": ids[0::3], "valid": ids[1::3], "tstid": ids[2::3]})}


def _annotations(n: int, offset: int) -> np.ndarray:
    dtype = [("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O"), ("class", "O"), ("fname", "O")]
    rows = [(1, 1, 20, 20, 1 + (i + offset) % 196, f"{i + 1:05d}.jpg") for i in range(n)]
    return np.array([rows], dtype=dtype)


def stanford_cars(n_train: int = 6, n_test: int = 4) -> dict[str, bytes]:
    names = np.array([f"Car {i}" for i in range(196)], dtype=object)
    return {
        "cars_train.tgz": tar_bytes({f"cars_train/{i + 1:05d}.jpg": jpeg(i) for i in range(n_train)}),
        "cars_test.tgz": tar_bytes({f"cars_test/{i + 1:05d}.jpg": jpeg(100 + i) for i in range(n_test)}),
        "car_devkit.tgz": tar_bytes({"devkit/cars_meta.mat": mat_bytes({"class_names": names.reshape(1, -1)}),
                                     "devkit/cars_train_annos.mat": mat_bytes({"annotations": _annotations(n_train, 0)})}),
        "cars_test_annos_withlabels.mat": mat_bytes({"annotations": _annotations(n_test, 3)}),
    }


def imagenet_archives(wnids=("n01440764", "n01443537", "n01484850"), per_class: int = 4, n_val: int = 6):
    """The three official ILSVRC2012 files, with a devkit whose meta.mat maps IDs 1..k to ``wnids``."""
    train = {f"{w}.tar": tar_bytes({f"{w}_{j}.JPEG": jpeg(10 * i + j) for j in range(per_class)}, gz=False)
             for i, w in enumerate(wnids)}
    val = {f"ILSVRC2012_val_{j + 1:08d}.JPEG": jpeg(500 + j) for j in range(n_val)}
    dtype = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")]
    synsets = np.array([[(i + 1, w, f"class {w}", 0) for i, w in enumerate(wnids)] + [(len(wnids) + 1, "n00001740", "entity", 3)]],
                       dtype=dtype)
    truth = "\n".join(str(1 + j % len(wnids)) for j in range(n_val)) + "\n"
    devkit = {"ILSVRC2012_devkit_t12/data/meta.mat": mat_bytes({"synsets": synsets}),
              "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt": truth.encode()}
    return {"ILSVRC2012_img_train.tar": tar_bytes(train, gz=False), "ILSVRC2012_img_val.tar": tar_bytes(val, gz=False),
            "ILSVRC2012_devkit_t12.tar.gz": tar_bytes(devkit)}


def image_folder(root: Path, splits: dict[str, int], classes=("a", "b", "c")) -> Path:
    for s, per_class in splits.items():
        for i, c in enumerate(classes):
            (root / s / c).mkdir(parents=True, exist_ok=True)
            for j in range(per_class):
                (root / s / c / f"{c}_{j}.JPEG").write_bytes(jpeg(100 * i + j))
    return root
