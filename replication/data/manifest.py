"""Data manifests: one YAML file per dataset in ``data_manifests/``.

A manifest says what a dataset is (classes, split sizes, license) and where its bytes can come
from (``sources``, tried in order). Every source names a ``layout`` that ``layouts.py`` knows
how to read. The schema is checked here, on load, so a typo in a manifest fails with the file
and the key named instead of deep inside a training run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

MANIFEST_DIR_ENV = "REPLICATION_MANIFESTS"
SOURCE_KINDS = ("mirror", "bundled", "download", "folder")
LAYOUTS = ("image-folder", "image-folder-multilabel", "cifar-python", "flowers-official",
           "stanford-cars", "imagenet-archives")
HASHES = ("sha256", "md5")


class DataError(RuntimeError):
    """A dataset problem the user can fix; the message names the file and the fix."""


def manifest_dir() -> Path:
    env = os.environ.get(MANIFEST_DIR_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data_manifests"


@dataclass(frozen=True)
class FileSpec:
    name: str
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None

    @property
    def checksum(self) -> tuple[str, str]:
        """(algorithm, hex digest): sha256 when the manifest gives one, else md5."""
        return ("sha256", self.sha256) if self.sha256 else ("md5", self.md5)


@dataclass(frozen=True)
class Source:
    id: str
    kind: str
    layout: str
    root: str = "."
    files: tuple[FileSpec, ...] = ()
    env: str | None = None
    split_dirs: dict = field(default_factory=dict)
    variant: str | None = None
    class_order: tuple[str, ...] | None = None
    note: str = ""


@dataclass(frozen=True)
class Manifest:
    name: str
    title: str
    task: str
    num_classes: int
    splits: dict
    sources: tuple[Source, ...]
    path: Path
    license: str = ""
    homepage: str = ""
    used_for: str = ""
    holdout: dict | None = None  # {split, count, seed, fraction_if_small}: carved out of 'train'
    tuning: dict | None = None  # {split, rest, fraction, seed}: a class-balanced minival beside a whole 'train'


def _require(d: dict, key: str, kind, where: str):
    if key not in d:
        raise DataError(f"{where}: missing key '{key}'. Add it (see data_manifests/imagenette.yaml for an example).")
    if not isinstance(d[key], kind):
        raise DataError(f"{where}: '{key}' must be {getattr(kind, '__name__', kind)}, got {d[key]!r}.")
    return d[key]


def _parse_source(raw: dict, where: str) -> Source:
    sid = _require(raw, "id", str, where)
    where = f"{where} source '{sid}'"
    kind = _require(raw, "kind", str, where)
    if kind not in SOURCE_KINDS:
        raise DataError(f"{where}: kind '{kind}' is not one of {SOURCE_KINDS}.")
    layout = _require(raw, "layout", str, where)
    if layout not in LAYOUTS:
        raise DataError(f"{where}: layout '{layout}' is not one of {LAYOUTS}.")
    files = []
    for f in raw.get("files") or []:
        spec = FileSpec(name=_require(f, "name", str, where), url=f.get("url"),
                        sha256=f.get("sha256"), md5=f.get("md5"))
        if not (spec.sha256 or spec.md5):
            raise DataError(f"{where}: file '{spec.name}' has no sha256 or md5; every file must be verifiable.")
        algo, digest = spec.checksum
        if not isinstance(digest, str) or len(digest) != {"sha256": 64, "md5": 32}[algo] \
                or any(c not in "0123456789abcdef" for c in digest):
            raise DataError(f"{where}: file '{spec.name}' has a malformed {algo} {digest!r}.")
        files.append(spec)
    if kind == "folder":
        _require(raw, "env", str, where)
    elif not files:
        raise DataError(f"{where}: a '{kind}' source needs a non-empty 'files' list.")
    if layout in ("image-folder",) and not raw.get("split_dirs"):
        raise DataError(f"{where}: layout image-folder needs 'split_dirs' (split -> folder or list of folders).")
    order = raw.get("class_order")
    return Source(id=sid, kind=kind, layout=layout, root=str(raw.get("root", ".")), files=tuple(files),
                  env=raw.get("env"), split_dirs=dict(raw.get("split_dirs") or {}),
                  variant=raw.get("variant"), class_order=tuple(order) if order else None,
                  note=str(raw.get("note", "")))


def _parse_holdout(raw, where: str) -> dict | None:
    if raw is None:
        return None
    where = f"{where} holdout"
    for key, kind in (("split", str), ("count", int), ("seed", int), ("fraction_if_small", float)):
        _require(raw, key, kind, where)
    return dict(raw)


def _parse_tuning(raw, where: str, splits: dict) -> dict | None:
    """``tuning: {split: minival, rest: train_tune, fraction: 0.1, seed: 0}``: ``split`` holds ``fraction`` of
    every class of 'train' (drawn with ``seed``), ``rest`` the others; 'train' itself stays whole."""
    if raw is None:
        return None
    where = f"{where} tuning"
    for key, kind in (("split", str), ("rest", str), ("fraction", float), ("seed", int)):
        _require(raw, key, kind, where)
    if not 0 < raw["fraction"] < 1:
        raise DataError(f"{where}: fraction must be in (0, 1), got {raw['fraction']}.")
    for key in ("split", "rest"):
        if raw[key] not in splits or raw[key] == "train":
            raise DataError(f"{where}: {key} '{raw[key]}' must be a split listed under 'splits' (not 'train').")
    return dict(raw)


def load_manifest(name_or_path: str | Path) -> Manifest:
    """Load and validate a manifest by dataset name (``imagenette``) or by file path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = manifest_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            raise DataError(f"unknown dataset '{name_or_path}': no {path}. Known datasets: "
                            f"{', '.join(list_datasets()) or '(none)'}.")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({exc}).") from exc
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a mapping at the top level.")
    where = str(path)
    name = _require(raw, "name", str, where)
    if name != path.stem:
        raise DataError(f"{path}: 'name: {name}' must equal the file name '{path.stem}'.")
    task = _require(raw, "task", str, where)
    if task not in ("classification", "multilabel"):
        raise DataError(f"{path}: task must be 'classification' or 'multilabel', got '{task}'.")
    num_classes = _require(raw, "num_classes", int, where)
    splits = _require(raw, "splits", dict, where)
    for split in ("train", "eval"):
        if split not in splits:
            raise DataError(f"{path}: 'splits' must list '{split}'.")
    sources = tuple(_parse_source(s, where) for s in _require(raw, "sources", list, where))
    if not sources:
        raise DataError(f"{path}: 'sources' is empty.")
    return Manifest(name=name, title=str(raw.get("title", name)), task=task, num_classes=num_classes,
                    splits=dict(splits), sources=sources, path=path, license=str(raw.get("license", "")),
                    homepage=str(raw.get("homepage", "")), used_for=str(raw.get("used_for", "")),
                    holdout=_parse_holdout(raw.get("holdout"), where),
                    tuning=_parse_tuning(raw.get("tuning"), where, dict(splits)))


def list_datasets() -> list[str]:
    return sorted(p.stem for p in manifest_dir().glob("*.yaml"))
