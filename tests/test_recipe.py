"""The paper-scale recipe (issue 17): transfer's own recipe, the official EMA warm-up, the official
evaluation and RandAugment, total steps, gradient accumulation, `config show` and the recipe table."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from replication import config as C
from replication import data, progressive, recipe, results, train
from replication.__main__ import main

REPO = Path(__file__).resolve().parents[1]
TRANSFER = C.CONFIGS_DIR / "transfer.yaml"
PROGRESSIVE = C.CONFIGS_DIR / "progressive.yaml"


def resolved(path, *overrides):
    return progressive.resolve(C.load(path, list(overrides)))


# --------------------------------------------------------------------------- transfer (§5.3)
def test_transfer_with_the_gpu_profile_is_its_own_recipe():
    cfg = resolved(TRANSFER, "profile=gpu")
    assert recipe.peak_lr(cfg, 512) == pytest.approx(0.001)  # paper 0.001 = official 5e-4 per 256 at batch 512
    assert (cfg.optim.sched, cfg.optim.weight_decay, cfg.optim.warmup_epochs) == ("cosine", 0.0, 1.0)
    assert cfg.train.total_steps == 10_000
    assert (cfg.train.ema_decay, cfg.train.ema_warmup, cfg.train.ema_warmup_rule) == (0.9996, True, "tf")
    assert recipe.ema_decay(cfg, 512) == 0.9996
    assert cfg.schedule.dropout == (1e-6, 1e-6) and cfg.schedule.randaug_magnitude == (0, 0)
    assert cfg.data.cutout and cfg.schedule.image_size == (384, 384)
    # 10,000 steps whatever the dataset: CIFAR-10 at 512 has 97 steps per epoch
    assert recipe.run_length(cfg, 97) == (104, 10_000) and recipe.epoch_steps(cfg, 103, 97) == 10_000 - 103 * 97
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = recipe.build_scheduler(cfg, opt, 97)
    sched.step_update(97)  # the end of the 1-epoch warm-up: the peak
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0)
    sched.step_update(10_000)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)  # cosine ends at the end of the steps
    # the other profiles keep their transfer settings (the cpu study is unchanged)
    cpu = resolved(TRANSFER, "profile=cpu")
    assert cpu.train.total_steps == 0 and cpu.train.ema_decay == 0.999 and cpu.optim.warmup_epochs == 0


def test_a_profiles_section_applies_under_its_profile_only(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("profiles: {gpuu: {train: {epochs: 2}}}\n")
    with pytest.raises(C.ConfigError, match="profiles.gpuu is not a profile; did you mean profiles.gpu"):
        C.load(path, ["profile=gpu"])
    path.write_text("profiles: {gpu: 3}\n")
    with pytest.raises(C.ConfigError, match="'profiles' must map profile names"):
        C.load(path)
    path.write_text("train: {epochs: 5}\nprofiles: {smoke: {train: {epochs: 3}}}\n")
    assert C.load(path).train.epochs == 5 and C.load(path, ["profile=smoke"]).train.epochs == 3
    assert C.load(path, ["profile=smoke", "train.epochs=7"]).train.epochs == 7  # overrides still win


def test_total_steps_set_the_epochs_and_the_stages_must_fit():
    cfg = C.load(PROGRESSIVE, ["profile=smoke", "train.total_steps=5", "schedule.stages=2"])
    assert recipe.with_run_length(cfg, 2).train.epochs == 3
    assert [recipe.epoch_steps(cfg, e, 2) for e in range(3)] == [2, 2, 1]
    with pytest.raises(C.ConfigError, match="train.total_steps=3"):
        recipe.with_run_length(C.load(PROGRESSIVE, ["profile=smoke", "train.total_steps=3", "schedule.stages=4"]), 2)
    assert recipe.with_run_length(C.load(PROGRESSIVE, ["profile=smoke"]), 2).train.epochs == 4  # 0: epochs decide


# --------------------------------------------------------------------------- EMA
@pytest.mark.parametrize("step", [1, 100, 10_000])
def test_the_tf_ema_warmup_is_the_official_formula(step):
    cfg = C.load(PROGRESSIVE, ["profile=gpu", "train.ema_warmup=true", "train.ema_warmup_rule=tf", "train.ema_batch=0"])
    ema = recipe.build_ema(cfg, torch.nn.Linear(2, 2), 4096)
    assert ema.get_decay(step) == pytest.approx(min(0.9999, (1 + step) / (10 + step)), rel=1e-12)


def test_ema_decay_follows_the_global_batch_on_request_and_the_start_line_says_so():
    cfg = C.load(PROGRESSIVE, ["profile=gpu"])  # 0.9999 for the paper's 4096
    assert recipe.ema_decay(cfg, 4096) == 0.9999
    assert recipe.ema_decay(cfg, 1024) == pytest.approx(0.9999 ** 0.25)
    assert recipe.ema_decay(C.load(PROGRESSIVE, ["profile=gpu", "train.ema_batch=0"]), 1024) == 0.9999
    line = recipe.describe(C.load(PROGRESSIVE, ["profile=gpu", "train.grad_accum_steps=4"]), 8)
    assert "global batch 4096 = 128 per process x 8 process(es) x 4" in line and "peak lr 0.256" in line
    assert "EMA decay 0.9999" in line and "(1 + n) / (10 + n)" in line
    timm_rule = recipe.build_ema(C.load(PROGRESSIVE, ["profile=smoke"]), torch.nn.Linear(2, 2), 16)  # unchanged
    assert timm_rule.get_decay(10) == pytest.approx(min(0.99, 1 - 10 ** (-2 / 3)))


# --------------------------------------------------------------------------- preprocessing
def _tf_bilinear(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TensorFlow 2's tf.image.resize(method='bilinear'): half-pixel centres, no antialiasing."""
    def axis(n_in, n_out):
        pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        low = np.floor(pos)
        return np.maximum(low, 0).astype(int), np.minimum(np.ceil(pos), n_in - 1).astype(int), pos - low
    (y0, y1, fy), (x0, x1, fx) = axis(image.shape[0], out_h), axis(image.shape[1], out_w)
    top = image[y0][:, x0] * (1 - fx)[None, :, None] + image[y0][:, x1] * fx[None, :, None]
    bottom = image[y1][:, x0] * (1 - fx)[None, :, None] + image[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]


def test_official_eval_preprocessing_gives_the_official_tensor():
    pixels = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    img = Image.fromarray(pixels)
    # 384 px: the whole image to 384 x 384, then (x - 128) / 128
    expected = (_tf_bilinear(pixels.astype(np.float64), 384, 384) - 128) / 128
    got = data.official_eval_transform(384)(img)
    assert got.shape == (3, 384, 384)
    np.testing.assert_allclose(got.permute(1, 2, 0).numpy(), expected, atol=1e-4)  # float32 vs float64: < 0.013 grey levels
    # 224 px: a centred square of 224 / 256 of the shorter side first
    side = int(224 / 256 * 300)
    top, left = (300 - side) // 2, (400 - side) // 2
    crop = pixels[top:top + side, left:left + side].astype(np.float64)
    expected = (_tf_bilinear(crop, 224, 224) - 128) / 128
    np.testing.assert_allclose(data.official_eval_transform(224)(img).permute(1, 2, 0).numpy(), expected, atol=1e-4)  # float32 vs float64: < 0.013 grey levels


def test_preprocessing_options_reach_the_transforms():
    cfg = C.load(PROGRESSIVE, ["profile=gpu"])
    stage = progressive.plan(progressive.resolve(cfg)).stage(0)
    tf = recipe.train_transform(cfg, stage)
    crop = tf.transforms[0]
    assert tuple(crop.scale) == (0.05, 1.0) and tuple(tf.finish.mean) == data.transforms.OFFICIAL_MEAN
    ops = next(t for t in tf.transforms if hasattr(t, "ops")).ops
    assert {op.prob for op in ops} == {1.0} and "Cutout" in [op.name for op in ops]
    assert recipe.eval_transform(cfg, 384).transforms[0].__class__.__name__ == "PILToTensor"
    smoke = C.load(PROGRESSIVE, ["profile=smoke"])  # the defaults: today's transforms
    tf = recipe.train_transform(smoke, progressive.plan(smoke).stage(0))
    assert tuple(tf.transforms[0].scale) == (0.08, 1.0) and tuple(tf.finish.mean) == data.transforms.IMAGENET_MEAN
    assert {op.prob for op in next(t for t in tf.transforms if hasattr(t, "ops")).ops} == {0.5}


def test_official_randaugment_ops_always_apply_translate_absolutely_and_fill_128():
    ra = data.transforms.randaugment(10, 2, 30, variant="official")
    by_name = {op.name: op for op in ra.ops}
    assert set(by_name) == {*data.transforms.OFFICIAL_RANDAUG_OPS, "Cutout"}
    assert by_name["TranslateX"].hparams["translate_const"] == 100 and by_name["Rotate"].kwargs["fillcolor"] == (128,) * 3
    white = Image.new("RGB", (200, 200), (255, 255, 255))
    out = np.asarray(by_name["Cutout"](white))
    hole = (out == 128).all(-1)
    assert 0 < hole.sum() <= 80 * 80 and set(np.unique(out)) <= {128, 255}  # half-side 40 px at m = 10
    shifted = np.asarray(by_name["TranslateX"](white))
    assert ((shifted == 128).all(-1).sum(1) == 100).all()  # 100 px at m = 10, filled with 128


def test_the_released_weights_are_evaluated_with_the_official_preprocessing():
    from replication import weights

    tf = weights.eval_transform(384, weights.OFFICIAL_PREPROCESSING)
    assert [t.__class__.__name__ for t in tf.transforms][0] == "PILToTensor"


# --------------------------------------------------------------------------- config show, recipe table
def test_config_show_prints_the_resolved_config_and_the_trainers_stage_table(capsys):
    for model in ("efficientnetv2_s", "efficientnetv2_m", "efficientnetv2_l"):
        assert main(["config", "show", str(C.CONFIGS_DIR / "official.yaml"), "profile=gpu", f"model.name={model}"]) == 0
        out = capsys.readouterr().out
        assert main(["schedule", "--profile", "gpu", "--mode", "official", "--model", model]) == 0
        sizes = [s["image_size"] for s in json.loads(capsys.readouterr().out)["stages"]]
        rows = [line.split() for line in out.splitlines() if line.startswith("#") and line.split()[1:2][0].isdigit()]
        assert [int(r[3]) for r in rows] == sizes
        assert f"name: {model}" in out and "mode: official" in out and "global batch 128" in out
    assert main(["config", "show", str(TRANSFER), "profile=gpu", "--processes", "4"]) == 0
    out = capsys.readouterr().out
    assert "total_steps: 10000" in out and "global batch 512" in out and "peak lr 0.001" in out
    assert main(["config", "show", str(TRANSFER), "train.grad_accum_steps=0"]) == 2
    assert "train.grad_accum_steps" in capsys.readouterr().err


def test_the_recipe_table_says_what_the_gpu_profile_follows():
    from replication.report import recipe_table

    frame = recipe_table.table()
    assert {"official", "paper", "cpu", "gpu", "gpu follows", "why"} <= set(frame.columns)
    row = frame.set_index(["recipe", "setting"])["gpu follows"]
    assert row["Transfer (§5.3)", "peak LR at batch 512"] == "paper and official"
    assert row["Transfer (§5.3)", "LR schedule"] == "paper" and row["Transfer (§5.3)", "EMA decay"] == "official"
    assert row["Transfer (§5.3)", "training length"] == "paper and official"
    assert row["ImageNet (§5.1)", "EMA warm-up"] == "official"
    assert row["ImageNet (§5.1)", "eval preprocessing (>= 320 px)"] == "official"
    assert (frame.loc[frame["gpu follows"] == "neither", "why"] != "").all()  # every deviation has its reason
    from replication.report import document

    text = "\n".join(document.wrap(recipe_table.lines()))  # as the report folds it
    assert "**Transfer (§5.3)**" in text and "| training length " in text and not document.long_lines(text)


# --------------------------------------------------------------------------- the gpu profile on CPU, tiny data
GPU_TINY = ["profile=gpu", "data.dataset=imagenette_tiny", "model.name=efficientnetv2_b0", "data.batch_size=8",
            "data.eval_batch_size=32", "data.num_workers=0", "data.eval_size=64", "schedule.image_size=[32, 48]",
            "schedule.randaug_magnitude=[5, 10]", "schedule.mixup_alpha=[0, 0.2]", "schedule.dropout=[0.1, 0.3]",
            "schedule.stages=2", "train.epochs=2", "train.steps_per_epoch=2", "train.progress=false"]


def _dirs(tmp):
    return [f"train.results_dir={tmp / 'results'}", f"train.checkpoint_dir={tmp / 'checkpoints'}"]


@pytest.fixture
def fresh_accelerate():
    """Accelerate keeps its state per process: a run with another mixed precision needs it reset."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("precision", ["no", "bf16"])
def test_the_gpu_profile_trains_on_cpu_with_tiny_data(tmp_path, one_thread, fresh_accelerate, precision):
    extra = ["train.grad_accum_steps=2"] if precision == "bf16" else ["train.total_steps=3"]
    cfg = C.load(PROGRESSIVE, GPU_TINY + _dirs(tmp_path) + [f"train.mixed_precision={precision}", *extra])
    summary = train.run(cfg)
    assert summary["status"] == "complete" and summary["final"]["ema_top1"] is not None
    epochs = pd.read_csv(results.run_dir(cfg) / "epochs.csv")
    ckpt = results.load_checkpoint(Path(cfg.train.checkpoint_dir) / "progressive" / "seed0" / "last.pt")
    if precision == "bf16":  # 2 steps of 2 micro-batches of 8
        assert epochs["train_images"].tolist() == [32, 32] and ckpt["global_step"] == 4
    else:  # 3 steps: 2, then 1
        assert epochs["train_images"].tolist() == [16, 8] and ckpt["global_step"] == 3
    assert C.load(results.run_dir(cfg) / "config.yaml") == cfg  # the config as given is saved


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_gpu_profile_trains_with_two_processes_on_cpu(tmp_path):
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--dynamo_backend", "no", "-m", "replication", "train", str(PROGRESSIVE)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    for precision in ("no", "bf16"):
        tmp = tmp_path / precision
        done = subprocess.run(launch + GPU_TINY + _dirs(tmp) + [f"train.mixed_precision={precision}",
                                                                "train.grad_accum_steps=2"],
                              env=env, cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        assert "global batch 32 = 8 per process x 2 process(es) x 2" in done.stdout
        summary = json.loads((tmp / "results" / "progressive" / "seed0" / "summary.json").read_text())
        assert summary["num_processes"] == 2 and summary["status"] == "complete"


def test_batched_normalization_gives_the_per_image_values_bit_for_bit():
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)) for _ in range(5)]
    for name in ("imagenet", "official"):
        mean, std = data.NORMALIZATION[name]
        per_image = data.train_transform(24, scale=(1, 1), hflip=False, mean=mean, std=std)
        batched = data.train_transform(24, scale=(1, 1), hflip=False, mean=mean, std=std, batched=True)
        assert per_image.finish is None and isinstance(batched.finish, data.transforms.BatchNormalize)
        pixels = torch.stack([batched(img) for img in images])
        assert pixels.dtype == torch.uint8 and pixels.shape == (5, 24, 24, 3)
        out = batched.finish(pixels)
        assert out.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(out, torch.stack([per_image(img) for img in images]))
        assert batched.finish(out) is out  # a float batch (synthetic data) passes through
    assert data.train_transform(24, cutout=True, batched=True).finish is None  # cutout erases after normalizing


def test_flat_then_cosine_holds_the_peak_then_decays_to_the_minimum():
    cfg = C.load(PROGRESSIVE, ["profile=smoke", "optim.sched=cosine", "optim.warmup_epochs=1", "optim.flat_fraction=0.5",
                               "optim.lr=0.01", "optim.lr_base_batch=0", "train.epochs=5", "optim.min_lr=0.0001"])
    steps = 10  # per epoch: 10 warm-up steps, then 40: 20 flat and 20 of cosine
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    sched = recipe.build_scheduler(cfg, opt, steps)
    lrs = []
    for t in range(50):
        sched.step_update(t)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[0] == 0 and 0 < lrs[5] < 0.01  # warm-up
    assert lrs[10:30] == [pytest.approx(0.01)] * 20  # flat at the peak
    assert all(a > b for a, b in zip(lrs[30:49], lrs[31:50])) and lrs[49] == pytest.approx(0.0001, abs=2e-4)
    plain = recipe.build_scheduler(C.load(PROGRESSIVE, ["profile=smoke", "optim.sched=cosine", "train.epochs=5"]), opt, 10)
    assert not isinstance(plain, recipe.FlatCosineLRScheduler)
    with pytest.raises(C.ConfigError, match="optim.flat_fraction"):
        C.load(PROGRESSIVE, ["profile=smoke", "optim.sched=step", "optim.flat_fraction=0.5"])


def test_an_ema_horizon_is_a_fraction_of_the_runs_steps():
    cfg = C.load(PROGRESSIVE, ["profile=smoke", "train.ema_horizon=0.1"])
    assert recipe.ema_decay(cfg, 64, total_steps=2000) == pytest.approx(1 - 1 / 200)
    assert "time constant 0.1 of the run's 2000 steps" in recipe.describe(cfg, 1, 2000)
    with pytest.raises(ValueError, match="number of optimizer steps"):
        recipe.ema_decay(cfg, 64)
    with pytest.raises(C.ConfigError, match="train.ema_horizon"):
        C.load(PROGRESSIVE, ["profile=smoke", "train.ema_horizon=0.1", "train.ema_batch=4096"])


def test_zero_init_last_makes_every_residual_block_start_as_the_identity():
    import torchvision

    from replication import models

    cfg = C.load(PROGRESSIVE, ["profile=smoke", "model.zero_init_last=true"])
    for name in ("efficientnetv2_b0", "efficientnet_b0"):
        model = recipe.build_model(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name=name)), 10)
        blocks = [m for m in model.modules() if getattr(m, "has_skip", False) is True]
        assert blocks, name
        if hasattr(blocks[0], "project"):  # ours: the block is exactly the identity at initialization
            x = torch.randn(2, blocks[0].project.conv.out_channels, 8, 8)
            assert torch.equal(blocks[0].eval()(x), x)
    assert models.zero_init_last_bn(torchvision.models.resnet18()) == 0
    with pytest.raises(C.ConfigError, match="model.zero_init_last=true: .* no residual block"):
        recipe.build_model(C.load(PROGRESSIVE, ["profile=smoke", "model.zero_init_last=true", "model.name=resnet50"]), 10)
