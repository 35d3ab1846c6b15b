"""The arms of each experiment family, run resumably: what the experiment notebooks call.

Each function expands its knobs into runs of the one trainer (``replication.train.run``) or the
measurement harness, and is safe to call again: a finished run is skipped (its summary is read
back), an interrupted one resumes from its checkpoint (``resume=True``), and benchmark rows
already logged for this hardware are not measured again. Run ids name the arm; the report reads
the arm from each run's saved config, never from its name.
"""
from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import yaml

from replication import config as config_mod

EXPERIMENTS = {  # same names as replication.report.measured.EXPERIMENTS
    "size_augmentation": "t05_size_aug", "progressive": "t12_progressive",
    "adaptive_regularization": "t13_adaptive_reg", "transfer": "t08_transfer", "nas": "nas",
}
# Table 13 arms: name -> (experiment YAML in replication/configs, overrides)
T13_ARMS = {
    "progressive_vanilla": ("vanilla_progressive", {}),
    "progressive_adaptive": ("progressive", {}),
    "random_vanilla": ("random_resize", {}),
    "random_adaptive": ("random_resize_adaptive", {}),
}


def _overrides(values: dict) -> list[str]:
    return [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
            for k, v in values.items()]


def run(base: str, profile: str, experiment: str, run_id: str, output_dir, checkpoint_dir, **overrides) -> dict:
    """One training run from ``replication/configs/<base>.yaml`` + the profile + overrides (dotted
    keys written with ``__``, e.g. ``model__name``); resumes or skips it when it already exists."""
    from replication import train

    values = {"profile": profile, "experiment": experiment, "run_id": run_id,
              "train.results_dir": str(output_dir), "train.checkpoint_dir": str(checkpoint_dir)}
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    cfg = config_mod.load(config_mod.CONFIGS_DIR / f"{base}.yaml", _overrides(values))
    summary = train.run(cfg, resume=True)
    return {"experiment": experiment, "run_id": run_id, "status": summary.get("status"),
            "top1": (summary.get("final") or {}).get("ema_top1") or (summary.get("final") or {}).get("val_top1"),
            "train_seconds": summary.get("total_train_seconds")}


def size_augmentation(profile, dataset, model, image_sizes, magnitudes, epochs, seeds, output_dir, checkpoint_dir,
                      experiment=EXPERIMENTS["size_augmentation"]) -> pd.DataFrame:
    """Table 5: every (fixed training size, fixed RandAugment magnitude, seed), same epochs."""
    rows = []
    for size in image_sizes:
        for magnitude in magnitudes:
            for seed in seeds:
                rows.append(run("fixed", profile, experiment, f"s{size}_m{magnitude:g}_seed{seed}", output_dir,
                                checkpoint_dir, seed=seed, model__name=model, data__dataset=dataset,
                                train__epochs=epochs, schedule__image_size=[size, size],
                                schedule__randaug_magnitude=[magnitude, magnitude]))
    return pd.DataFrame(rows)


def progressive(profile, dataset, models, modes, epochs, seeds, output_dir, checkpoint_dir,
                experiment=EXPERIMENTS["progressive"]) -> pd.DataFrame:
    """Table 12 / Figure 1: each model with a fixed-size baseline and progressive learning."""
    bases = {"fixed": "fixed", "paper": "progressive", "official": "official"}
    rows = []
    for model in models:
        for mode in modes:
            if mode not in bases:
                raise ValueError(f"modes: unknown mode {mode!r}; use {', '.join(bases)}")
            for seed in seeds:
                rows.append(run(bases[mode], profile, experiment, f"{model}_{mode}_seed{seed}", output_dir,
                                checkpoint_dir, seed=seed, model__name=model, data__dataset=dataset,
                                train__epochs=epochs))
    return pd.DataFrame(rows)


def adaptive_regularization(profile, dataset, model, arms, epochs, seeds, output_dir, checkpoint_dir,
                            experiment=EXPERIMENTS["adaptive_regularization"]) -> pd.DataFrame:
    """Table 13 / Figure 6: progressive and random resize, with fixed or adaptive regularization."""
    rows = []
    for arm in arms:
        if arm not in T13_ARMS:
            raise ValueError(f"arms: unknown arm {arm!r}; use {', '.join(T13_ARMS)}")
        base, extra = T13_ARMS[arm]
        for seed in seeds:
            rows.append(run(base, profile, experiment, f"{arm}_seed{seed}", output_dir, checkpoint_dir, seed=seed,
                            model__name=model, data__dataset=dataset, train__epochs=epochs, **extra))
    return pd.DataFrame(rows)


def transfer(profile, datasets, models, source_experiment, source_mode, image_size, epochs, seeds, output_dir,
             checkpoint_dir, experiment=EXPERIMENTS["transfer"]) -> pd.DataFrame:
    """Table 8: fine-tune each model's checkpoint from ``source_experiment`` (same seed, mode
    ``source_mode``) on each dataset with the §5.3 recipe (``configs/transfer.yaml``)."""
    rows = []
    for model in models:
        for seed in seeds:
            source = Path(checkpoint_dir) / source_experiment / f"{model}_{source_mode}_seed{seed}" / "last.pt"
            if not source.is_file():
                raise FileNotFoundError(f"no checkpoint {source}: run the progressive notebook first with "
                                        f"models={models}, seeds={seeds} (or change source_experiment)")
            for dataset in datasets:
                rows.append(run("transfer", profile, experiment, f"{model}_{dataset}_seed{seed}", output_dir,
                                checkpoint_dir, seed=seed, model__name=model, data__dataset=dataset,
                                model__init_checkpoint=str(source), train__epochs=epochs,
                                schedule__image_size=[image_size, image_size]))
    return pd.DataFrame(rows)


def dataset_stats(datasets, output_dir) -> pd.DataFrame:
    """Table 9: counts from the loaders where the data is here, else from the manifests."""
    from replication import data

    rows = []
    for name in datasets:
        try:
            s = data.stats(name)
            rows.append({"dataset": name, "train_images": s["train"], "eval_images": s["eval"],
                         "classes": s["classes"], "source": "loader"})
        except data.DataError:
            manifest = data.load_manifest(name)
            rows.append({"dataset": name, "train_images": manifest.splits.get("train"),
                         "eval_images": manifest.splits.get("eval"),
                         "classes": manifest.num_classes, "source": "manifest"})
    frame = pd.DataFrame(rows)
    config_mod.atomic_write_text(Path(output_dir) / "static" / "datasets.csv", frame.to_csv(index=False))
    return frame


def static(tables, output_dir) -> pd.DataFrame:
    """Tables 1, 3, 4, 7, 10, 11: params/MACs of every paper row and Table 4 from the model code."""
    from replication.models import static as model_static

    out = Path(output_dir) / "static"
    model_static.write_csv(model_static.table04(), out / "table04.csv")
    frame = model_static.params_macs(tables=tuple(tables))
    model_static.write_csv(frame, out / "params_macs.csv")
    return frame


def speed_jobs(t2_model, t2_image_sizes, t2_batch_sizes, memory_batch_sizes, fused_models, fused_image_size,
               fused_batch_size, latency_models, latency_image_size, latency_batch_size, throughput_models,
               throughput_image_size, throughput_batch_size, train_models, train_image_size,
               train_batch_size) -> list[dict]:
    """The benchmark jobs of the speed_memory notebook (same parameter names), for :func:`speed`.

    Each job names the paper item it serves in ``table``: T2 (training speed and memory of
    ``t2_model`` at each size and batch), T3 (fused-stage B4 variants), T7 (latency), T11
    (throughput) and F3 (training speed). Image sizes of None mean each model's own size (eval
    size for inference, train size for training and memory)."""
    def job(table, kind, model, image_size, batch_size):
        return dict(table=table, kind=kind, model=model, image_size=image_size, batch_size=batch_size)

    return ([job("T2", "train", t2_model, s, b) for s in t2_image_sizes for b in t2_batch_sizes]
            + [job("T2", "memory", t2_model, s, b) for s in t2_image_sizes for b in memory_batch_sizes]
            + [job("T3", "train", n, fused_image_size, fused_batch_size) for n in fused_models]
            + [job("T7", "inference", n, latency_image_size, latency_batch_size) for n in latency_models]
            + [job("T11", "inference", n, throughput_image_size, throughput_batch_size) for n in throughput_models]
            + [job("F3", "train", n, train_image_size, train_batch_size) for n in train_models])


def hardware() -> str:
    """A short description of this machine: the GPU, or the processor and its CPU count."""
    from replication.report.collect import describe_hardware
    from replication.results import environment

    return describe_hardware(environment()["hardware"])


def speed(jobs, output_dir, warmup=1, repeats=3, budget_gib=16.0, name=None, amp_dtype="") -> pd.DataFrame:
    """Benchmarks: ``jobs`` is a list of dicts with ``kind`` (train | inference | memory), ``model``,
    ``image_size`` (None: the model's own train/eval size) and ``batch_size`` (see :func:`speed_jobs`).
    Rows go to ``results/bench/<name or host>.csv`` (``name`` may hold a folder: ``gpu-nvidia-h200/speed``);
    jobs already logged for this hardware are skipped. On CUDA, memory is measured from real
    training steps; on CPU it is estimated (``measure.peak_memory``).
    ``amp_dtype``: "" for float32, or "float16" / "bfloat16" autocast (the paper's V100 numbers are FP16)."""
    import torch

    amp = getattr(torch, amp_dtype) if amp_dtype else None
    from replication import measure, models

    path = Path(output_dir) / "bench" / f"{name or 'speed_' + socket.gethostname()}.csv"
    old = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    host = hardware()
    rows = old.to_dict("records")
    for job in jobs:
        entry = models.model_info(job["model"])
        size = job.get("image_size") or (entry.train_size if job["kind"] != "inference" else entry.eval_size)
        key = (job["kind"], job["model"], size, job["batch_size"], host)
        if any((r.get("kind"), r.get("model"), r.get("image_size"), r.get("batch_size"), r.get("hardware")) == key
               for r in rows):
            continue
        device = "cuda" if torch.cuda.is_available() else "cpu"
        if job["kind"] == "memory":  # CUDA: real training steps; CPU: estimated on 'meta', nothing allocated
            with torch.device(device if device == "cuda" else "meta"):
                model = models.create_for_size(job["model"], size)
            result = measure.peak_memory(model, size, job["batch_size"], budget_gib=budget_gib, amp_dtype=amp)
        else:
            with torch.device(device):  # weights initialised where they run (fast for big models on a GPU)
                model = models.create_for_size(job["model"], size)
            fn = measure.train_throughput if job["kind"] == "train" else measure.inference_latency
            result = fn(model, size, batch_size=job["batch_size"], warmup=warmup, repeats=repeats, amp_dtype=amp)
        del model
        result = {k: v for k, v in result.items() if not isinstance(v, list)}
        rows.append({"kind": job["kind"], "model": job["model"], "hardware": host, **result,
                     "image_size": size, "batch_size": job["batch_size"]})
        config_mod.atomic_write_text(path, pd.DataFrame(rows).to_csv(index=False))  # after every job: resumable
    return pd.DataFrame(rows)


def nas(profile, dataset, samples, epochs, seed, output_dir, checkpoint_dir, experiment=EXPERIMENTS["nas"],
        **settings) -> pd.DataFrame:
    """§3.3: V2-B0 and ``samples`` random architectures of the search space, each trained briefly at a
    reduced size and scored with the reward (``replication.nas.search``; ``settings``: image_size,
    train_limit, eval_limit, batch_size, threads). Resumable; returns one row per run, best first."""
    from replication import nas as nas_mod

    return nas_mod.search(profile=profile, dataset=dataset, samples=samples, epochs=epochs, seed=seed,
                          output_dir=output_dir, checkpoint_dir=checkpoint_dir, experiment=experiment, **settings)
