"""Run records and checkpoints: the schema and atomic writes.

Every training run writes ``<results_dir>/<experiment>/<run_id>/``:

* ``config.yaml``  the resolved config (``replication.config``), written before training starts;
* ``epochs.csv``   one row per finished epoch, columns ``EPOCH_COLUMNS`` (epoch and stage count
  from 1; ``lr`` is the rate at the end of the epoch; ``epoch_seconds`` and ``images_per_second``
  cover training only, evaluation is timed separately in ``eval_seconds`` over ``eval_images``
  images; ``wall_seconds`` is the whole epoch with evaluation and checkpoint, ``cpu_seconds`` this
  process's CPU time in it and ``load_avg`` the machine's 1-minute load at its end, so a run slowed
  by another process shows it in its own record);
* ``summary.json`` written once the run has finished (``SUMMARY_KEYS``): final metrics, total
  train seconds, hardware, library versions and git commit.

Checkpoints (weights, optimizer, EMA, RNG states, history) go to
``<checkpoint_dir>/<experiment>/<run_id>/last.pt``, a git-ignored folder; they are read with
``torch.load(weights_only=True)``, so they hold only tensors and plain Python values. A finished run
whose checkpoint another run needs (a transfer source) and is gone is trained again with the same
config, its record in ``<results_dir>/rebuilt/<experiment>/<run_id>/`` beside the committed one.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import random
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import yaml

from replication.config import Config, ConfigError, to_dict

EPOCH_COLUMNS = (
    "epoch", "stage", "image_size", "randaug_magnitude", "mixup_alpha", "dropout", "lr",
    "train_loss", "val_loss", "val_top1", "val_top5", "ema_loss", "ema_top1", "ema_top5",
    "epoch_seconds", "eval_seconds", "images_per_second", "train_images",
    "eval_images", "wall_seconds", "cpu_seconds", "load_avg",
)
SUMMARY_KEYS = (
    "experiment", "run_id", "status", "model", "dataset", "schedule_mode", "seed", "epochs", "final",
    "best_val_top1", "total_train_seconds", "total_eval_seconds", "mean_images_per_second",
    "num_processes", "resumed", "hardware", "versions", "git_commit",
)
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- atomic files
@contextlib.contextmanager
def _atomic(path):
    """A temporary path beside ``path`` (mode as ``open()`` gives) that becomes ``path`` with ``os.replace``
    when the block ends, or is deleted when it fails: a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, file_mode())  # mkstemp makes 0600; a record is an ordinary file
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (never half-written)."""
    with _atomic(path) as tmp:
        Path(tmp).write_text(text)


def file_mode() -> int:
    """The mode ``open()`` would give a new file under the current umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def save_config(cfg: Config, path) -> None:
    """The resolved config as YAML (``config.from_dict`` reads it back exactly)."""
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


class RunError(RuntimeError):
    """A run folder that cannot be used as it is; the message names the file and the way out."""


REBUILT = "rebuilt"  # <results_dir>/rebuilt/<experiment>/<run_id>: finished runs trained again for their checkpoint


def run_dir(cfg) -> Path:
    return _inside(Path(cfg.train.results_dir), cfg.experiment, cfg.resolved_run_id, "train.results_dir")


def checkpoint_dir(cfg) -> Path:
    return _inside(Path(cfg.train.checkpoint_dir), cfg.experiment, cfg.resolved_run_id, "train.checkpoint_dir")


def _inside(root: Path, experiment: str, run_id: str, key: str) -> Path:
    """``root/experiment/run_id``, refused unless it resolves to a folder inside ``root``."""
    path = root / experiment / run_id
    top = root.resolve()
    if top == path.resolve() or top not in path.resolve().parents:
        raise ConfigError(f"experiment={experiment!r} run_id={run_id!r}: the run folder {path} would not be inside "
                          f"{key}={root}; use plain folder names")
    return path


def check_writable_dir(path, key: str) -> None:
    """Refuse (before any training) a folder that is a file, lies under a file, or cannot be written."""
    path = Path(path)
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                raise ConfigError(f"{key}: {part} is a file, not a folder; move it away or set {key}=<another folder>")
            if not os.access(part, os.W_OK | os.X_OK):
                raise ConfigError(f"{key}: cannot write in {part}; fix its permissions or set {key}=<another folder>")
            return


def remove_stale_temp_files(*folders) -> list[Path]:
    """Delete ``.<name>.*.tmp`` files left by writes that were killed (atomic writes never finished)."""
    removed = []
    for folder in folders:
        for tmp in Path(folder).glob(".*.tmp") if Path(folder).is_dir() else ():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


# --------------------------------------------------------------------------- run lock
class RunLock:
    """``<run folder>/.lock`` holding the pid and host of the process that writes the run.

    Taken with ``O_EXCL``, so two launches never both hold it. A lock whose process is gone (same
    host, pid not running) is stale and taken over; a live one, or one from another host, is refused."""

    def __init__(self, folder):
        self.path = Path(folder) / ".lock"
        self.held = False

    def owner(self) -> dict | None:
        """The live holder as {"pid", "host", "started"}, or None when free or stale."""
        try:
            info = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"pid": None, "host": "?", "started": "?"}  # unreadable: treat as held, the message says what to do
        if info.get("host") == socket.gethostname() and not _pid_alive(info.get("pid")):
            return None
        return info

    def check(self) -> None:
        info = self.owner()
        if info is not None and not (info.get("pid") == os.getpid() and info.get("host") == socket.gethostname()):
            raise RunError(f"{self.path.parent} is being written by process {info.get('pid')} on {info.get('host')} "
                           f"(since {info.get('started')}); wait for it or stop it (see README: stopping a run). "
                           f"If that process is surely gone, delete {self.path}")

    def acquire(self) -> None:
        self.check()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)  # stale (checked above)
        text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")})
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode())
        except FileExistsError:
            raise RunError(f"{self.path.parent}: another process took the run lock at the same moment; "
                           "run one training per run folder") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        self.held = True

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def _pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    """``torch.save`` through :func:`_atomic`: a kill never leaves half a file."""
    with _atomic(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path) -> dict:
    """Read a checkpoint (tensors and plain values only); an unreadable file is a ``RunError`` naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # truncated, corrupt or not a checkpoint at all
        raise RunError(f"{path} cannot be read ({type(err).__name__}: {str(err).splitlines()[0][:200]}); it is truncated "
                       "or not a checkpoint. Restore it from a backup, or start the run again with --overwrite") from None


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
