"""Manifests, loaders for every official layout, the real mirrors, and every kind of bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

import data_fakes as fakes
from replication.data import (DataError, eval_transform, get_dataset, list_datasets, load_manifest, prepare,
                              stats, train_transform, verify)

EXPECTED_DATASETS = {"imagenet", "imagenet21k", "imagenette", "imagenette_tiny", "cifar10", "cifar100",
                     "flowers102", "stanford_cars"}


# ---- manifests ----------------------------------------------------------------------------------
def test_every_dataset_has_a_manifest():
    assert EXPECTED_DATASETS <= set(list_datasets())


@pytest.mark.parametrize("name", sorted(EXPECTED_DATASETS))
def test_manifest_schema(name):
    m = load_manifest(name)
    assert m.name == name and m.num_classes > 1 and {"train", "eval"} <= set(m.splits)
    for source in m.sources:
        assert source.kind == "folder" or all(f.checksum[1] for f in source.files)


def test_paper_table9_counts_are_in_the_manifests():
    for name, train, test, classes in (("cifar10", 50000, 10000, 10), ("cifar100", 50000, 10000, 100),
                                       ("flowers102", 2040, 6149, 102), ("stanford_cars", 8144, 8041, 196)):
        m = load_manifest(name)
        assert (m.splits["train"], m.splits["eval"], m.num_classes) == (train, test, classes)


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.pop("num_classes"), "missing key 'num_classes'"),
    (lambda r: r["sources"][0].update(kind="ftp"), "kind 'ftp' is not one of"),
    (lambda r: r["sources"][0]["files"][0].update(sha256="abc"), "malformed sha256"),
    (lambda r: r["sources"][0].update(layout="zip-of-pngs"), "layout 'zip-of-pngs'"),
    (lambda r: r["tuning"].update(fraction=1.5), "tuning: fraction must be in"),
    (lambda r: r["tuning"].update(rest="train"), "tuning: rest 'train' must be a split"),
])
def test_bad_manifest_names_file_and_key(fake_env, edit, message):
    path = fake_env.manifests / "imagenette.yaml"
    raw = yaml.safe_load(path.read_text())
    edit(raw)
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(DataError, match=message) as err:
        load_manifest("imagenette")
    assert "imagenette.yaml" in str(err.value)


def test_unknown_dataset_and_split():
    with pytest.raises(DataError, match="unknown dataset 'imagenet22k'.*Known datasets: .*imagenet21k"):
        get_dataset("imagenet22k", "train")
    with pytest.raises(DataError, match="has no split 'holdout'; its splits are"):
        get_dataset("imagenette_tiny", "holdout")


def test_the_tuning_minival_is_class_balanced_seeded_and_leaves_train_whole():
    from replication.data import tuning_holdout

    train, minival, rest = (get_dataset("imagenette_tiny", s) for s in ("train", "minival", "train_tune"))
    assert (len(train), len(minival), len(rest)) == (320, 30, 290)
    assert np.bincount(minival.targets).tolist() == [3] * 10  # 10 % of each class's 32
    paths = {split: {p for p, _ in ds.samples} for split, ds in (("train", train), ("minival", minival), ("rest", rest))}
    assert not paths["minival"] & paths["rest"] and paths["minival"] | paths["rest"] == paths["train"]
    assert [p for p, _ in get_dataset("imagenette_tiny", "minival").samples] == [p for p, _ in minival.samples]
    targets = [0] * 50 + [1] * 7 + [2] * 20
    held = tuning_holdout(targets, 0.1, seed=0)
    assert np.bincount(np.asarray(targets)[held]).tolist() == [5, 1, 2]
    assert held.tolist() == tuning_holdout(targets, 0.1, seed=0).tolist() != tuning_holdout(targets, 0.1, seed=1).tolist()


# ---- the bundled tiny dataset and transforms ----------------------------------------------------
def test_tiny_dataset_works_without_setup():
    ds = get_dataset("imagenette_tiny", "train", train_transform(32, randaug_magnitude=10, randaug_mmax=30))
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and 0 <= y < 10 and len(ds) == 320 and len(ds.classes) == 10
    assert sorted(set(ds.targets)) == list(range(10))
    assert len(get_dataset("imagenette_tiny", "eval")) == 80


def test_the_decoded_cache_keeps_a_short_side(fake_env):
    _tiny_imagenette(fake_env)
    ds = get_dataset("imagenette", "train")
    ds.cache_decoded = True
    full = ds.load_image(0)
    ds.cache_short_side = 12
    small = ds.load_image(0)
    assert min(full.size) == 24 and min(small.size) == 12 and small.size[0] / small.size[1] == full.size[0] / full.size[1]
    ds.cache_short_side = 48  # never enlarged
    assert ds.load_image(0).size == full.size


def test_transforms_record_their_settings_and_reject_bad_values():
    from replication.config import DataConfig

    tf = train_transform(48, randaug_magnitude=15, randaug_mmax=DataConfig.randaug_mmax, cutout=True)
    assert (tf.image_size, tf.randaug_magnitude, tf.cutout) == (48, 15, True)
    ra = [t for t in tf.transforms if type(t).__name__ == "RandAugment"][0]
    assert ra.ops[0].magnitude == 15 and ra.ops[0].magnitude_max == 30  # 15 is not clipped to 10
    assert "RandAugment" not in repr(train_transform(48, randaug_magnitude=0))
    with pytest.raises(ValueError, match="randaug_mmax is needed"):  # the cap has one default: the config's
        train_transform(48, randaug_magnitude=15)
    ds = get_dataset("imagenette_tiny", "eval", eval_transform(40))
    assert ds[0][0].shape == (3, 40, 40)


# ---- official layouts on tiny archives ----------------------------------------------------------
@pytest.mark.parametrize("variant", ["cifar10", "cifar100"])
def test_cifar_python_layout(fake_env, variant):
    fake_env.install(variant, "official", fakes.cifar_python(variant))
    if variant == "cifar10":  # the JPEG mirror comes first; hide it so the official source is used
        fake_env.patch("cifar10", sources=[s for s in yaml.safe_load((fake_env.manifests / "cifar10.yaml")
                                                                     .read_text())["sources"] if s["id"] == "official"])
    train, test = get_dataset(variant, "train", train_transform(16)), get_dataset(variant, "eval")
    assert len(train) == (15 if variant == "cifar10" else 12) and len(test) == 6
    assert len(train.classes) == (10 if variant == "cifar10" else 100)
    assert train[0][0].shape == (3, 16, 16) and test[1][1] == 1


def test_flowers_official_layout(fake_env):
    fake_env.patch("flowers102", sources=[s for s in yaml.safe_load((fake_env.manifests / "flowers102.yaml")
                                                                    .read_text())["sources"] if s["id"] == "official"])
    fake_env.install("flowers102", "official", fakes.flowers_official(12))
    sizes = {s: len(get_dataset("flowers102", s)) for s in ("train", "train_only", "val", "eval", "test")}
    assert sizes == {"train": 8, "train_only": 4, "val": 4, "eval": 4, "test": 4}
    ds = get_dataset("flowers102", "eval")
    assert ds.samples[0][0].endswith("image_00003.jpg") and ds.samples[0][1] == 2  # label 3 -> index 2
    assert ds.classes[:2] == ["001", "002"]


def test_stanford_cars_layout(fake_env):
    fake_env.install("stanford_cars", "official", fakes.stanford_cars(6, 4))
    train, test = get_dataset("stanford_cars", "train"), get_dataset("stanford_cars", "eval")
    assert (len(train), len(test), len(train.classes)) == (6, 4, 196)
    assert train.targets == [0, 1, 2, 3, 4, 5] and test.targets == [3, 4, 5, 6]
    assert train.classes[5] == "Car 5" and test[0][0].size == (24, 24)


def test_imagenet_official_archives_with_minival(fake_env):
    fake_env.patch("imagenet", num_classes=3)
    fake_env.install("imagenet", "official", fakes.imagenet_archives(per_class=40, n_val=6))
    train, minival, val = (get_dataset("imagenet", s) for s in ("train", "minival", "eval"))
    assert len(minival) == round(120 * 0.02) and len(train) + len(minival) == 120 and len(val) == 6
    assert not {p for p, _ in train.samples} & {p for p, _ in minival.samples}
    assert val.classes == ["n01440764", "n01443537", "n01484850"] and val.targets == [0, 0, 1, 1, 2, 2]
    again = get_dataset("imagenet", "minival")  # the hold-out is fixed by the manifest's seed
    assert again.samples == minival.samples


def test_imagenet_user_folder(fake_env, tmp_path, monkeypatch):
    fake_env.patch("imagenet", num_classes=3)
    root = fakes.image_folder(tmp_path / "ilsvrc", {"train": 5, "val": 2})
    monkeypatch.setenv("REPLICATION_IMAGENET_DIR", str(root))
    assert len(get_dataset("imagenet", "eval")) == 6 and len(get_dataset("imagenet", "train")) == 15 - 1


def test_imagenet21k_multilabel_folder(fake_env, tmp_path, monkeypatch):
    root = fakes.image_folder(tmp_path / "in21k", {".": 4}, classes=("n1", "n2", "n3"))
    (root / "labels.tsv").write_text("n1/n1_0.JPEG\tn2,n3\n")
    monkeypatch.setenv("REPLICATION_IMAGENET21K_DIR", str(root))
    ds = get_dataset("imagenet21k", "train")
    full = dict(get_dataset("imagenet21k", "train").samples + get_dataset("imagenet21k", "eval").samples)
    assert full[str(root / "n1" / "n1_0.JPEG")] == (0, 1, 2)
    _, target = ds[0]
    assert target.shape == (3,) and torch.isclose(target.sum(), torch.tensor(1.0))


# ---- bad input ----------------------------------------------------------------------------------
def _tiny_imagenette(fake_env, members=None, **kw):
    members = members or {f"imagenette-224/{s}/n0{c}/x{j}.JPEG": fakes.jpeg(j) for s in ("train", "val")
                          for c in range(10) for j in range(2)}
    fake_env.install("imagenette", "mirror-224", {"imagenette-224.tar.gz": fakes.tar_bytes(members)}, **kw)


def _nothing_left(fake_env):
    folder = fake_env.data / "imagenette"
    return not folder.exists() or not any(folder.iterdir())


def test_checksum_mismatch(fake_env):
    _tiny_imagenette(fake_env)
    (fake_env.mirror / "imagenette-224.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(DataError, match=r"checksum mismatch for .*imagenette-224.tar.gz.*delete it"):
        get_dataset("imagenette", "train")
    assert _nothing_left(fake_env)


def test_truncated_archive(fake_env):
    data = fakes.tar_bytes({f"imagenette-224/train/n0{c}/x.JPEG": fakes.jpeg(c) * 20 for c in range(10)})
    fake_env.install("imagenette", "mirror-224", {"imagenette-224.tar.gz": data[: len(data) // 2]})
    with pytest.raises(DataError, match="imagenette-224.tar.gz: the archive is truncated or corrupt"):
        get_dataset("imagenette", "train")
    assert _nothing_left(fake_env)


def test_member_escaping_the_target_folder(fake_env, tmp_path):
    _tiny_imagenette(fake_env, {"imagenette-224/train/n00/a.JPEG": fakes.jpeg(0), "../../escaped.txt": b"x"})
    with pytest.raises(DataError, match="refusing to extract member '../../escaped.txt'"):
        get_dataset("imagenette", "train")
    assert not list(tmp_path.rglob("escaped.txt")) and _nothing_left(fake_env)


def test_corrupt_jpeg_inside_dataset(fake_env):
    members = {f"imagenette-224/{s}/n0{c}/x.JPEG": fakes.jpeg(c) for s in ("train", "val") for c in range(10)}
    members["imagenette-224/train/n03/x.JPEG"] = fakes.jpeg(3)[:40]
    _tiny_imagenette(fake_env, members)
    ds = get_dataset("imagenette", "train")
    with pytest.raises(DataError, match=r"n03/x.JPEG: cannot decode this image.*data prepare imagenette --force"):
        ds[3]
    fake_env.patch("imagenette", splits={"train": 10, "eval": 10, "val": 10, "minival": 0, "train_tune": 10})
    with pytest.raises(DataError, match="n03/x.JPEG: cannot decode"):
        verify("imagenette", images=True)


def test_a_mirror_entry_that_is_a_folder_is_named(fake_env):
    (fake_env.mirror / "imagenette-224.tar.gz").mkdir()
    with pytest.raises(DataError, match=r"imagenette-224.tar.gz is a folder, not the file .*REPLICATION_DATA_MIRROR"):
        get_dataset("imagenette", "train")


def test_an_unwritable_data_dir_is_named(fake_env, monkeypatch):
    _tiny_imagenette(fake_env)
    (fake_env.data.parent / "a-file").write_text("not a folder")
    monkeypatch.setenv("REPLICATION_DATA_DIR", str(fake_env.data.parent / "a-file" / "data"))
    with pytest.raises(DataError, match=r"cannot unpack imagenette into .*a-file.*REPLICATION_DATA_DIR"):
        get_dataset("imagenette", "train")


def test_missing_dataset_says_where_it_looked(fake_env):
    with pytest.raises(DataError, match=r"dataset 'cifar100' is not available.*cifar-100-python.tar.gz.*"
                                        r"REPLICATION_DATA_MIRROR"):
        get_dataset("cifar100", "train")
    with pytest.raises(DataError, match=r"REPLICATION_IMAGENET_DIR \(unset\)"):
        get_dataset("imagenet", "train")


def test_wrong_layout(fake_env):
    _tiny_imagenette(fake_env, {f"imagenette-224/training/n0{c}/x.JPEG": fakes.jpeg(c) for c in range(10)})
    with pytest.raises(DataError, match=r"wrong layout: expected the 'train' folder at .*imagenette-224/train"):
        get_dataset("imagenette", "train")
    _tiny_imagenette(fake_env, {f"imagenette-224/{s}/n0{c}/x.JPEG": fakes.jpeg(c) for s in ("train", "val")
                                for c in range(4)})
    with pytest.raises(DataError, match="has 4 class folders, the manifest imagenette.yaml expects 10"):
        get_dataset("imagenette", "train")


def test_failed_reprepare_leaves_no_staging_and_keeps_the_good_copy(fake_env):
    _tiny_imagenette(fake_env)
    folder, _ = prepare("imagenette")
    assert (folder / ".prepared.json").exists()
    (fake_env.mirror / "imagenette-224.tar.gz").write_bytes(b"broken")
    with pytest.raises(DataError, match="checksum mismatch"):
        prepare("imagenette", force=True)
    assert not list(folder.parent.glob(".staging-*")) and (folder / ".prepared.json").exists()
    assert len(get_dataset("imagenette", "train")) == 20


# ---- the real mirrors (../shared/datasets) ------------------------------------------------------
@pytest.mark.parametrize("name, archive, counts", [
    ("imagenette", "imagenette-224.tar.gz", (9469, 3925, 10)),
    ("cifar10", "cifar10-jpg.tar.gz", (50000, 10000, 10)),
    ("flowers102", "flowers102-160.tar.gz", (2040, 6149, 102)),
])
def test_real_mirror_verify_and_stats(name, archive, counts):
    if not fakes.mirror_has(archive):
        pytest.skip(f"{archive} not found: set REPLICATION_DATA_MIRROR to the folder holding it (../shared/datasets)")
    assert verify(name)["ok"]
    s = stats(name)
    assert (s["train"], s["eval"], s["classes"]) == counts
    if name == "flowers102":
        assert s["splits"]["val"] == 1020


def test_cli_stats_and_errors():
    out = subprocess.run([sys.executable, "-m", "replication", "data", "stats", "imagenette_tiny"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["train"] == 320
    bad = subprocess.run([sys.executable, "-m", "replication", "data", "verify", "nope"], capture_output=True, text=True)
    assert bad.returncode == 1 and "unknown dataset 'nope'" in bad.stderr
