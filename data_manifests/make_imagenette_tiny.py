"""Make data_manifests/bundled/imagenette-tiny.tar.gz from the Imagenette mirror.

A fixed subset (32 train + 8 eval images per class, chosen by a seeded shuffle of the sorted
file lists), resized to 96x96 and re-encoded as JPEG quality 85. The archive is byte-for-byte
reproducible (sorted members, zero mtimes, fixed owner), so its sha256 in
imagenette_tiny.yaml can be checked by re-running:

    python data_manifests/make_imagenette_tiny.py && git diff --stat data_manifests/
"""
from __future__ import annotations

import gzip
import io
import random
import tarfile
from pathlib import Path

from PIL import Image

from replication.data import get_dataset
from replication.data.archive import file_digest

SIZE, PER_CLASS, SEED = 96, {"train": 32, "eval": 8}, 0
OUT = Path(__file__).resolve().parent / "bundled" / "imagenette-tiny.tar.gz"


def jpeg_bytes(path: str) -> bytes:
    with Image.open(path) as img:
        img = img.convert("RGB").resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def main() -> None:
    members = {}
    for split, folder in (("train", "train"), ("eval", "val")):
        ds = get_dataset("imagenette", split)
        for index, cls in enumerate(ds.classes):
            paths = sorted(p for p, t in ds.samples if t == index)
            random.Random(f"{SEED}-{split}-{cls}").shuffle(paths)
            for p in paths[:PER_CLASS[split]]:
                members[f"imagenette-tiny/{folder}/{cls}/{Path(p).stem}.jpg"] = jpeg_bytes(p)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uname, info.gname = len(members[name]), 0, 0o644, "", ""
            tar.addfile(info, io.BytesIO(members[name]))
    print(f"{OUT}: {len(members)} images, {OUT.stat().st_size} bytes, sha256 {file_digest(OUT, 'sha256')}")


if __name__ == "__main__":
    main()
