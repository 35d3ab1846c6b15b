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
    assert verdict.reason.startswith(f"{GPU}, float32: ")  # but the machine and precision are named
    # nothing measured: "not measured yet", no label
    verdict = _verdict("C17", collect.Results(tmp_path / "empty"))
    assert verdict.verdict == v.NOT_MEASURED and measured.CPU not in verdict.reason


def test_t3_is_decided_by_the_primary_reading_in_float32_and_quotes_the_others(tmp_path):
    speed = {"effnet_b4_ours": 10.0, "effnet_b4_fused1_3": 14.0, "effnet_b4_fused1_5": 12.0, "effnet_b4_fused1_7": 8.0,
             "effnet_b4_fused1_3_k3": 15.0, "effnet_b4_fused1_5_k3": 13.0, "effnet_b4_fused1_7_k3": 9.0}
    rows = [_row("train", n, CPU, ips * f, 4, 380, amp) for n, ips in speed.items()
            for amp, f in (("float32", 1.0), ("bfloat16", 2.0))]
    rows[-1]["images_per_second"] = 40.0  # 3x3 reading, bfloat16: all fused faster than fused 1-3 (30)
    _write(tmp_path, "cpu-x", rows)
    res = collect.Results(tmp_path)
    item = report.build_item("T3", res)
    frame = item.frame.set_index(["reading", "variant"])
    assert frame.at[("alternative: 3x3 fused blocks, SE kept", "Fused stage1-3"), "ours_train_imgs_per_sec"] == 15.0
    assert frame.at[("alternative: 3x3 fused blocks, SE kept", "Fused stage1-3"),
                    "ours_train_imgs_per_sec_bfloat16"] == 30.0
    assert pd.isna(frame.at[("alternative: B4 kernels, no SE in fused blocks", "Fused stage1-3"),
                            "ours_train_imgs_per_sec"])
    timed = [n for n in item.notes if n.startswith("training throughput of the fused rows")]
    assert timed == ["training throughput of the fused rows is measured for the readings 'primary: B4 kernels and SE "
                     "kept' and 'alternative: 3x3 fused blocks, SE kept', one job per model"]  # no round_robin column
    verdict = _verdict("C06", res)  # primary, float32: 1.4x (outside the paper's 1.38-1.39x) and 1-7 slower
    assert verdict.verdict == v.PARTIALLY and "2 checked" in verdict.reason and measured.CPU in verdict.reason
    head, quoted = verdict.reason.split("Also measured, not deciding: ")
    assert "3x3" not in head and "bfloat16" not in head
    assert "3x3 fused blocks, SE kept, bfloat16: fused 1-7 40.0 vs fused 1-3 30.0" in quoted and "[not reproduced]" in quoted
    # the primary reading in float32 with all-fused faster than fused 1-3 is "not reproduced"
    flipped = tmp_path / "flipped"
    _write(flipped, "cpu-x", [dict(r, images_per_second=20.0) if r["model"] == "effnet_b4_fused1_7" and
                              r["amp_dtype"] == "float32" else r for r in rows])
    assert _verdict("C06", collect.Results(flipped)).verdict == v.NOT_REPRODUCED
    # a machine that timed only the primary reading lists the 3x3 rows as missing
    primary = tmp_path / "primary"
    _write(primary, "cpu-x", [r for r in rows if not r["model"].endswith("_k3")])
    item = report.build_item("T3", collect.Results(primary))
    assert "training throughput of Fused stage1-3 (alternative), Fused stage1-5 (alternative), Fused stage1-7 " \
           "(alternative)" in item.missing


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


def test_the_summary_keeps_speed_verdicts_apart_from_exact_matches():
    from replication.report import summary

    claims = pd.DataFrame([
        dict(id="C01", evidence="exact", verdict=v.REPRODUCED, reason="6 checked"),
        dict(id="C06", evidence="measured here", verdict=v.PARTIALLY, reason=f"{measured.CPU}, {CPU}: 1.04x"),
        dict(id="C10", evidence="exact", verdict=v.PARTIALLY, reason="within 5 %"),
        dict(id="C11", evidence="measured here", verdict=v.REPRODUCED, reason=f"{measured.CPU}, {CPU}: rho 0.93"),
        dict(id="C17", evidence="measured here", verdict=v.NOT_MEASURED, reason="no logged result yet")])
    lines = summary.lines(claims)
    exact = next(x for x in lines if "Exact matches" in x)
    assert exact.endswith(": C01.")
    partial = next(x for x in lines if "Counts partially / not reproduced" in x)
    assert partial.endswith(": C10 / none.")
    speed = next(x for x in lines if "Speed and memory" in x)
    assert "(3 claims)" in speed and "measured: 2" in speed and measured.CPU in speed
    assert "as the paper's: C11;" in speed and "the ledger says which): C06;" in speed


def test_table11_notes_a_model_timed_at_another_batch(tmp_path):
    rows = _t11(CPU, 32) + [_row("inference", "efficientnet_b4", CPU, 200.0, 16)]  # Table 7's batch 16
    _write(tmp_path, "cpu-x", rows)
    item = report.build_item("T11", collect.Results(tmp_path))
    assert item.frame.set_index("model").at["V1-B4", "ours_throughput_imgs_per_sec"] == 100.0  # batch 32 shown
    note = next(n for n in item.notes if n.startswith("throughput depends on the batch"))
    assert "efficientnet_b4 at 224 px: 100.0 img/s at batch 32, 200.0 at batch 16 (2.00x)" in note
    assert "efficientnet_b1" not in note


def test_t2_memory_judges_the_16_gib_line_and_names_how_memory_was_measured(tmp_path):
    method = "cuda max_memory_allocated of training steps, linear fit"
    rows = [dict(kind="memory", model="efficientnet_b6", hardware=GPU, amp_dtype="float16", image_size=s, batch_size=24,
                 estimated_gib=gib, budget_gib=16.0, method=method) for s, gib in ((380, 13.2), (512, 23.5))]
    rows += [_row("train", "efficientnet_b6", GPU, ips, 24, s, "float16") for s, ips in ((380, 276.0), (512, 202.0))]
    _write(tmp_path, "gpu-nvidia-h200", rows)
    res = collect.Results(tmp_path)
    item = report.build_item("T2", res)
    assert any(n.endswith(f"measured as: {method}") for n in item.notes)
    assert list(item.frame["ours_fits_16gib_batch24"]) == [False, True]  # the paper's rows: 512 px, then 380 px
    verdict = _verdict("C03", res)
    assert verdict.verdict == v.REPRODUCED and verdict.reason.startswith(f"{GPU}, float16: ")
    # both sizes under the budget: 512 px needs more, but not beyond 16 GiB, so only partially
    low = tmp_path / "low"
    _write(low, "gpu-nvidia-h200", [dict(r, estimated_gib=r["estimated_gib"] / 2) if r["kind"] == "memory" else r
                                    for r in rows])
    assert _verdict("C03", collect.Results(low)).verdict == v.PARTIALLY
