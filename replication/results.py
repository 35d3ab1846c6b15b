"""Run records and checkpoints: the schema and atomic writes.

Every training run writes ``<results_dir>/<experiment>/<run_id>/``:

* ``config.yaml``  the resolved config (``replication.config``), written before training starts;
* ``epochs.csv``   one row per finished epoch, columns ``EPOCH_COLUMNS`` (epoch and stage count
  from 1; ``lr`` is the rate at the end of the epoch; ``epoch_seconds`` and ``images_per_second``
  cover training only, evaluation is timed separately in ``eval_seconds`` over ``eval_images``
  images; ``wall_seconds`` is the whole epoch with evaluation and checkpoint, ``cpu_seconds`` this
  process's CPU time in it and ``load_avg`` the machine's 1-minute load at its end, so a run slowed
  by another process shows it in its own record);
* ``run.json``     written when the run starts: a random ``uid`` that its checkpoint carries too (a resume
  continues only its own run), the command, git commit and dirty flag, process count and global batch (a
  resume keeps them), and the data archive it reads (manifest, source, checksums);
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
import fcntl
import io
import json
import numbers
import os
import platform
import random
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import uuid
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
    """``<folder>/.lock``: an OS file lock (``fcntl.flock``) held by the process that writes the run, the file
    holding its pid and host for messages.

    Taking it is atomic: two processes that try at the same instant never both get it, and the kernel drops
    it when its process dies (a lock file left by a killed run is simply taken)."""

    def __init__(self, folder):
        self.path = Path(folder) / ".lock"
        self.held = False
        self._fd = None

    def owner(self) -> dict | None:
        """The live holder as {"pid", "host", "started"}, or None when free (or held by this process)."""
        if self.held:
            return None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # free: nobody holds it exclusively
                fcntl.flock(fd, fcntl.LOCK_UN)
                free = True
            except OSError:
                free = False
            text = os.read(fd, 4096).decode(errors="replace")
        finally:
            os.close(fd)
        if free:
            return None
        try:
            info = json.loads(text)
        except ValueError:
            info = None
        return info if isinstance(info, dict) else {"pid": None, "host": "?", "started": "?"}

    def check(self) -> None:
        info = self.owner()
        if info is not None and not (info.get("pid") == os.getpid() and info.get("host") == socket.gethostname()):
            raise RunError(f"{self.path.parent} is being written by process {info.get('pid')} on {info.get('host')} "
                           f"(since {info.get('started')}); wait for it or stop it (kill {info.get('pid')}; see README: "
                           f"stopping a run). If that process is surely gone, delete {self.path}")

    def acquire(self) -> None:
        self.check()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, file_mode())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                self.check()  # names the holder
                raise RunError(f"{self.path.parent}: another process took the run lock at the same moment; "
                               "run one training per run folder") from None
            try:  # the file may have been released and deleted between open and flock: lock the one on disk
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")})
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
        self._fd, self.held = fd, True

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)  # while still locked: a waiting opener re-checks the inode
            os.close(self._fd)
            self._fd, self.held = None, False


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


RUN_INFO = "run.json"  # the run's identity and provenance, written when it starts


def run_info(out, num_processes: int, global_batch: int, data_source: dict) -> dict:
    """What a new run records about itself in ``run.json``: a random ``uid`` (its checkpoint carries the same,
    so a resume can only continue this run), where and how it was launched, and what it read."""
    commit, loaded = git_commit(), process_commit()
    return {"uid": uuid.uuid4().hex, "run_dir": str(Path(out).resolve()), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": launch_command(), "git_commit": commit.removesuffix("-dirty"), "git_dirty": commit.endswith("-dirty"),
            "process_git_commit": loaded.removesuffix("-dirty"), "process_git_dirty": loaded.endswith("-dirty"),
            "num_processes": num_processes, "global_batch": global_batch, "data": data_source}


_PROCESS_COMMIT: list[str] = []


def process_commit() -> str:
    """:func:`git_commit` at this process's first call, kept: the code a queue process loaded, which its later runs
    go on executing after the tree changes (``study run`` trains many runs in one process)."""
    if not _PROCESS_COMMIT:
        _PROCESS_COMMIT.append(git_commit())
    return _PROCESS_COMMIT[0]


def counts_as_clean(info: dict, run_dir, explained=()) -> bool:
    """Whether the record in ``run_dir`` counts as evidence: its process loaded committed code (``run.json``'s
    ``process_git_dirty``, else ``git_dirty`` for records written before that field; records without a ``run.json``
    predate both), or the study spec's ``changes`` explain it (``explained``: ``<experiment>/<run_id>`` folders)."""
    dirty = info.get("process_git_dirty", info.get("git_dirty", False))
    return not dirty or "/".join(Path(run_dir).parts[-2:]) in set(explained)


def launch_command() -> str:
    """The command line that started this process (``accelerate launch`` shows as its worker's ``-m`` command)."""
    argv = list(sys.argv)
    if argv and argv[0].endswith("__main__.py") and Path(argv[0]).parent.name == "replication":
        argv = ["python", "-m", "replication", *argv[1:]]
    return shlex.join(argv)


def write_run_info(out, info: dict) -> None:
    atomic_write_text(Path(out) / RUN_INFO, json.dumps(info, indent=2) + "\n")


def read_run_info(out) -> dict:
    """``run.json`` of a run folder ({} for runs older than it); an unreadable one is a ``RunError``."""
    path = Path(out) / RUN_INFO
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise RunError(f"{path} cannot be read ({type(err).__name__}); restore it, or pass --overwrite to start the run "
                       "again") from None
    if not isinstance(info, dict):
        raise RunError(f"{path} is not a JSON object; restore it, or pass --overwrite to start the run again")
    return info


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


OUTPUT_FOLDERS = ("results", "figures")  # what the project writes: a change there is a record, not the code that ran


def describe_hardware(hw: dict) -> str:
    """One line for a run summary's ``hardware`` dict: the GPUs, or the processor and CPU count."""
    gpus = hw.get("gpus")
    if isinstance(gpus, (list, tuple)) and gpus:
        return ", ".join(sorted(set(map(str, gpus))))
    processor = hw.get("processor")
    if not isinstance(processor, str) or not processor:
        return ""
    counts = [(hw.get("cpu_count"), "CPUs"), (hw.get("torch_threads"), "torch threads")]
    extra = [f"{int(n)} {what}" for n, what in counts if isinstance(n, numbers.Real) and n == n]  # n == n: not NaN
    return processor + (f" ({', '.join(extra)})" if extra else "")


def git_commit() -> str:
    """HEAD of the repository (with ``-dirty`` if tracked files other than the project's outputs,
    ``OUTPUT_FOLDERS``, changed), or ``unknown``."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        outputs = [f":(exclude){folder}" for folder in OUTPUT_FOLDERS]
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *outputs],
                               cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# --------------------------------------------------------------------------- checkpoints
def save_checkpoint(path, state: dict) -> None:
    """``torch.save`` through :func:`_atomic`: a kill never leaves half a file."""
    with _atomic(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path, mmap: bool = False) -> dict:
    """Read a checkpoint (tensors and plain values only); an unreadable file is a ``RunError`` naming it.
    ``mmap``: map the tensors instead of reading them (to look at the plain values of a large file)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise
    except Exception as err:  # truncated, corrupt, empty or not a checkpoint at all
        first = (str(err).splitlines() or ["no message"])[0][:200]
        raise RunError(f"{path} cannot be read ({type(err).__name__}: {first}); it is truncated, empty "
                       "or not a checkpoint. Restore it from a backup, or start the run again with --overwrite") from None
    if not isinstance(ckpt, dict):
        raise RunError(f"{path} holds a {type(ckpt).__name__}, not a checkpoint; restore it from a backup, or start the "
                       "run again with --overwrite")
    return ckpt


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
