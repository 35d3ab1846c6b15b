"""The speed tables and their verdicts: one machine and one precision per table (a GPU before a CPU), the
hardware named on every row, and every verdict from CPU rows labelled "different hardware (CPU)"."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from replication import paper, report
from replication.report import checks, collect, measured
from replication.report import verdicts as v

CPU = "Intel(R) Xeon(R) Processor (2 CPUs, 2 torch threads)"
GPU = "NVIDIA H200"
CLAIMS = {c["id"]: c for c in paper.claims()}
T11 = ["efficientnet_b1", "efficientnetv2_b0", "efficientnet_b2", "efficientnetv2_b1", "efficientnet_b4",
       "efficientnetv2_b3", "efficientnet_b5", "efficientnetv2_s_arxiv_v1"]


def _write(root: Path, folder: str, rows: list[dict]) -> None:
    path = root / "bench" / folder / "speed.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    old = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    pd.concat([old, pd.DataFrame(rows)], ignore_index=True).to_csv(path, index=False)


def _row(kind, model, hardware, ips, batch, size=224, amp="float32"):
    step = batch / ips
    return dict(kind=kind, model=model, hardware=hardware, amp_dtype=amp, image_size=size, batch_size=batch,
                images_per_second=ips, step_seconds_median=step, latency_ms_median=1000 * step)


def _t11(hardware, batch, amp="float32", v2_speedup=2.0):
    """Table 11 rows: each V2 model ``v2_speedup`` times the throughput of its V1 pair."""
    return [_row("inference", n, hardware, 100.0 * (v2_speedup if i % 2 else 1), batch, amp=amp) for i, n in enumerate(T11)]


def _verdict(claim_id, res):
    item = CLAIMS[claim_id]["item"]
    return checks.verdict_for(CLAIMS[claim_id], {item: report.build_item(item, res)}, res)


def test_gpu_rows_take_precedence_and_each_row_names_its_machine(tmp_path):
    _write(tmp_path, "cpu-intel-r-xeon-r-processor", _t11(CPU, 32) + _t11(CPU, 32, "bfloat16", 1.5))
    _write(tmp_path, "gpu-nvidia-h200", _t11(GPU, 128, "float16", 3.0))
    item = report.build_item("T11", collect.Results(tmp_path))
    assert item.hardware == f"{GPU}, float16" and set(item.frame["hardware"]) == {item.hardware}
    assert list(item.frame["ours_throughput_imgs_per_sec"].dropna().unique()) == [100.0, 300.0]  # the GPU's
    assert not any(c.endswith("_bfloat16") for c in item.frame.columns)  # the CPU's other precision stays out
    verdict = _verdict("C20", collect.Results(tmp_path))
    assert measured.CPU not in verdict.reason and measured.CPU not in verdict.ours
    # without the GPU's rows the CPU's are shown, float32 first, bfloat16 beside them, labelled
    (tmp_path / "bench" / "gpu-nvidia-h200" / "speed.csv").unlink()
    item = report.build_item("T11", collect.Results(tmp_path))
    assert item.hardware == f"{CPU}, float32 -- {measured.CPU}" and set(item.frame["hardware"]) == {item.hardware}
    speedups = item.frame.set_index("model")
    assert speedups.at["V2-B0", "ours_speedup_vs_v1_x"] == 2.0 and speedups.at["V2-B0", "ours_speedup_vs_v1_x_bfloat16"] == 1.5
    assert any("bfloat16" in note for note in item.notes)


def test_cpu_verdicts_say_different_hardware(tmp_path):
    rows = [_row("train", "efficientnetv2_m", CPU, 4.0, 2, 384), _row("train", "efficientnet_b7", CPU, 1.0, 2, 600),
            _row("inference", "efficientnetv2_m", CPU, 16.0, 16, 480),
            _row("inference", "efficientnet_b7", CPU, 16 / 3, 16, 600)]
    _write(tmp_path, "cpu-x", rows)
    verdict = _verdict("C17", collect.Results(tmp_path))  # 4.0x training, 3.0x inference: both within 1.25x
    assert verdict.verdict == v.REPRODUCED
    assert verdict.reason.startswith(f"{measured.CPU}, {CPU}") and measured.CPU in verdict.ours
    # the same numbers measured on a GPU carry no label
    gpu = tmp_path / "gpu"
    _write(gpu, "gpu-nvidia-h200", [dict(r, hardware=GPU) for r in rows])
    verdict = _verdict("C17", collect.Results(gpu))
    assert verdict.verdict == v.REPRODUCED and measured.CPU not in verdict.reason + verdict.ours
    # nothing measured: "not measured yet", no label
    verdict = _verdict("C17", collect.Results(tmp_path / "empty"))
    assert verdict.verdict == v.NOT_MEASURED and measured.CPU not in verdict.reason


def test_t3_is_judged_in_both_readings_and_both_precisions_on_the_cpu(tmp_path):
    speed = {"effnet_b4_ours": 10.0, "effnet_b4_fused1_3": 14.0, "effnet_b4_fused1_5": 12.0, "effnet_b4_fused1_7": 8.0,
             "effnet_b4_fused1_3_k3": 15.0, "effnet_b4_fused1_5_k3": 13.0, "effnet_b4_fused1_7_k3": 9.0}
    rows = [_row("train", n, CPU, ips * f, 4, 380, amp) for n, ips in speed.items()
            for amp, f in (("float32", 1.0), ("bfloat16", 2.0))]
    _write(tmp_path, "cpu-x", rows)
    res = collect.Results(tmp_path)
    item = report.build_item("T3", res)
    frame = item.frame.set_index(["reading", "variant"])
    assert frame.at[("alternative: 3x3 fused blocks, SE kept", "Fused stage1-3"), "ours_train_imgs_per_sec"] == 15.0
    assert frame.at[("alternative: 3x3 fused blocks, SE kept", "Fused stage1-3"),
                    "ours_train_imgs_per_sec_bfloat16"] == 30.0
    assert pd.isna(frame.at[("alternative: B4 kernels, no SE in fused blocks", "Fused stage1-3"),
                            "ours_train_imgs_per_sec"])
    verdict = _verdict("C06", res)  # 1.4x and 1.5x: faster, but outside the paper's 1.38-1.39x -> partially
    assert verdict.verdict == v.PARTIALLY
    assert "3x3 fused blocks" in verdict.reason and measured.CPU in verdict.reason
    assert "8 checked" in verdict.reason  # 2 readings x 2 precisions x (1-3 ratio, 1-7 slower)


def test_a_table_never_mixes_precisions_or_machines():
    rows = pd.DataFrame([_row("inference", "m", CPU, 10.0, 16, amp="float32"),
                         _row("inference", "m", CPU, 20.0, 16, amp="bfloat16"),
                         _row("inference", "n", CPU, 30.0, 16, amp="bfloat16")])

    class Fake:
        def bench(self):
            return rows

    sets = measured.bench_sets(Fake(), "inference", ["m", "n"])
    # bfloat16 covers both models, so the table shows it; float32 (one model) follows
    assert [s.amp_dtype for s in sets] == ["bfloat16", "float32"]
    assert sets[0].value("m", "images_per_second") == 20.0 and sets[1].value("n", "images_per_second") is None
    # for "m" alone both precisions cover it: float32 first
    assert measured.bench_value(Fake(), "inference", "m", "images_per_second") == 10.0
    assert measured.is_cpu(CPU) and not measured.is_cpu(GPU)
