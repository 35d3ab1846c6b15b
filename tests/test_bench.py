"""`make bench` (replication.bench): synthetic data, decoded cache, one-pass evaluation, the
bench sections' CSVs (on the smoke profile) and the report's performance section."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from replication import data
from replication.study import bench
from replication.config import ConfigError
from replication.data import datasets
from replication.report import bench_section
from replication.report import measured
from replication.report.collect import Results

STAMP = ("hardware", "cpu_count", "torch", "timm", "git_commit", "profile", "model", "batch_size", "repeats")


def test_synthetic_dataset_follows_the_transform_size():
    ds = data.get_dataset("synthetic", "train", data.train_transform(48, randaug_magnitude=5, randaug_mmax=30))
    x, y = ds[13]
    assert x.shape == (3, 48, 48) and y == 13 % 10 and len(ds) == 10_000 and len(ds.classes) == 10
    ds.transform = data.eval_transform(40)
    assert ds[0][0].shape == (3, 40, 40)
    assert len(data.get_dataset("synthetic", "eval")) == 1_000
    with pytest.raises(data.DataError, match="no split 'val'.*eval"):
        data.get_dataset("synthetic", "val")


def test_decoded_cache_gives_the_same_pixels_and_decodes_once(monkeypatch):
    ds = data.get_dataset("imagenette_tiny", "train")
    plain = np.asarray(ds.load_image(3))
    calls = []
    decode = ds._decode
    monkeypatch.setattr(ds, "_decode", lambda path: calls.append(path) or decode(path))
    monkeypatch.setattr(datasets, "DECODED", {})
    ds.cache_decoded = True
    first, second = np.asarray(ds.load_image(3)), np.asarray(ds.load_image(3))
    assert len(calls) == 1 and np.array_equal(first, plain) and np.array_equal(second, plain)
    ds.cache_decoded = False
    ds.load_image(3)
    assert len(calls) == 2  # off: decoded again


def test_one_pass_evaluation_equals_separate_passes(one_thread):
    from accelerate import Accelerator
    from replication import models, train

    ds = data.get_dataset("imagenette_tiny", "eval", data.eval_transform(32))
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, range(40)), batch_size=16)
    torch.manual_seed(0)
    a, b = (models.create_model("efficientnetv2_b0", num_classes=10) for _ in range(2))
    acc = Accelerator(cpu=True)
    both = train.evaluate(acc, {"val": a, "ema": b}, loader)
    assert both["val"] == train.evaluate(acc, {"val": a}, loader)["val"]
    assert both["ema"] == train.evaluate(acc, {"ema": b}, loader)["ema"]
    assert both["val"] != both["ema"]  # two different networks, really evaluated


@pytest.fixture(scope="module")
def smoke_bench(tmp_path_factory):
    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp("bench")
    try:
        rows = bench.bench(("settings", "trainer", "pipeline", "progressive", "profile", "precision"), profile="smoke", steps=2,
                           repeats=2, output_dir=out)
    finally:
        torch.set_num_threads(threads)
    return out, rows


def test_bench_sections_write_stamped_csvs(smoke_bench):
    out, rows = smoke_bench
    for section in ("settings", "trainer", "pipeline", "progressive"):
        frame = pd.read_csv(out / "bench" / f"{section}.csv")
        assert set(frame["kind"]) == {f"bench_{section}"}
        assert all(c in frame.columns for c in STAMP), section
        assert set(frame["repeats"]) == {2} and set(frame["profile"]) == {"smoke"}
    trainer = pd.read_csv(out / "bench" / "trainer.csv")
    assert list(trainer["image_size"]) == [32, 40, 48]  # the smoke profile's first to last size, every size_multiple
    assert trainer["pixel_ratio"].tolist() == [2.25, 1.44, 1.0] and (trainer.iloc[-1][[
        "bare_speedup", "trainer_synthetic_speedup", "trainer_real_speedup"]] == 1.0).all()
    first = trainer.iloc[0]
    assert first["trainer_real_speedup"] == pytest.approx(first["trainer_real_ips"] / trainer["trainer_real_ips"].iloc[-1],
                                                          abs=1e-3)
    assert trainer["goal_pixel_speedup"].isna().all()  # the goals are for 64 and 96 px against 128 px
    assert set(trainer["bf16_from_size"]) == {0}  # every row says its precision rule (smoke: float32 throughout)
    for _, r in trainer.iterrows():
        bare = [float(v) for v in r["bare_ips_all"].split(";")]
        assert len(bare) == 2 and r["bare_ips"] == pytest.approx(np.median(bare), abs=1e-3)
        assert r["trainer_overhead_ratio"] == pytest.approx(r["trainer_synthetic_ips"] / r["bare_ips"], abs=1e-3)
        assert r["real_synthetic_ratio"] == pytest.approx(r["trainer_real_ips"] / r["trainer_synthetic_ips"], abs=1e-3)
    pipeline = pd.read_csv(out / "bench" / "pipeline.csv")
    assert (pipeline["decode_augment_ips"] > 0).all() and (pipeline["cached_augment_ips"] > 0).all()
    by_size = trainer.set_index("image_size")["trainer_synthetic_ips"]
    assert pipeline["model_ips"].tolist() == by_size.loc[pipeline["image_size"]].tolist()
    assert np.isnan(pipeline["mixup_ips"].iloc[0]) and pipeline["mixup_ips"].iloc[1] > 0  # mixup from stage 2 only


def test_progressive_and_settings_rows(smoke_bench):
    out, _ = smoke_bench
    prog = pd.read_csv(out / "bench" / "progressive.csv").set_index("schedule")
    assert prog.loc["progressive", "image_sizes"] == "32;48" and str(prog.loc["fixed", "image_sizes"]) == "48"
    assert prog.loc["fixed", "speedup_wall"] == 1.0
    ratio = prog.loc["fixed", "train_seconds"] / prog.loc["progressive", "train_seconds"]
    assert prog.loc["progressive", "speedup_train"] == pytest.approx(ratio, abs=1e-3)
    assert (prog["wall_seconds"] > prog["train_seconds"]).all()
    assert prog.loc["progressive", "eval_images"] >= 1 and (prog["steps_per_epoch"] == 2).all()
    # 2 epochs at 32 px and 2 at 48 against 4 at 48: 4 x 48^2 / (2 x 32^2 + 2 x 48^2)
    assert prog.loc["progressive", "pixel_ratio"] == pytest.approx(4 * 48 ** 2 / (2 * 32 ** 2 + 2 * 48 ** 2), abs=1e-4)
    assert prog.loc["progressive", "train_speedup_of_pixel_ratio"] == pytest.approx(
        prog.loc["progressive", "speedup_train"] / prog.loc["progressive", "pixel_ratio"], abs=1e-3)


def test_profile_rows_say_where_a_step_goes(smoke_bench):
    out, _ = smoke_bench
    prof = pd.read_csv(out / "bench" / "profile.csv")
    assert prof["image_size"].tolist() == [32, 40, 48] and set(prof["kind"]) == {"bench_profile"}
    phases = ["input_ms", "forward_ms", "backward_ms", "optimizer_ms", "ema_ms"]
    assert (prof[phases] > 0).all().all()
    assert prof["step_ms"].tolist() == pytest.approx(prof[phases].sum(1).tolist(), abs=0.2)
    assert prof["top_operators"].str.contains("convolution").all() and prof["step_speedup"].iloc[-1] == 1.0
    settings = pd.read_csv(out / "bench" / "settings.csv")
    assert len(settings) == len(bench.candidate_settings()) and settings["fastest"].sum() == 1
    best = settings.loc[settings["fastest"]].iloc[0]
    assert best["seconds_per_image_both_sizes"] == settings["seconds_per_image_both_sizes"].min()


def test_precision_rows_time_both_study_models_in_both_precisions(smoke_bench):
    out, _ = smoke_bench
    prec = pd.read_csv(out / "bench" / "precision.csv")
    assert list(zip(prec["model"], prec["image_size"])) == [(m, s) for m in bench.PRECISION_MODELS for s in (32, 48)]
    for _, r in prec.iterrows():
        for label in ("fp32", "bf16"):
            reps = [float(v) for v in r[f"{label}_ips_all"].split(";")]
            assert len(reps) == 2 and r[f"{label}_ips"] == pytest.approx(np.median(reps), abs=1e-3)
        assert r["bf16_over_fp32"] == pytest.approx(r["bf16_ips"] / r["fp32_ips"], abs=1e-3)
    line = bench_section.precision_lines(bench_section.frames(Results(out))["precision"])
    assert len(line) == 1 and "efficientnet_b0: 32 px" in line[0] and "the profile trains in float32" in line[0]


def test_report_section_judges_the_goals(smoke_bench, tmp_path):
    out, _ = smoke_bench
    res = Results(out)
    f = bench_section.frames(res)
    table = bench_section.goals(f).set_index("goal")
    overhead = table.loc["trainer / bare loop images/s (synthetic data)"]
    worst = pd.read_csv(out / "bench" / "trainer.csv")["trainer_overhead_ratio"].min()
    assert overhead["measured"] == pytest.approx(worst, abs=1e-3)
    assert overhead["met"] == ("yes" if worst >= 0.95 else "no")
    assert table.loc["progressive vs fixed-size run: wall time", "target"] == 1.5
    files = bench_section.draw(res, tmp_path)
    assert {p.name for p in files} == {"figure_bench.png", "figure_bench.svg", "table_bench.csv", "table_bench.md"}
    assert all(p.stat().st_size > 0 for p in files)
    assert "Fastest setting here" in "\n".join(bench_section.lines(res))
    assert bench_section.lines(Results(tmp_path / "empty")) == ["Not measured yet: run `make bench`.", ""]


@pytest.mark.parametrize("native", [True, False])
def test_bench_times_float32_where_this_cpu_would_emulate_bf16(tmp_path, monkeypatch, capsys, native):
    from replication import train

    monkeypatch.setattr(train, "cpu_has_bf16", lambda: native)
    monkeypatch.delenv("REPLICATION_ALLOW_SLOW_BF16", raising=False)
    b = bench.Bench("cpu", steps=1, repeats=1, output_dir=tmp_path, work_dir=tmp_path / "work")
    declared = b.base.train.bf16_from_size
    assert declared > 0  # the cpu profile trains its large stages in bf16
    assert b.stage_run(data.SYNTHETIC).train.bf16_from_size == (declared if native else 0)
    assert b.stage_run(data.SYNTHETIC, {"train": {"bf16_from_size": 1}}).train.bf16_from_size == 1  # precision section
    assert ("would emulate" in capsys.readouterr().out) == (not native)


def test_unknown_section_and_bad_steps_are_refused(tmp_path, capsys):
    with pytest.raises(ConfigError, match="unknown bench section.*speed.*choose from settings"):
        bench.bench(("speed",), profile="smoke", output_dir=tmp_path)
    from replication.__main__ import main

    assert main(["bench", "--profile", "smoke", "--steps", "0", "--output-dir", str(tmp_path)]) == 2
    assert "--steps and --repeats must be >= 1" in capsys.readouterr().err


def test_speed_tables_never_mix_machines():
    rows = pd.DataFrame([{"kind": "inference", "model": "m", "hardware": "Intel Xeon (2 CPUs)", "latency_ms_median": 900.0},
                         {"kind": "inference", "model": "m", "hardware": "NVIDIA H200", "latency_ms_median": 3.0},
                         {"kind": "inference", "model": "m", "hardware": "NVIDIA H200", "latency_ms_median": 5.0}])

    class Fake:
        def bench(self):
            return rows

    assert measured.bench_value(Fake(), "inference", "m", "latency_ms_median") == 4.0
    assert measured.preferred_hardware(["Intel Xeon (2 CPUs)", "NVIDIA H200"]) == "NVIDIA H200"
