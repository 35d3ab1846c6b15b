"""Run records and checkpoints: the schema and atomic writes.

Every training run writes ``<results_dir>/<experiment>/<run_id>/``:

* ``config.yaml``  the resolved config (``replication.config``), written before training starts;
* ``epochs.csv``   one row per finished epoch, columns ``EPOCH_COLUMNS`` (epoch and stage count
  from 1; ``lr`` is the rate at the end of the epoch; ``epoch_seconds`` and ``images_per_second``
  cover training only, evaluation is timed separately in ``eval_seconds``);
* ``summary.json`` written once the run has finished (``SUMMARY_KEYS``): final metrics, total
  train seconds, hardware, library versions and git commit.

Checkpoints (weights, optimizer, EMA, RNG states, history) go to
``<checkpoint_dir>/<experiment>/<run_id>/last.pt``, a git-ignored folder; they are read with
``torch.load(weights_only=True)``, so they hold only tensors and plain Python values.
"""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import random
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from replication.config import atomic_write_text

EPOCH_COLUMNS = (
    "epoch", "stage", "image_size", "randaug_magnitude", "mixup_alpha", "dropout", "lr",
    "train_loss", "val_loss", "val_top1", "val_top5", "ema_top1", "ema_top5",
    "epoch_seconds", "eval_seconds", "images_per_second", "train_images",
)
SUMMARY_KEYS = (
    "experiment", "run_id", "status", "model", "dataset", "schedule_mode", "seed", "epochs", "final",
    "best_val_top1", "total_train_seconds", "total_eval_seconds", "mean_images_per_second",
    "num_processes", "resumed", "hardware", "versions", "git_commit",
)
REPO = Path(__file__).resolve().parent.parent


def run_dir(cfg) -> Path:
    return Path(cfg.train.results_dir) / cfg.experiment / cfg.resolved_run_id


def checkpoint_dir(cfg) -> Path:
    return Path(cfg.train.checkpoint_dir) / cfg.experiment / cfg.resolved_run_id


# --------------------------------------------------------------------------- run record
def write_epochs(path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EPOCH_COLUMNS, extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in EPOCH_COLUMNS})
    atomic_write_text(path, buf.getvalue())


def write_summary(path, summary: dict) -> None:
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing:
        raise ValueError(f"summary lacks {missing}")
    atomic_write_text(path, json.dumps(summary, indent=2, default=str) + "\n")


def read_run(path) -> dict:
    """A run record as ``{"config": dict, "epochs": DataFrame, "summary": dict | None}``."""
    import pandas as pd
    import yaml

    path = Path(path)
    summary = path / "summary.json"
    return {
        "config": yaml.safe_load((path / "config.yaml").read_text()),
        "epochs": pd.read_csv(path / "epochs.csv") if (path / "epochs.csv").exists() else pd.DataFrame(columns=EPOCH_COLUMNS),
        "summary": json.loads(summary.read_text()) if summary.exists() else None,
    }


def environment() -> dict:
    """Hardware, library versions and git commit, for the summary."""
    import accelerate
    import timm
    import torchvision

    hardware = {"platform": platform.platform(), "processor": _cpu_name(), "cpu_count": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}
    versions = {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
                "timm": timm.__version__, "accelerate": accelerate.__version__, "numpy": np.__version__}
    return {"hardware": hardware, "versions": versions, "git_commit": git_commit()}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def git_commit() -> str:
    """HEAD of the repository (with ``-dirty`` if tracked files changed), or ``unknown``."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# --------------------------------------------------------------------------- checkpoints
def save_checkpoint(path, state: dict) -> None:
    """``torch.save`` to a temporary file, then ``os.replace``: a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def rng_state() -> dict:
    """Python, NumPy and torch (CPU and CUDA) generator states as tensors and plain values."""
    version, keys, gauss = random.getstate()
    name, np_keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "keys": torch.tensor(keys, dtype=torch.int64), "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["keys"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
