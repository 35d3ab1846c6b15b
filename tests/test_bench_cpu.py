"""The speed suite on this CPU (python -m replication bench-cpu): its plan, round-robin groups, precisions,
resumability and time limit. Runs use 32 px, batch 2, one repeat and small models: seconds each."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest

from replication.study import bench_gpu, experiments, speed_plan

KEY_TABLES = ("T10", "T11", "T3", "T2")  # measured in float32 and bfloat16


def _groups(jobs):
    return {g[0]["group"]: g for g in speed_plan.groups(jobs) if g[0]["group"]}


def test_cpu_plan_times_the_compared_models_together_in_priority_order():
    profile = bench_gpu.load_profile("cpu")
    jobs = speed_plan.plan(profile)
    priority = list(profile["priority"])
    tables = [j["table"] for j in jobs]
    assert tables == sorted(tables, key=priority.index) and tables[0] == "T10"
    groups = _groups(jobs)
    # every group's members are consecutive: one group id, one block
    blocks = [g[0]["group"] for g in speed_plan.groups(jobs) if g[0]["group"]]
    assert len(blocks) == len(set(blocks))
    members = lambda name: [(j["kind"], j["model"], j["image_size"], j["batch_size"]) for j in groups[name]]  # noqa: E731
    assert members("T10 train") == [("train", "efficientnetv2_m", None, profile["train_batch_size"]),
                                     ("train", "efficientnet_b7", None, profile["train_batch_size"])]
    assert members("T10 inference") == [("inference", "efficientnetv2_m", None, 16), ("inference", "efficientnet_b7", None, 16)]
    assert [m for _, m, _, _ in members("T3")] == profile["fused_models"]
    assert {"effnet_b4_fused1_3_k3", "effnet_b4_fused1_7"} <= {m for _, m, _, _ in members("T3")}  # both readings
    assert {(s, b) for _, _, s, b in members("T3")} == {(380, profile["fused_batch_size"])}
    pairs = [tuple(j["model"] for j in g) for name, g in groups.items() if name.startswith("T11") and "bfloat16" not in name]
    throughput = profile["throughput_models"]
    assert pairs == list(zip(throughput[::2], throughput[1::2]))
    for batch in profile["t2_batch_sizes"]:
        assert members(f"T2 train b{batch}") == [("train", "efficientnet_b6", s, batch) for s in profile["t2_image_sizes"]]
    for batch in profile["batch_sweep_sizes"]:
        assert [m for _, m, _, _ in members(f"F3 sweep b{batch}")] == profile["batch_sweep_models"]


def test_cpu_plan_adds_bfloat16_to_the_key_comparisons_only_and_never_repeats_a_row():
    profile = bench_gpu.load_profile("cpu")
    jobs = speed_plan.plan(profile)
    keys = [speed_plan.key(j) for j in jobs]
    assert len(keys) == len(set(keys))
    amp = {(j["table"], speed_plan.precision(j["amp_dtype"])) for j in jobs}
    for table in KEY_TABLES:
        assert {(table, "float32"), (table, "bfloat16")} <= amp, table
    assert ("T7", "bfloat16") not in amp and ("F3", "bfloat16") not in amp
    assert all(j["amp_dtype"] == "" for j in jobs if j["kind"] == "memory")
    # the bfloat16 twin of a group is its own group, right after the table's float32 jobs
    groups = _groups(jobs)
    assert [j["model"] for j in groups["T3 bfloat16"]] == [j["model"] for j in groups["T3"]]
    assert {j["amp_dtype"] for j in groups["T3 bfloat16"]} == {"bfloat16"}
    # V2-M and B7 are measured once, in Table 10's groups, and serve Table 7 and Figure 3 too
    t7 = [j["model"] for j in jobs if j["table"] == "T7"]
    assert "efficientnetv2_m" not in t7 and "efficientnet_b7" not in t7 and "efficientnetv2_s" in t7


def test_gpu_plan_keeps_one_job_at_a_time_in_float16():
    jobs = speed_plan.plan(bench_gpu.load_profile("gpu"))
    assert {j["group"] for j in jobs} == {""} and {j["amp_dtype"] for j in jobs} == {"float16"}
    assert all(len(g) == 1 for g in speed_plan.groups(jobs))


def test_a_priority_without_a_planned_table_is_refused():
    profile = dict(bench_gpu.load_profile("cpu"), priority=["T7", "T11"])
    with pytest.raises(ValueError, match="priority.*lacks the table.*T10"):
        speed_plan.plan(profile)


def _small_profile():
    """The cpu knobs with small, fast models in every group (plus Table 3's two readings of one variant)."""
    return dict(bench_gpu.load_profile("cpu"), t2_image_sizes=[], latency_models=["efficientnetv2_b0"],
                throughput_models=["efficientnet_b1", "efficientnetv2_b0"], train_models=[],
                fused_models=["effnet_b4_ours", "effnet_b4_fused1_3", "effnet_b4_fused1_3_k3"],
                t10_models=["efficientnetv2_b0", "efficientnet_b1"], batch_sweep_models=[],
                also_amp_tables=["T11", "T3"])


@pytest.mark.timeout(240)
def test_cpu_run_writes_labelled_rows_and_a_rerun_measures_nothing(tmp_path, capsys, monkeypatch, one_thread):
    profile = _small_profile()
    monkeypatch.setattr(bench_gpu, "load_profile", lambda name: profile)
    args = ["--tiny", "--threads", "1", "--output-dir", str(tmp_path)]
    assert bench_gpu.main(args, device="cpu") == 0, capsys.readouterr().err
    first = capsys.readouterr().out
    folder = tmp_path / "bench" / "cpu"
    frame = pd.read_csv(folder / "speed.csv")
    planned = speed_plan.plan(profile, tiny=True)
    assert len(frame) == len(planned) and f"{len(planned)} measured" in first
    assert not frame.duplicated(["kind", "model", "image_size", "batch_size", "amp_dtype"]).any()
    assert set(frame["amp_dtype"]) == {"float32", "bfloat16"}
    assert set(frame.loc[frame["amp_dtype"] == "bfloat16", "table"]) == {"T11", "T3"}
    t3 = frame[(frame["table"] == "T3") & (frame["amp_dtype"] == "float32")]
    assert set(t3["round_robin"]) == {"T3"} and t3["note"].str.contains("round-robin with").all()
    assert (frame["repeats"] == 1).all() and (frame["warmup"] == 0).all() and (frame["threads"] == 1).all()
    assert frame["hardware"].str.contains("CPUs").all() and (frame["images_per_second"] > 0).all()
    assert "round-robin group of 3" in first
    env = json.loads((folder / "environment.json").read_text())
    assert env["status"] == "complete" and env["device"] == "cpu" and env["threads"] == 1
    assert env["precisions"] == ["bfloat16", "float32"] and env["hardware"] == frame["hardware"].iloc[0]
    # a rerun: every row is already logged for this machine, nothing is measured or written twice
    assert bench_gpu.main(args, device="cpu") == 0
    second = capsys.readouterr().out
    assert "0 measured" in second and f"{len(planned)} already logged" in second
    assert len(pd.read_csv(folder / "speed.csv")) == len(frame)


@pytest.mark.timeout(120)
def test_speed_skips_a_logged_row_and_measures_only_the_missing_member(tmp_path, one_thread):
    jobs = [dict(table="T11", kind="inference", model=n, image_size=32, batch_size=2, amp_dtype="", group="T11 pair")
            for n in ("efficientnet_b1", "efficientnetv2_b0")]
    frame = experiments.speed(jobs[:1], tmp_path, warmup=0, repeats=1, name="cpu/speed", device="cpu")
    assert list(frame["model"]) == ["efficientnet_b1"]
    frame = experiments.speed(jobs, tmp_path, warmup=0, repeats=1, name="cpu/speed", device="cpu")
    assert list(frame["model"]) == ["efficientnet_b1", "efficientnetv2_b0"]
    # another precision of the same model is a new row
    frame = experiments.speed([dict(jobs[0], amp_dtype="bfloat16", group="")], tmp_path, warmup=0, repeats=1,
                              name="cpu/speed", device="cpu")
    assert list(frame["amp_dtype"]) == ["float32", "float32", "bfloat16"]


def test_time_limit_starts_no_new_group(tmp_path, capsys, monkeypatch, one_thread):
    profile = _small_profile()
    monkeypatch.setattr(bench_gpu, "load_profile", lambda name: profile)
    calls = []

    def fake_speed(group, *args, **kwargs):  # the first group "takes" past the limit
        calls.append([j["model"] for j in group])
        monkeypatch.setattr(bench_gpu, "time", SimpleNamespace(monotonic=lambda: 1e9))  # this module's clock only
        return pd.DataFrame()

    monkeypatch.setattr(experiments, "speed", fake_speed)
    planned = speed_plan.plan(profile, tiny=True)
    first = len(speed_plan.groups(planned)[0])
    assert bench_gpu.main(["--tiny", "--threads", "1", "--time-limit", "60", "--output-dir", str(tmp_path)],
                          device="cpu") == 0
    out = capsys.readouterr().out
    assert len(calls) == 1 and len(calls[0]) == first
    rest = len(planned) - first
    assert f"{rest} of {len(planned)} jobs skipped" in out and "run python -m replication bench-cpu again" in out
    env = json.loads((tmp_path / "bench" / "cpu" / "environment.json").read_text())
    assert env["status"] == "incomplete" and env["jobs"]["not_started"] == rest and env["time_limit_s"] == 60


def test_cpu_folder_and_threads_are_checked(tmp_path, capsys, one_thread):
    assert bench_gpu.cpu_folder("Intel(R) Xeon(R) Processor") == "cpu-intel-r-xeon-r-processor"
    assert bench_gpu.build_parser("cpu").parse_args([]).time_limit == 5400
    assert bench_gpu.main(["--tiny", "--threads", "0", "--output-dir", str(tmp_path)], device="cpu") == 2
    assert "--threads" in capsys.readouterr().err and not (tmp_path / "bench").exists()
