"""Getting a dataset's bytes onto disk, safely: find -> (download) -> verify -> extract.

Where things live (environment variables):
  REPLICATION_DATA_MIRROR  folder(s) holding archives under their official names (``:``-separated);
                           CI and this project's machines use ``../shared/datasets``.
  REPLICATION_DATA_DIR     where archives are unpacked (default ``~/.cache/replication/data``),
                           one folder per dataset and source; downloads go to its ``downloads/``.
  REPLICATION_ALLOW_DOWNLOAD=1  permit downloading a missing official archive (off by default).

A prepared folder is trusted only if it carries ``.prepared.json``; it is written inside a
staging folder which is then renamed into place, so an interrupted or failed extraction never
leaves a folder that a later run would use.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import urllib.request
import zlib
from pathlib import Path

from tqdm.auto import tqdm

from .manifest import DataError, FileSpec, Manifest, Source, manifest_dir

MARKER = ".prepared.json"
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def data_dir() -> Path:
    return Path(os.environ.get("REPLICATION_DATA_DIR") or Path.home() / ".cache" / "replication" / "data")


def mirror_dirs() -> list[Path]:
    env = os.environ.get("REPLICATION_DATA_MIRROR", "")
    return [Path(p) for p in env.split(os.pathsep) if p] + [data_dir() / "downloads"]


def file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, spec: FileSpec) -> None:
    algo, expected = spec.checksum
    actual = file_digest(path, algo)
    if actual != expected:
        raise DataError(f"checksum mismatch for {path}: {algo} is {actual}, the manifest expects {expected}. "
                        "The file is damaged or a different release: delete it and copy/download it again "
                        "(or, if you knowingly use another release, update the manifest).")


def locate_file(source: Source, spec: FileSpec) -> Path | None:
    if source.kind == "bundled":
        path = manifest_dir() / spec.name
        return path if path.exists() else None
    for folder in mirror_dirs():
        path = folder / spec.name
        if path.exists() and not path.is_file():
            raise DataError(f"{path} is a folder, not the file {spec.name}; remove or rename it, or take "
                            f"{folder} out of $REPLICATION_DATA_MIRROR.")
        if path.exists():
            return path
    return None


def download(spec: FileSpec) -> Path:
    if not spec.url:
        raise DataError(f"{spec.name} has no public URL: obtain it yourself and put it in $REPLICATION_DATA_MIRROR.")
    target = data_dir() / "downloads" / spec.name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot write downloads into {target.parent} ({exc.strerror}); set $REPLICATION_DATA_DIR "
                        "to a writable folder.") from None
    partial = target.with_name(target.name + ".partial")
    with urllib.request.urlopen(spec.url) as response, open(partial, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {spec.name}") as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                bar.update(len(block))
    verify_file(partial, spec)
    os.replace(partial, target)
    return target


def find_files(manifest: Manifest, source: Source, allow_download: bool) -> list[Path] | None:
    """Paths of all the source's files, or None when any is missing and may not be downloaded."""
    paths = [locate_file(source, spec) for spec in source.files]
    if all(paths):
        return paths
    if source.kind != "download" or not allow_download:
        return None
    return [p or download(spec) for p, spec in zip(paths, source.files)]


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a tar archive, refusing members that would land outside ``dest``.

    Uses the standard library's ``data`` filter (no absolute paths, no ``..``, no links out of
    the folder, no device files) and turns its errors into messages naming the archive.
    """
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except tarfile.FilterError as exc:
        raise DataError(f"{archive}: refusing to extract member '{exc.tarinfo.name}' ({exc}). "
                        "The archive is unsafe or not the official one: delete it and obtain a clean copy.") from exc
    except (tarfile.ReadError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{archive}: the archive is truncated or corrupt ({exc}). "
                        "Delete it and copy/download it again.") from exc


def _expected_digests(source: Source) -> dict:
    return {spec.name: "%s:%s" % spec.checksum for spec in source.files}


def prepared_path(manifest: Manifest, source: Source) -> Path:
    return data_dir() / manifest.name / source.id


def is_prepared(manifest: Manifest, source: Source) -> bool:
    marker = prepared_path(manifest, source) / MARKER
    try:
        return json.loads(marker.read_text()).get("files") == _expected_digests(source)
    except (OSError, ValueError):
        return False


def extract_source(manifest: Manifest, source: Source, paths: list[Path], post=None) -> Path:
    """Verify ``paths`` and unpack them into the source's prepared folder, atomically.

    ``post(staging)`` may reorganize the unpacked files (e.g. ImageNet's per-class tars) before
    the folder is marked complete and moved into place.
    """
    target = prepared_path(manifest, source)
    staging = target.with_name(f".staging-{source.id}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise DataError(f"cannot unpack {manifest.name} into {target.parent} ({exc.strerror}); make it writable or set "
                        "$REPLICATION_DATA_DIR to a writable folder.") from None
    try:
        for path, spec in zip(paths, source.files):
            verify_file(path, spec)
            if path.name.endswith(ARCHIVE_SUFFIXES):
                safe_extract(path, staging)
            else:
                shutil.copy2(path, staging / Path(spec.name).name)
        if post is not None:
            post(staging)
        (staging / MARKER).write_text(json.dumps({"dataset": manifest.name, "source": source.id,
                                                  "files": _expected_digests(source)}, indent=1))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
