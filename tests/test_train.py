"""The trainer on the repo's tiny dataset: stage boundaries, run record, resume, 2 processes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from timm.data.auto_augment import RandAugment

from replication import config as C
from replication import results, train

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(C.CONFIGS_DIR / "progressive.yaml")
# 4 epochs in 2 stages: 32 px / RA 5 / mixup 0 / dropout 0.1, then 48 px / RA 10 / mixup 0.2 / dropout 0.3
SMOKE = ["profile=smoke", "train.epochs=4", "schedule.stages=2", "train.steps_per_epoch=6"]
METRICS = ["epoch", "stage", "image_size", "lr", "train_loss", "val_loss", "val_top1", "val_top5", "ema_top1", "ema_top5"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def dirs(tmp):
    return [f"train.results_dir={tmp / 'results'}", f"train.checkpoint_dir={tmp / 'checkpoints'}"]


def _randaug_magnitude(transform):
    """The magnitude timm's RandAugment ops really use (not just a label on the transform)."""
    (ra,) = [t for t in transform.transforms if isinstance(t, RandAugment)]
    (magnitude,) = {op.magnitude for op in ra.ops}
    return magnitude


@pytest.fixture(scope="module")
def one_thread_module():
    """Module-scoped twin of conftest's ``one_thread`` (the shared reference run needs module scope)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, one_thread_module):
    """One uninterrupted smoke run, watched at every epoch through the trainer's hook."""
    tmp = tmp_path_factory.mktemp("reference")
    cfg = C.load(CONFIG, SMOKE + dirs(tmp))
    seen = []

    def hook(event, info):
        model, ds, opt = info["model"], info["train_dataset"], info["optimizer"]
        rec = {"event": event, "epoch": info["epoch"], "stage": info["stage"].index, "model_id": id(model),
               "weights": {k: v.detach().clone() for k, v in model.state_dict().items()},
               "opt_state": {k: v.clone() for k, v in opt.state[next(model.parameters())].items()},
               "tf_size": ds.transform.transforms[0].size[0], "tf_magnitude": _randaug_magnitude(ds.transform),
               "mixup_alpha": info["mixup"].mixup_alpha if info["mixup"].mixup_enabled else 0.0,
               "dropout": model.drop_rate, "input_sizes": set()}
        if event == "epoch_start":
            rec["handle"] = model.register_forward_pre_hook(
                lambda m, args: rec["input_sizes"].add(args[0].shape[-1]) if m.training else None)
        else:
            seen[-1]["handle"].remove()
        seen.append(rec)

    start = time.perf_counter()
    summary = train.run(cfg, hook=hook)
    return {"cfg": cfg, "summary": summary, "seen": seen, "seconds": time.perf_counter() - start,
            "dir": results.run_dir(cfg)}


@pytest.mark.timeout(180)
def test_smoke_run_writes_a_complete_record(reference):
    assert reference["seconds"] < 120
    run = results.read_run(reference["dir"])
    assert C.from_dict(run["config"]) == reference["cfg"]
    epochs = run["epochs"]
    assert list(epochs.columns) == list(results.EPOCH_COLUMNS) and len(epochs) == 4
    assert epochs["stage"].tolist() == [1, 1, 2, 2] and epochs["image_size"].tolist() == [32, 32, 48, 48]
    assert epochs["randaug_magnitude"].tolist() == [5, 5, 10, 10] and epochs["dropout"].tolist() == [0.1, 0.1, 0.3, 0.3]
    assert epochs[["train_loss", "val_top1", "ema_top1", "images_per_second"]].notna().all().all()
    assert (epochs["train_images"] == 6 * 16).all() and (epochs["epoch_seconds"] > 0).all()
    summary = run["summary"]
    assert summary == json.loads(json.dumps(reference["summary"], default=str))
    assert set(results.SUMMARY_KEYS) <= set(summary) and summary["status"] == "complete" and summary["epochs"] == 4
    assert summary["final"]["val_top1"] == epochs["val_top1"].iloc[-1]
    assert summary["versions"]["torch"] == torch.__version__ and summary["hardware"]["cpu_count"]
    assert (Path(reference["cfg"].train.checkpoint_dir) / "progressive" / "seed0" / "last.pt").is_file()


@pytest.mark.timeout(180)
def test_stage_boundary_changes_regularization_and_keeps_weights(reference):
    starts = [r for r in reference["seen"] if r["event"] == "epoch_start"]
    ends = [r for r in reference["seen"] if r["event"] == "epoch_end"]
    got = [(r["stage"], r["tf_size"], r["tf_magnitude"], r["mixup_alpha"], r["dropout"]) for r in starts]
    assert got == [(0, 32, 5, 0, 0.1), (0, 32, 5, 0, 0.1), (1, 48, 10, 0.2, 0.3), (1, 48, 10, 0.2, 0.3)]
    assert [r["input_sizes"] for r in starts] == [{32}, {32}, {48}, {48}]  # batches really change size
    boundary_end, boundary_start = ends[1], starts[2]  # last epoch of stage 1, first of stage 2
    assert boundary_start["model_id"] == boundary_end["model_id"] == starts[0]["model_id"]
    for k, v in boundary_end["weights"].items():
        assert torch.equal(v, boundary_start["weights"][k]), k
    assert any(not torch.equal(v, starts[0]["weights"][k]) for k, v in boundary_start["weights"].items())
    assert boundary_start["opt_state"] and all(torch.equal(v, boundary_end["opt_state"][k])
                                               for k, v in boundary_start["opt_state"].items())


def _train_cmd(tmp, *extra):
    return [sys.executable, "-m", "replication", "train", CONFIG, *SMOKE, *dirs(tmp), *extra]


@pytest.mark.timeout(240)
def test_killed_run_resumes_to_the_same_metrics(reference, tmp_path):
    proc = subprocess.Popen(_train_cmd(tmp_path), env=ENV, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    csv_path = tmp_path / "results" / "progressive" / "seed0" / "epochs.csv"
    deadline = time.time() + 150
    while time.time() < deadline and proc.poll() is None:
        if csv_path.exists() and len(csv_path.read_text().splitlines()) >= 2:  # epoch 1 done: kill in stage 1
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read().decode()[-2000:]
    assert not (csv_path.parent / "summary.json").exists()
    assert subprocess.run(_train_cmd(tmp_path), env=ENV, cwd=REPO, capture_output=True).returncode == 2  # no clobber
    done = subprocess.run(_train_cmd(tmp_path, "--resume"), env=ENV, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "resumed" in done.stdout
    summary = json.loads((csv_path.parent / "summary.json").read_text())
    assert summary["resumed"] == 1
    assert summary["final"] == reference["summary"]["final"]
    resumed = pd.read_csv(csv_path)[METRICS]
    pd.testing.assert_frame_equal(resumed, pd.read_csv(reference["dir"] / "epochs.csv")[METRICS])


@pytest.mark.timeout(180)
def test_resume_refuses_a_changed_config(reference, tmp_path):
    shutil.copytree(reference["dir"], tmp_path / "results" / "progressive" / "seed0")
    (tmp_path / "results" / "progressive" / "seed0" / "summary.json").unlink()
    cfg = C.load(CONFIG, SMOKE + dirs(tmp_path) + ["optim.lr=0.01"])
    with pytest.raises(C.ConfigError, match="optim.lr"):
        train.run(cfg, resume=True)
    again = C.load(CONFIG, SMOKE + dirs(reference["dir"].parents[2]))
    assert train.run(again, resume=True) == json.loads((reference["dir"] / "summary.json").read_text())


LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "replication", "train"]
# every column except the timings
RECORD = [c for c in results.EPOCH_COLUMNS if c not in ("epoch_seconds", "eval_seconds", "images_per_second")]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_processes_killed_mid_stage_and_at_a_boundary_resume_exactly(tmp_path):
    """2 CPU processes through `accelerate launch`: stopped after epoch 1 (inside stage 1) and after
    epoch 2 (the stage boundary), resumed each time; every logged column equals an uninterrupted run."""
    args = [CONFIG, "profile=smoke", "train.epochs=4", "schedule.stages=2", "train.steps_per_epoch=2",
            "data.batch_size=8"]

    def launch(tmp, *extra):
        done = subprocess.run(LAUNCH + args + dirs(tmp) + list(extra), env=ENV, cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done

    launch(tmp_path / "whole")
    launch(tmp_path / "cut", "train.stop_after_epochs=1")
    ckpt = tmp_path / "cut" / "checkpoints" / "progressive" / "seed0"
    assert (ckpt / "last.pt").is_file() and (ckpt / "rng_1.pt").is_file()
    assert "resumed" in launch(tmp_path / "cut", "train.stop_after_epochs=2", "--resume").stdout
    launch(tmp_path / "cut", "--resume")
    runs = {name: tmp_path / name / "results" / "progressive" / "seed0" for name in ("whole", "cut")}
    summary = json.loads((runs["cut"] / "summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["status"] == "complete" and summary["resumed"] == 2
    whole, cut = (pd.read_csv(path / "epochs.csv")[RECORD] for path in runs.values())
    assert whole["train_images"].tolist() == [2 * 2 * 8] * 4  # steps x processes x batch
    pd.testing.assert_frame_equal(cut, whole)
    assert summary["final"] == json.loads((runs["whole"] / "summary.json").read_text())["final"]


def test_checkpoint_is_safe_to_load(reference):
    ckpt = results.load_checkpoint(Path(reference["cfg"].train.checkpoint_dir) / "progressive" / "seed0" / "last.pt")
    assert ckpt["epoch"] == 4 and len(ckpt["history"]) == 4 and ckpt["ema"] is not None
    assert yaml.safe_load((reference["dir"] / "config.yaml").read_text())["schedule"]["mode"] == "paper"


@pytest.mark.timeout(120)
def test_random_resize_per_batch_sets_size_and_regularization(tmp_path, one_thread):
    cfg = C.load(str(C.CONFIGS_DIR / "random_resize_adaptive.yaml"),
                 ["profile=smoke", "train.epochs=1", "train.steps_per_epoch=8", "schedule.resize_every=0",
                  "schedule.image_size=[32, 64]", "train.ema_decay=0"] + dirs(tmp_path))
    calls = []

    def hook(event, info):
        if event == "epoch_start":
            info["model"].register_forward_pre_hook(
                lambda m, args: calls.append((args[0].shape[-1], m.drop_rate)) if m.training else None)

    assert train.run(cfg, hook=hook)["status"] == "complete"
    sizes = [size for size, _ in calls]
    assert len(calls) == 8 and len(set(sizes)) > 1 and all(32 <= s <= 64 and s % 8 == 0 for s in sizes)
    for size, drop in calls:  # dropout follows the drawn size: 0.1 at 32 px ... 0.3 at 64 px
        assert drop == pytest.approx(0.1 + 0.2 * (size - 32) / 32)
