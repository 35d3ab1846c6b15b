"""The prepared GPU benchmark (bench/gpu.sh): job list, tiny CPU run, refusal without CUDA, time limit."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
import yaml

from replication.study import bench_gpu, speed_plan

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "gpu.sh"


def _script(*args, timeout=120):
    # no GPU (so the device folder is "cpu" everywhere) and one thread per process on the shared CPU
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def test_speed_jobs_expands_the_notebook_parameters():
    jobs = speed_plan.speed_jobs("m", [64, 96], [2], [4], ["f"], 32, 8, ["a", "b"], None, 16, ["c"], None, 128,
                                  ["d"], 48, 4)
    assert [(j["table"], j["kind"], j["model"], j["image_size"], j["batch_size"]) for j in jobs] == [
        ("T2", "train", "m", 64, 2), ("T2", "train", "m", 96, 2), ("T2", "memory", "m", 64, 4),
        ("T2", "memory", "m", 96, 4), ("T3", "train", "f", 32, 8), ("T7", "inference", "a", None, 16),
        ("T7", "inference", "b", None, 16), ("T11", "inference", "c", None, 128), ("F3", "train", "d", 48, 4)]


def test_gpu_plan_follows_the_profile_most_valuable_first():
    profile = bench_gpu.load_profile("gpu")
    jobs = bench_gpu.plan(profile, tiny=False, models=None)
    tables = [j["table"] for j in jobs]
    assert tables == sorted(tables, key=bench_gpu.PRIORITY.index) and tables[0] == "T7"
    by_table = {t: [j for j in jobs if j["table"] == t] for t in bench_gpu.PRIORITY}
    assert [j["model"] for j in by_table["T7"]] == profile["latency_models"]
    assert {(j["kind"], j["batch_size"]) for j in by_table["T7"]} == {("inference", 16)}
    assert [j["model"] for j in by_table["T11"]] == profile["throughput_models"]
    assert {(j["kind"], j["batch_size"]) for j in by_table["T11"]} == {("inference", 128)}
    assert [j["model"] for j in by_table["F3"]] == profile["train_models"]
    assert profile["amp_dtype"] == "float16"
    # tiny: every size 32 and batch 2, so equal jobs collapse (B6 trains for both Figure 3 and Table 2)
    tiny = bench_gpu.plan(profile, tiny=True, models=2)
    assert {(j["image_size"], j["batch_size"]) for j in tiny} == {(32, 2)}
    keys = [(j["kind"], j["model"]) for j in tiny]
    assert len(keys) == len(set(keys))
    assert [j["model"] for j in tiny if j["table"] == "T7"] == profile["latency_models"][:2]


def test_device_folder_is_named_from_the_gpu():
    fake = SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: True, get_device_name=lambda i: "NVIDIA H200"))
    assert bench_gpu.device_folder(fake) == "gpu-nvidia-h200"
    assert bench_gpu.slug("NVIDIA A100-SXM4-80GB") == "nvidia-a100-sxm4-80gb"
    fake.cuda.is_available = lambda: False
    assert bench_gpu.device_folder(fake) == "cpu"


@pytest.mark.timeout(120)
def test_tiny_run_writes_rows_for_every_list(tmp_path):
    out = _script("--tiny", "--output-dir", tmp_path, "--models", 3)
    assert out.returncode == 0, out.stdout + out.stderr
    folder = tmp_path / "bench" / "cpu"
    frame = pd.read_csv(folder / "speed.csv")
    profile = bench_gpu.load_profile("gpu")
    for kind, models in (("inference", profile["latency_models"][:3] + profile["throughput_models"][:3]),
                         ("train", profile["train_models"][:3] + profile["fused_models"][:3] + [profile["t2_model"]]),
                         ("memory", [profile["t2_model"]])):
        assert set(frame.loc[frame["kind"] == kind, "model"]) == set(models), kind
    assert set(frame["image_size"]) == {32} and set(frame["batch_size"]) == {2}
    speed = frame[frame["kind"] != "memory"]
    assert (speed["images_per_second"] > 0).all() and set(speed["amp_dtype"]) == {"float32"}
    assert (frame.loc[frame["kind"] == "memory", "estimated_gib"] > 0).all()
    # one progress line per job, latency first, each with its seconds
    progress = [line for line in out.stdout.splitlines() if line.startswith("[")]
    assert len(progress) == len(frame) and " T7 " in progress[0] and all(" s, total " in p for p in progress)
    env = json.loads((folder / "environment.json").read_text())
    assert env["status"] == "complete" and env["jobs"]["measured"] == len(frame) and env["tiny"] is True
    assert env["torch"] and env["timm"] and env["hardware"] == frame["hardware"].iloc[0]


@pytest.mark.timeout(60)
def test_refuses_without_cuda_unless_tiny(tmp_path):
    out = _script("--output-dir", tmp_path)
    assert out.returncode == 2
    assert "no CUDA device" in out.stderr and "--tiny" in out.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.timeout(60)
def test_time_limit_stops_starting_jobs(tmp_path):
    planned = len(bench_gpu.plan(bench_gpu.load_profile("gpu"), tiny=True, models=None))
    out = _script("--tiny", "--output-dir", tmp_path, "--time-limit", 0)
    assert out.returncode == 0, out.stderr
    assert f"{planned} of {planned} jobs skipped" in out.stdout and "run bench/gpu.sh again" in out.stdout
    folder = tmp_path / "bench" / "cpu"
    assert not (folder / "speed.csv").exists()
    env = json.loads((folder / "environment.json").read_text())
    assert env["status"] == "incomplete" and env["jobs"]["not_started"] == planned


@pytest.mark.timeout(60)
def test_a_failing_job_is_reported_and_the_rest_still_run(tmp_path, capsys, one_thread, monkeypatch):
    profile = bench_gpu.load_profile("gpu")
    profile.update(t2_image_sizes=[], latency_models=["efficientnetv2_b0", "no_such_model"], throughput_models=[],
                   train_models=[], fused_models=[])
    monkeypatch.setattr(bench_gpu, "load_profile", lambda name: profile)
    assert bench_gpu.main(["--tiny", "--output-dir", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "FAILED inference no_such_model" in out.out and "1 measured" in out.out and "no_such_model" in out.err
    folder = tmp_path / "bench" / bench_gpu.device_folder(torch)
    assert list(pd.read_csv(folder / "speed.csv")["model"]) == ["efficientnetv2_b0"]
    assert "no_such_model" in json.loads((folder / "environment.json").read_text())["jobs"]["failed"][0]


def test_a_profile_without_the_knobs_is_refused(tmp_path, capsys, monkeypatch):
    from replication.study import spec

    assert bench_gpu.main(["--tiny", "--profile", "laptop", "--output-dir", str(tmp_path)]) == 2
    assert "unknown profile 'laptop'" in capsys.readouterr().err
    monkeypatch.setattr(spec, "knobs", lambda profile, family: {"latency_models": ["efficientnetv2_s"]})
    assert bench_gpu.main(["--tiny", "--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "studies/gpu.yaml" in err and "t2_model" in err and "warmup" in err
    assert not (tmp_path / "bench").exists()
