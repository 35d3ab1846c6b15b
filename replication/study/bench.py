"""``make bench`` / ``python -m replication bench``: how fast this machine trains and measures.

Each section writes ``results/bench/<section>.csv``. Every row names the machine (``hardware``),
the library versions, the git commit, the profile's thread / worker / cache settings and the
number of repeats; measured values are medians over the repeats (every repeat is kept in the
``*_all`` columns). Variants are timed round-robin within each repeat, so a load that comes and
goes on a shared machine hits them alike.

  settings     the training loop's images/s on real data at the first and last stage sizes for
               several (torch threads, DataLoader workers, decoded cache) settings: what to use here
  trainer      per stage size (every size_multiple from the first to the last, at most 5): bare PyTorch loop vs
               the full trainer on synthetic data (overhead, goal >= 0.95); the trainer on real vs synthetic data
               (input pipeline, goal >= 0.95); images/s over images/s at the largest size, against the pixel
               ratio (goals: 64 px >= 3.0x and 96 px >= 1.6x those at 128 px)
  pipeline     per stage size: decode + augment (+ mixup) images/s in one process vs the images/s
               the model consumes in training
  progressive  the profile's progressive run vs a fixed-size run at the last stage's size, same
               epochs: training and wall seconds (paper Table 12: 1.4x-2.8x; goal here >= 1.5x), and the
               training speed-up as a fraction of the pixel ratio (fixed's pixels over progressive's; goal >= 0.9)
  profile      per stage size: milliseconds of one training step's phases (input, forward, backward,
               optimizer, EMA) and its top operators (torch.profiler): where the time goes
  measurement  seconds to count params/MACs of every registered model, and to run ``make figures``
  precision    per model (V2-B0 and V1-B0, the two models the study trains) and stage size: the bare loop's
               images/s in float32 and under bfloat16 autocast: where the profile's ``bf16_from_size`` pays

Runs are shortened to ``--steps`` steps per epoch; the evaluation set shrinks by the same factor,
so evaluation keeps the share of wall time it has in a full-length run of the profile.
"""
from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from replication import config as config_mod
from replication import data, progressive, results, train
from replication.config import CONFIGS_DIR, Config, ConfigError
from replication.config import merge
from replication.models import list_models, static
from replication.recipe import base_dataset, build_ema, build_mixup, build_model, build_optimizer, train_transform

SECTIONS = ("settings", "trainer", "pipeline", "progressive", "profile", "measurement", "precision")
PRECISION_MODELS = ("efficientnetv2_b0", "efficientnet_b0")  # the progressive study's P and V1P models
# trainer overhead, input pipeline (real / synthetic data), progressive speed-up over fixed and its fraction of the
# pixel ratio (the best a schedule can do), and images/s at a size over images/s at the largest stage size
GOALS = {"trainer_overhead": 0.95, "real_synthetic": 0.95, "progressive_speedup": 1.5, "of_pixel_ratio": 0.9,
         "measurement_seconds": 120.0, "pixel_speedup": {64: 3.0, 96: 1.6}}  # vs 128 px (ideal 4.0 and 1.78)


def candidate_settings() -> list[tuple[int, int, bool]]:
    """(torch threads, DataLoader workers, decoded cache) tried by the settings section: one compute
    thread beside a decoding worker, or every core computing with decoding in between steps."""
    n = os.cpu_count() or 1
    out = [(1, 1, False), (1, 0, True)]
    return out + ([(n, 0, False), (n, 0, True), (n, 1, False)] if n > 1 else [])


class Bench:
    """Shared state of one ``bench`` invocation: profile, shortening, repeats, output folder."""

    def __init__(self, profile: str, steps: int, repeats: int, output_dir: Path, work_dir: Path):
        if steps < 1 or repeats < 1:
            raise ConfigError(f"--steps and --repeats must be >= 1 (got {steps}, {repeats})")
        self.profile, self.steps, self.repeats = profile, steps, repeats
        self.out, self.work = Path(output_dir) / "bench", Path(work_dir)
        self.fallback: dict = {}  # updates every timed config gets (float32 where this CPU would emulate bf16)
        self.base = self.config("progressive")  # the profile as declared
        try:
            train.check_cpu_precision(self.base)
        except train.SlowPrecision:
            self.fallback = {"train": {"bf16_from_size": 0}}
            print(f"bench: the {profile} profile trains in bfloat16 from {self.base.train.bf16_from_size} px, which "
                  "this CPU would emulate; the timed runs use float32 (bf16_from_size 0 in their rows), the "
                  "precision section still times both")
        self.stages = progressive.plan(progressive.resolve(self.base)).stages
        self.ips: dict[str, dict[int, float]] = {}  # model consumption per size, shared by sections
        self.prefilled: set[str] = set()  # datasets already in this process's decoded cache
        env = results.environment()
        self.stamp = {"hardware": results.describe_hardware(env["hardware"]), "cpu_count": env["hardware"]["cpu_count"],
                      **env["versions"], "git_commit": env["git_commit"], "profile": profile,
                      "model": self.base.model.name, "batch_size": self.base.data.batch_size, "steps_per_epoch": steps,
                      "repeats": repeats}

    # ---------------------------------------------------------------- configs and runs
    def config(self, experiment: str, updates: dict | None = None) -> Config:
        """The profile's ``experiment`` config, shortened to ``steps`` per epoch, in the work folder."""
        train = {"results_dir": str(self.work / "results"), "checkpoint_dir": str(self.work / "checkpoints"),
                 "progress": False, "keep_checkpoint": False, "steps_per_epoch": self.steps}
        return config_mod.load(CONFIGS_DIR / f"{experiment}.yaml", profile=self.profile,
                               updates=merge(merge({"train": train}, self.fallback), updates or {}))

    def settings(self, cfg: Config) -> dict:
        return {"threads": cfg.train.threads, "workers": cfg.data.num_workers, "cache_decoded": cfg.data.cache_decoded,
                "bf16_from_size": cfg.train.bf16_from_size}

    def eval_limit(self, cfg: Config) -> int:
        """Evaluation images keeping the full-length run's ratio of evaluation to training."""
        n_train, n_eval = (len(data.get_dataset(cfg.data.dataset, s)) for s in (cfg.data.train_split, cfg.data.eval_split))
        full_steps = max(1, n_train // cfg.data.batch_size)
        return max(1, min(n_eval, round(n_eval * self.steps / full_steps)))

    def run(self, cfg: Config, run_id: str) -> dict:
        """One training run; per-epoch rows, wall seconds (everything: build, data, eval, checkpoints)."""
        cfg = dataclasses.replace(cfg, run_id=run_id)
        if cfg.data.cache_decoded and cfg.data.dataset not in self.prefilled:
            prefill(cfg)
            self.prefilled.add(cfg.data.dataset)
        start = time.perf_counter()
        summary = train.run(cfg)
        wall = time.perf_counter() - start
        epochs = results.read_run(results.run_dir(cfg))["epochs"]
        return {"epochs": epochs, "wall": wall, "train": summary["total_train_seconds"],
                "eval": summary["total_eval_seconds"]}

    def per_stage(self, cfg: Config, run_id: str) -> dict[int, float]:
        """Images/s at each stage size of a run with one epoch per stage."""
        epochs = self.run(cfg, run_id)["epochs"]
        return dict(zip(epochs["image_size"].astype(int), epochs["images_per_second"].astype(float)))

    def stage_run(self, dataset: str, updates: dict | None = None, stages: int = 0) -> Config:
        """The profile's stages (or ``stages`` sizes from its first to its last), one epoch each, barely
        evaluated: images/s per stage size."""
        n = stages or len(self.stages)
        return self.config("progressive", merge({"data": {"dataset": dataset, "eval_limit": 1},
                                                 "train": {"epochs": n}, "schedule": {"stages": n}}, updates or {}))

    def write(self, section: str, rows: list[dict]) -> Path:
        path = self.out / f"{section}.csv"
        frame = pd.DataFrame([{"kind": f"bench_{section}", **self.stamp, **row} for row in rows])
        results.atomic_write_text(path, frame.to_csv(index=False))
        print(f"wrote {path}")
        return path


def prefill(cfg: Config) -> None:
    """Decode every train and eval image once into the process's cache (timed runs start warm)."""
    for split in (cfg.data.train_split, cfg.data.eval_split):
        ds = base_dataset(data.get_dataset(cfg.data.dataset, split))
        if hasattr(ds, "cache_decoded"):
            ds.cache_decoded = True
            for i in range(len(ds)):
                ds.load_image(i)


def _median(values) -> float:
    return round(statistics.median(values), 3)


def _all(values) -> str:
    return ";".join(f"{v:.3f}" for v in values)


def bare_loop(cfg: Config, sizes, steps: int, warmup: int = 0) -> dict[int, float]:
    """Images/s of a plain PyTorch loop (same model, optimizer, batch, threads and per-size precision as
    the trainer; random tensors, no loader, EMA, mixup, scheduler or logging) at each size in turn, one
    model throughout; ``warmup`` untimed steps before each size's timed ones."""
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.seed)
    model, batch = build_model(cfg, 10).train(), cfg.data.batch_size
    optimizer = build_optimizer(cfg, model, batch)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.train.label_smoothing)
    out = {}
    for size in sizes:
        x = torch.randn(batch, 3, size, size)
        x = x.contiguous(memory_format=torch.channels_last) if cfg.train.channels_last else x
        y = torch.randint(0, 10, (batch,))
        for step in range(warmup + steps):
            if step == warmup:
                start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=train.bf16_at(cfg, size)):
                loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        out[size] = batch * steps / (time.perf_counter() - start)
    return out


# --------------------------------------------------------------------------- sections
def settings_section(b: Bench) -> list[dict]:
    first, last = b.stages[0].image_size, b.stages[-1].image_size
    candidates = candidate_settings()
    runs: dict[tuple, list[dict[int, float]]] = {s: [] for s in candidates}
    for rep in range(b.repeats):
        for s in candidates:
            threads, workers, cache = s
            cfg = b.stage_run(b.base.data.dataset, {
                "schedule": {"stages": 2, "image_size": [first, last]}, "train": {"epochs": 2, "threads": threads},
                "data": {"num_workers": workers, "cache_decoded": cache}})
            runs[s].append(b.per_stage(cfg, f"settings-t{threads}w{workers}c{int(cache)}-r{rep}"))
    rows = []
    for (threads, workers, cache), reps in runs.items():
        row = {"threads": threads, "workers": workers, "cache_decoded": cache}
        for size in (first, last):
            row[f"ips_{size}"] = _median([r[size] for r in reps])
            row[f"ips_{size}_all"] = _all([r[size] for r in reps])
        row["seconds_per_image_both_sizes"] = round(1 / row[f"ips_{first}"] + 1 / row[f"ips_{last}"], 5)
        rows.append(row)
    best = min(rows, key=lambda r: r["seconds_per_image_both_sizes"])
    for row in rows:
        row["fastest"] = row is best
        row["in_profile"] = (row["threads"], row["workers"], row["cache_decoded"]) == tuple(b.settings(b.base).values())
    return rows


def timed_stages(b: Bench) -> int:
    """Stages from the profile's first to its last size, every ``size_multiple`` (at most 5): the trainer
    section times sizes between the profile's own (96 px in the cpu profile, a goal size)."""
    first, last, step = b.stages[0].image_size, b.stages[-1].image_size, b.base.schedule.size_multiple
    return max(len(b.stages), min(5, (last - first) // step + 1))


def trainer_section(b: Bench) -> list[dict]:
    n = timed_stages(b)
    real, synthetic = b.stage_run(b.base.data.dataset, stages=n), b.stage_run(data.SYNTHETIC, stages=n)
    sizes = [s.image_size for s in progressive.plan(progressive.resolve(real)).stages]
    bare, syn, rea = [], [], []
    for rep in range(b.repeats):
        bare.append(bare_loop(synthetic, sizes, b.steps))
        syn.append(b.per_stage(synthetic, f"trainer-synthetic-r{rep}"))
        rea.append(b.per_stage(real, f"trainer-real-r{rep}"))
    rows = []
    for size in sizes:
        row = {"image_size": size, **b.settings(real)}
        for name, reps in (("bare", bare), ("trainer_synthetic", syn), ("trainer_real", rea)):
            row[f"{name}_ips"] = _median([r[size] for r in reps])
            row[f"{name}_ips_all"] = _all([r[size] for r in reps])
        row["trainer_overhead_ratio"] = round(row["trainer_synthetic_ips"] / row["bare_ips"], 4)
        row["real_synthetic_ratio"] = round(row["trainer_real_ips"] / row["trainer_synthetic_ips"], 4)
        row["goal_trainer_overhead"], row["goal_real_synthetic"] = GOALS["trainer_overhead"], GOALS["real_synthetic"]
        rows.append(row)
    last = rows[-1]
    for row in rows:  # images/s here over images/s at the largest size, against the pixel ratio (the ideal)
        row["pixel_ratio"] = round((last["image_size"] / row["image_size"]) ** 2, 4)
        for name in ("bare", "trainer_synthetic", "trainer_real"):
            row[f"{name}_speedup"] = round(row[f"{name}_ips"] / last[f"{name}_ips"], 4)
        goal = GOALS["pixel_speedup"].get(row["image_size"]) if last["image_size"] == 128 else None
        row["goal_pixel_speedup"] = goal
    b.ips["synthetic"] = {r["image_size"]: r["trainer_synthetic_ips"] for r in rows}
    return rows


def _input_ips(cfg: Config, stage, cache: bool, images: int) -> float:
    """Decode + augment images/s of the stage's training transform, in this process."""
    return data.decode_speed(cfg.data.dataset, train_transform(cfg, stage), split=cfg.data.train_split, images=images,
                             cache=cache)["images_per_second"]


def _mixup_ips(cfg: Config, stage, repeats: int = 5) -> float | None:
    """Images/s of timm's Mixup on a batch at the stage's size (None when the stage has no mixup)."""
    if stage.mixup_alpha <= 0:
        return None
    mixup = build_mixup(cfg, 10)
    mixup.mixup_alpha = stage.mixup_alpha
    batch = cfg.data.batch_size
    x, y = torch.randn(batch, 3, stage.image_size, stage.image_size), torch.randint(0, 10, (batch,))
    start = time.perf_counter()
    for _ in range(repeats):
        mixup(x.clone(), y)
    return batch * repeats / (time.perf_counter() - start)


def pipeline_section(b: Bench, images: int = 300) -> list[dict]:
    cfg = b.base
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core, as a DataLoader worker has
    rows = []
    try:
        for stage in b.stages:
            plain = [_input_ips(cfg, stage, False, images) for _ in range(b.repeats)]
            cached = [_input_ips(cfg, stage, True, images) for _ in range(b.repeats)]
            mix = [_mixup_ips(cfg, stage) for _ in range(b.repeats)]
            row = {"image_size": stage.image_size, "randaug_magnitude": stage.randaug_magnitude,
                   "mixup_alpha": stage.mixup_alpha, "decode_augment_ips": _median(plain),
                   "decode_augment_ips_all": _all(plain), "cached_augment_ips": _median(cached),
                   "cached_augment_ips_all": _all(cached),
                   "mixup_ips": _median(mix) if mix[0] is not None else None}
            use = row["cached_augment_ips"] if cfg.data.cache_decoded else row["decode_augment_ips"]
            row["input_ips"] = round(1 / (1 / use + (1 / row["mixup_ips"] if row["mixup_ips"] else 0)), 3)
            model = b.ips.get("synthetic", {}).get(stage.image_size)
            row["model_ips"] = model
            row["input_over_model"] = round(row["input_ips"] / model, 3) if model else None
            rows.append(row)
    finally:
        torch.set_num_threads(threads)
    return rows


def progressive_section(b: Bench) -> list[dict]:
    limit = b.eval_limit(b.base)
    arms = {"progressive": b.config("progressive", {"data": {"eval_limit": limit}}),
            "fixed": b.config("fixed", {"data": {"eval_limit": limit}})}
    runs = {name: [] for name in arms}
    for rep in range(b.repeats):
        for name, cfg in arms.items():
            runs[name].append(b.run(cfg, f"{name}-r{rep}"))
    rows = []
    for name, cfg in arms.items():
        reps = runs[name]
        sizes = sorted({int(s) for s in reps[0]["epochs"]["image_size"]})
        rows.append({"schedule": name, "image_sizes": ";".join(map(str, sizes)), "epochs": cfg.train.epochs,
                     "eval_images": limit, **b.settings(cfg),
                     **{f"{k}_seconds": _median([r[k] for r in reps]) for k in ("train", "eval", "wall")},
                     **{f"{k}_seconds_all": _all([r[k] for r in reps]) for k in ("train", "eval", "wall")}})
    fixed = rows[1]
    pixels = {name: float((runs[name][0]["epochs"]["image_size"].astype(float) ** 2).sum()) for name in arms}
    for row in rows:
        row["speedup_train"] = round(fixed["train_seconds"] / row["train_seconds"], 3)
        row["speedup_wall"] = round(fixed["wall_seconds"] / row["wall_seconds"], 3)
        row["goal_speedup"] = GOALS["progressive_speedup"]
        row["pixel_ratio"] = round(pixels["fixed"] / pixels[row["schedule"]], 4)  # fixed's pixels over this run's
        row["train_speedup_of_pixel_ratio"] = round(row["speedup_train"] / row["pixel_ratio"], 4)
        row["goal_of_pixel_ratio"] = GOALS["of_pixel_ratio"]
    return rows


def _phases(b: Bench, cfg: Config, stage, batches, steps: int = 3) -> tuple[dict[str, float], str]:
    """Milliseconds per phase of one training step at ``stage`` (median of ``steps`` after one warm-up):
    input (fetch, collate, normalize), forward + loss, backward, optimizer, EMA; and the top operators of one
    profiled step (torch.profiler, self CPU time)."""
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    model = build_model(cfg, 10).train()
    optimizer, ema = build_optimizer(cfg, model, cfg.data.batch_size), build_ema(cfg, model, cfg.data.batch_size)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.train.label_smoothing)
    finish = train_transform(cfg, stage).finish
    times: dict[str, list[float]] = {k: [] for k in ("input", "forward", "backward", "optimizer", "ema")}

    def step(record: bool):
        marks = [time.perf_counter()]
        x, y = next(batches)
        x = finish(x) if finish is not None else x
        x = x.contiguous(memory_format=torch.channels_last) if cfg.train.channels_last else x
        marks.append(time.perf_counter())
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=train.bf16_at(cfg, stage.image_size)):
            loss = loss_fn(model(x), y)
        marks.append(time.perf_counter())
        loss.backward()
        marks.append(time.perf_counter())
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        marks.append(time.perf_counter())
        if ema is not None:
            ema.update(model, step=10)
        marks.append(time.perf_counter())
        if record:
            for name, a, z in zip(times, marks, marks[1:]):
                times[name].append(1000 * (z - a))

    step(False)
    for _ in range(steps):
        step(True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(False)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops) or 1
    top = ";".join(f"{e.key} {100 * e.self_cpu_time_total / total:.0f}%" for e in ops[:5])
    return {k: round(statistics.median(v), 1) for k, v in times.items()}, top


def profile_section(b: Bench) -> list[dict]:
    """Where one training step's time goes at each stage size (real data, the profile's settings)."""
    from torch.utils.data import DataLoader

    n = timed_stages(b)
    cfg = b.stage_run(b.base.data.dataset, stages=n)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    ds = data.get_dataset(cfg.data.dataset, cfg.data.train_split)
    ds.cache_decoded, ds.cache_short_side = cfg.data.cache_decoded, cfg.data.cache_short_side
    if ds.cache_decoded:  # warm, as in a run after its first epoch: the input phase is augmentation, not decoding
        for i in range(len(ds)):
            ds.load_image(i)
    rows = []
    for stage in progressive.plan(progressive.resolve(cfg)).stages:
        ds.transform = train_transform(cfg, stage)
        loader = DataLoader(ds, batch_size=cfg.data.batch_size, shuffle=True, num_workers=0, drop_last=True,
                            generator=torch.Generator().manual_seed(0))
        ms, top = _phases(b, cfg, stage, iter(loader))
        rows.append({"image_size": stage.image_size, "bf16": train.bf16_at(cfg, stage.image_size),
                     **{f"{k}_ms": v for k, v in ms.items()}, "step_ms": round(sum(ms.values()), 1),
                     "input_share": round(ms["input"] / sum(ms.values()), 4), "top_operators": top})
    last = rows[-1]
    for row in rows:
        row["step_speedup"] = round(last["step_ms"] / row["step_ms"], 4)
        row["model_speedup"] = round((last["step_ms"] - last["input_ms"]) / (row["step_ms"] - row["input_ms"]), 4)
        row["pixel_ratio"] = round((last["image_size"] / row["image_size"]) ** 2, 4)
    return rows


def measurement_section(b: Bench) -> list[dict]:
    """Deterministic work of tens of seconds: timed once (``repeats`` is 1 in these rows)."""

    start = time.perf_counter()
    frame = static.params_macs()
    params = {"task": "params_macs", "items": len(frame), "registered_models": len(list_models()),
              "seconds": round(time.perf_counter() - start, 2)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "replication", "figures", "--results", str(b.out.parent),
                           "--figures", str(b.work / "figures"), "--build", str(b.work / "build")],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"`python -m replication figures` failed:\n{proc.stderr[-2000:]}")
    figures = {"task": "make_figures", "seconds": round(time.perf_counter() - start, 2)}
    return [{**row, "repeats": 1, "goal_seconds": GOALS["measurement_seconds"]} for row in (params, figures)]


def precision_section(b: Bench) -> list[dict]:
    """Per model and stage size: the bare loop's images/s in float32 and under bfloat16 autocast, the four
    (model, precision) variants round-robin in each repeat, one warm-up step per size."""
    sizes = [s.image_size for s in b.stages]
    variants = [(name, bf16) for name in PRECISION_MODELS for bf16 in (False, True)]
    reps: dict[tuple, list[dict[int, float]]] = {v: [] for v in variants}
    for _ in range(b.repeats):
        for name, bf16 in variants:
            cfg = b.stage_run(data.SYNTHETIC, {"model": {"name": name}, "train": {"bf16_from_size": 1 if bf16 else 0}})
            reps[(name, bf16)].append(bare_loop(cfg, sizes, b.steps, warmup=1))
    rows = []
    for name in PRECISION_MODELS:
        for size in sizes:
            row = {"model": name, "image_size": size, "threads": b.base.train.threads,
                   "profile_bf16_from_size": b.base.train.bf16_from_size}
            for label, bf16 in (("fp32", False), ("bf16", True)):
                row[f"{label}_ips"] = _median([r[size] for r in reps[(name, bf16)]])
                row[f"{label}_ips_all"] = _all([r[size] for r in reps[(name, bf16)]])
            row["bf16_over_fp32"] = round(row["bf16_ips"] / row["fp32_ips"], 4)
            rows.append(row)
    return rows


FUNCTIONS = {"settings": settings_section, "trainer": trainer_section, "pipeline": pipeline_section,
             "progressive": progressive_section, "profile": profile_section, "measurement": measurement_section,
             "precision": precision_section}


def bench(sections=SECTIONS, profile: str = "cpu", steps: int = 5, repeats: int = 3, output_dir="results") -> dict:
    """Run the named sections in order; returns {section: rows}. The pipeline section compares
    with the trainer section's synthetic images/s, so run both for its ``input_over_model``."""
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ConfigError(f"unknown bench section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    out = {}
    with tempfile.TemporaryDirectory(prefix="replication-bench-") as work:
        b = Bench(profile, steps, repeats, Path(output_dir), Path(work))
        for section in SECTIONS:
            if section in sections:
                start = time.perf_counter()
                out[section] = FUNCTIONS[section](b)
                b.write(section, out[section])
                print(f"{section}: {time.perf_counter() - start:.0f} s", flush=True)
    return out


# --------------------------------------------------------------------------- CLI
def add_commands(subparsers) -> None:
    p = subparsers.add_parser("bench", help="time training, input pipeline, progressive speed-up, measurement",
                              description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections (default: all: {','.join(SECTIONS)})")
    p.add_argument("--profile", default="cpu", help="trainer profile whose settings are timed (default: cpu)")
    p.add_argument("--steps", type=int, default=5, help="training steps per epoch in the shortened runs (default 5)")
    p.add_argument("--repeats", type=int, default=3, help="repeats per measurement; medians are reported (default 3)")
    p.add_argument("--output-dir", default="results", help="results root; CSVs go to <output-dir>/bench/")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    try:
        start = time.perf_counter()
        bench([s.strip() for s in args.only.split(",") if s.strip()], args.profile, args.steps, args.repeats,
              args.output_dir)
    except ConfigError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 2
    print(f"bench finished in {time.perf_counter() - start:.0f} s")
    return 0
