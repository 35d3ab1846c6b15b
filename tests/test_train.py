"""The trainer on the repo's tiny dataset: stage boundaries, run record, resume, 2 processes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
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
from replication import progressive, results, train

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
RECORD = [c for c in results.EPOCH_COLUMNS
          if c not in ("epoch_seconds", "eval_seconds", "images_per_second", "wall_seconds", "cpu_seconds", "load_avg")]


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
    hint = launch(tmp_path / "cut", "train.stop_after_epochs=1").stdout
    assert "accelerate launch --num_processes 2 -m replication train" in hint and "--resume" in hint
    alone = subprocess.run([sys.executable, "-m", "replication", "train", *args, *dirs(tmp_path / "cut"), "--resume"],
                           env=ENV, cwd=REPO, capture_output=True, text=True)  # 1 process: the global batch would halve
    assert alone.returncode == 2 and "trained with 2 process(es), global batch 16" in alone.stderr, alone.stderr[-2000:]
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


def _copy_run(reference, tmp, finished=True):
    """The reference run's record and checkpoint under ``tmp`` (unfinished: without summary.json)."""
    out, ckpt = tmp / "results" / "progressive" / "seed0", tmp / "checkpoints" / "progressive" / "seed0"
    shutil.copytree(reference["dir"], out)
    shutil.copytree(Path(reference["cfg"].train.checkpoint_dir) / "progressive" / "seed0", ckpt)
    if not finished:
        (out / "summary.json").unlink()
    return out, ckpt


@pytest.mark.parametrize("override,needle", [("train.epochs=5", "train.epochs: saved 4, now 5"),
                                             ("model.name=efficientnetv2_b1", "model.name: saved 'efficientnetv2_b0'")])
def test_a_finished_run_is_reused_only_with_the_same_config(reference, tmp_path, override, needle):
    out, _ = _copy_run(reference, tmp_path)
    with pytest.raises(C.ConfigError, match=needle) as err:
        train.run(C.load(CONFIG, SMOKE + dirs(tmp_path) + [override]), resume=True)
    assert "run_id=" in str(err.value) and "--overwrite" in str(err.value)
    assert json.loads((out / "summary.json").read_text())["epochs"] == 4  # untouched


def test_resume_cleans_killed_writes_and_refuses_broken_checkpoints(reference, tmp_path):
    out, ckpt = _copy_run(reference, tmp_path, finished=False)
    cfg = C.load(CONFIG, SMOKE + dirs(tmp_path))
    good = (ckpt / "last.pt").read_bytes()
    (ckpt / "last.pt").write_bytes(good[:4096])  # truncated by a full disk, say
    with pytest.raises(results.RunError, match=r"last.pt cannot be read .*--overwrite"):
        train.run(cfg, resume=True)
    (ckpt / "last.pt").unlink()
    with pytest.raises(results.RunError, match="logs 4 epoch.* checkpoint .* is missing"):
        train.run(cfg, resume=True)
    (ckpt / "last.pt").write_bytes(good)
    leftovers = [ckpt / ".last.pt.k1ll3d.tmp", out / ".epochs.csv.k1ll3d.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    assert train.run(cfg, resume=True)["status"] == "complete"  # the checkpoint is at epoch 4: only the summary
    assert not any(path.exists() for path in leftovers) and not (out / ".lock").exists()
    mode = (out / "summary.json").stat().st_mode & 0o777
    assert mode == 0o666 & ~_umask(), oct(mode)  # not mkstemp's 0600


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_HOLD_LOCK = """
import sys, time
from replication import results
lock = results.RunLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_live_lock_refuses_a_second_writer_and_a_killed_ones_is_taken_over(reference, tmp_path):
    out, _ = _copy_run(reference, tmp_path, finished=False)
    cfg = C.load(CONFIG, SMOKE + dirs(tmp_path))
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(out)], env=ENV, cwd=REPO, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(results.RunError, match=f"being written by process {holder.pid} .*kill {holder.pid}"):
            train.run(cfg, resume=True)
    finally:
        holder.kill()
        holder.wait()
    assert (out / ".lock").exists()  # left by the kill: the kernel dropped its lock, so it is free
    assert results.RunLock(out).owner() is None
    assert train.run(cfg, resume=True)["status"] == "complete" and not (out / ".lock").exists()


def _race(folder, barrier, wins):
    lock = results.RunLock(folder)
    barrier.wait()
    try:
        lock.acquire()
    except results.RunError:
        return
    with wins.get_lock():
        wins.value += 1
    time.sleep(0.02)  # hold it while the other one tries


@pytest.mark.timeout(300)
def test_two_processes_taking_the_lock_at_the_same_instant_never_both_get_it(tmp_path):
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    for trial in range(200):
        folder = tmp_path / f"t{trial}"
        folder.mkdir()
        if trial % 2:  # a lock file left by a killed run: both try to take it over
            (folder / ".lock").write_text(json.dumps({"pid": 999999, "host": socket.gethostname(), "started": "x"}))
        barrier, wins = ctx.Barrier(2), ctx.Value("i", 0)
        procs = [ctx.Process(target=_race, args=(folder, barrier, wins)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        assert wins.value == 1, f"trial {trial}: {wins.value} processes took the lock"


def _cli(tmp, *extra, results_dir=None):
    flags = [e for e in extra if e.startswith("--")]
    cmd = _train_cmd(tmp, *[e for e in extra if e not in flags], *([f"train.results_dir={results_dir}"] if results_dir else []))
    return subprocess.run(cmd + flags, env=ENV, cwd=REPO, capture_output=True, text=True, timeout=200)


def test_a_resume_continues_only_its_own_run(reference, tmp_path):
    """Run A stops after epoch 1; run B (other results folder, same checkpoint folder, other lr) must not take
    its checkpoint; a checkpoint of B's put in A's place is refused at resume; A then resumes exactly."""
    a_dir, b_dir = tmp_path / "rA", tmp_path / "rB"
    stopped = _cli(tmp_path, "train.stop_after_epochs=1", results_dir=a_dir)
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    ckpt = tmp_path / "checkpoints" / "progressive" / "seed0" / "last.pt"
    mine = ckpt.read_bytes()
    for flag in ((), ("--overwrite",)):
        other = _cli(tmp_path, "optim.lr=0.02", "train.stop_after_epochs=1", *flag, results_dir=b_dir)
        assert other.returncode == 2 and "checkpoint of another run" in other.stderr, other.stderr[-2000:]
        assert str(a_dir / "progressive" / "seed0") in other.stderr and "train.checkpoint_dir=" in other.stderr
        assert "Traceback" not in other.stderr and ckpt.read_bytes() == mine
    # B in its own checkpoint folder; its checkpoint copied over A's (by hand, or by an older version)
    other = _cli(tmp_path, "optim.lr=0.02", "train.stop_after_epochs=1", f"train.checkpoint_dir={tmp_path / 'ckB'}",
                 results_dir=b_dir)
    assert other.returncode == 0, other.stderr[-2000:]
    shutil.copy(tmp_path / "ckB" / "progressive" / "seed0" / "last.pt", ckpt)
    refused = _cli(tmp_path, "--resume", results_dir=a_dir)
    assert refused.returncode == 2 and "written by another run" in refused.stderr, refused.stderr[-2000:]
    assert str(b_dir / "progressive" / "seed0") in refused.stderr and "--overwrite" in refused.stderr
    assert pd.read_csv(a_dir / "progressive" / "seed0" / "epochs.csv")["lr"].tolist() != []  # A's record untouched
    ckpt.write_bytes(mine)
    done = _cli(tmp_path, "--resume", results_dir=a_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    run_a = a_dir / "progressive" / "seed0"
    assert json.loads((run_a / "summary.json").read_text())["final"] == reference["summary"]["final"]
    pd.testing.assert_frame_equal(pd.read_csv(run_a / "epochs.csv")[METRICS],
                                  pd.read_csv(reference["dir"] / "epochs.csv")[METRICS])
    info = json.loads((run_a / "run.json").read_text())
    assert info["uid"] == results.load_checkpoint(ckpt)["identity"]["uid"]
    assert info["num_processes"] == 1 and info["global_batch"] == 16 and "replication train" in info["command"]
    assert info["data"]["dataset"] == "imagenette_tiny" and info["data"]["files"]


@pytest.mark.timeout(300)
def test_a_resume_keeps_the_worker_count(tmp_path):
    stopped = _cli(tmp_path, "train.stop_after_epochs=1", "data.num_workers=0")
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    refused = _cli(tmp_path, "data.num_workers=1", "--resume")
    assert refused.returncode == 2 and "data.num_workers: saved 0, now 1" in refused.stderr, refused.stderr[-2000:]
    assert "augmentation" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.timeout(200)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "kill"])
def test_ctrl_c_or_kill_prints_one_line_and_the_resume_command(tmp_path, stop):
    # A shell without job control starts a background job (`pytest ... &`, `nohup ... &`) with SIGINT ignored, the
    # child inherits that, and Python then installs no KeyboardInterrupt handler: give the trainer ctrl-C's default
    proc = subprocess.Popen(_train_cmd(tmp_path, "train.epochs=40"), env=ENV, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    csv_path = tmp_path / "results" / "progressive" / "seed0" / "epochs.csv"
    deadline = time.time() + 150
    while time.time() < deadline and not csv_path.exists():
        time.sleep(0.1)
    proc.send_signal(stop)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "interrupted" in err
    assert "python -m replication train" in err and "--resume" in err
    assert not (csv_path.parent / ".lock").exists()


def test_memory_that_cannot_fit_is_refused_before_training(tmp_path):
    for key, value in (("data.eval_size", 100000), ("data.batch_size", 1000000)):
        cfg = C.load(CONFIG, SMOKE + dirs(tmp_path) + [f"{key}={value}"])
        named = "data.eval_batch_size" if key == "data.eval_size" else key
        with pytest.raises(C.ConfigError, match=rf"{named}=.* needs at least [0-9.]+ GiB, more than the"):
            train.run(cfg)
        assert not (tmp_path / "results" / "progressive").exists()
    estimate = train.memory_estimates(progressive.resolve(C.load(CONFIG, SMOKE)))
    assert 0 < estimate["data.eval_batch_size"] < estimate["data.batch_size"] < 2**30


def test_an_empty_checkpoint_is_one_clear_error(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"")
    with pytest.raises(results.RunError, match="last.pt cannot be read .*empty"):
        results.load_checkpoint(tmp_path / "last.pt")


def test_dirs_that_are_files_are_refused_before_training(tmp_path):
    (tmp_path / "taken").write_text("a file")
    for key in ("train.results_dir", "train.checkpoint_dir"):
        cfg = C.load(CONFIG, SMOKE + dirs(tmp_path) + [f"{key}={tmp_path / 'taken' / 'sub'}"])
        with pytest.raises(C.ConfigError, match=f"{key}: .*taken is a file"):
            train.run(cfg)
        assert not (tmp_path / "results" / "progressive").exists()


@pytest.mark.timeout(180)
def test_a_corrupt_image_stops_training_with_one_clear_line(tmp_path):
    from replication import data

    env = dict(ENV, REPLICATION_DATA_DIR=str(tmp_path / "data"))
    os.environ["REPLICATION_DATA_DIR"], before = env["REPLICATION_DATA_DIR"], os.environ.get("REPLICATION_DATA_DIR")
    try:
        train_ds = data.get_dataset("imagenette_tiny", "train")
    finally:
        os.environ.pop("REPLICATION_DATA_DIR") if before is None else os.environ.update(REPLICATION_DATA_DIR=before)
    for path, _ in train_ds.samples:
        Path(path).write_bytes(b"not a jpeg")
    for workers in (0, 1):
        done = subprocess.run(_train_cmd(tmp_path, f"data.num_workers={workers}", f"run_id=w{workers}"), env=env,
                              cwd=REPO, capture_output=True, text=True, timeout=150)
        assert done.returncode == 2, done.stderr[-2000:]
        assert "cannot decode this image" in done.stderr and "data prepare imagenette_tiny --force" in done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_workers_stop_when_the_launcher_is_killed(tmp_path):
    args = [CONFIG, "profile=smoke", "train.epochs=40", "schedule.stages=2", "train.steps_per_epoch=2",
            "data.batch_size=8", *dirs(tmp_path)]
    proc = subprocess.Popen(LAUNCH + args, env=ENV, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    csv_path = tmp_path / "results" / "progressive" / "seed0" / "epochs.csv"
    deadline = time.time() + 150
    while time.time() < deadline and not csv_path.exists():
        time.sleep(0.2)
    assert csv_path.exists() and proc.poll() is None
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher's process group; the workers run in their own
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and _processes_mentioning(str(tmp_path)):
        time.sleep(0.5)
    assert not _processes_mentioning(str(tmp_path)), "workers outlived the launcher"


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.timeout(180)
def test_subset_evaluation_each_epoch_and_the_whole_set_at_the_end(tmp_path, one_thread):
    cfg = C.load(CONFIG, SMOKE + dirs(tmp_path) + ["train.epochs=2", "train.eval_subset=30", "train.eval_every=1",
                                                   "data.cache_decoded=true", "data.cache_short_side=40"])
    summary = train.run(cfg)
    epochs = pd.read_csv(results.run_dir(cfg) / "epochs.csv")
    assert epochs["eval_images"].tolist() == [30, 30] and epochs["ema_top1"].notna().all()
    assert (epochs["wall_seconds"] >= epochs["epoch_seconds"]).all() and (epochs["cpu_seconds"] > 0).all()
    assert epochs["load_avg"].notna().all()
    final, at_train = summary["final"], summary["final_at_train_size"]
    assert (final["eval_images"], final["image_size"]) == (80, cfg.data.eval_size)
    assert (at_train["eval_images"], at_train["image_size"]) == (80, 48)  # the last stage's size
    assert summary["final_subset"]["ema_top1"] == epochs["ema_top1"].iloc[-1]
    assert json.loads((results.run_dir(cfg) / "summary.json").read_text())["final"] == final


def test_bfloat16_autocast_from_a_stage_size():
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    cfg = C.load(CONFIG, ["profile=smoke", "train.bf16_from_size=48"])
    for size, expected in ((32, False), (48, True), (64, True)):
        with train._autocast(cfg, accelerator, size):
            assert torch.is_autocast_enabled("cpu") is expected, size
    with train._autocast(C.load(CONFIG, ["profile=smoke"]), accelerator, 64):
        assert not torch.is_autocast_enabled("cpu")


def test_bf16_on_a_cpu_that_would_emulate_it_is_refused_naming_the_setting(monkeypatch):
    cfg = C.load(CONFIG, ["profile=smoke", "train.bf16_from_size=48"])  # smoke sizes 32 -> 48: bf16 at 48
    monkeypatch.delenv("REPLICATION_ALLOW_SLOW_BF16", raising=False)
    monkeypatch.setattr(train, "cpu_has_bf16", lambda: False)
    with pytest.raises(train.SlowPrecision, match=r"train.bf16_from_size=48 .* up to 48 px.*train.bf16_from_size=0"):
        train.check_cpu_precision(cfg)
    train.check_cpu_precision(C.load(CONFIG, ["profile=smoke", "train.bf16_from_size=64"]))  # no stage reaches it
    monkeypatch.setenv("REPLICATION_ALLOW_SLOW_BF16", "1")
    train.check_cpu_precision(cfg)
    monkeypatch.delenv("REPLICATION_ALLOW_SLOW_BF16")
    monkeypatch.setattr(train, "cpu_has_bf16", lambda: True)
    train.check_cpu_precision(cfg)


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="reads the CPU flags of Linux")
def test_cpu_bf16_detection_agrees_with_the_cpu_flags():
    flags = set(Path("/proc/cpuinfo").read_text().split())
    assert train.cpu_has_bf16() == bool({"avx512_bf16", "amx_bf16"} & flags)


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


def test_any_timm_optimizer_may_be_wrapped_in_lookahead():
    train.check_resources(C.load(CONFIG, ["profile=smoke", "optim.name=lookahead_radamw"]))  # fastai's Ranger
    with pytest.raises(C.ConfigError, match=r"optim.name='lookahead_nope' is not a timm optimizer \(optionally lookahead_"):
        train.check_resources(C.load(CONFIG, ["profile=smoke", "optim.name=lookahead_nope"]))
