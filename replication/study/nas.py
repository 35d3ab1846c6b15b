"""Training-aware NAS at small scale (§3.3): search space, seeded sampler, reward, evaluator, search.

Search space (stage-based, factorized, as §3.3): the stem, the head, the number of stages, each
stage's output channels and stride are **reused from a backbone** (default: EfficientNetV2-B0;
``efficientnetv2_s`` and EfficientNet ``efficientnet_b0`` are also available). Per stage the
search chooses

* the op: MBConv (``mb``, with SE 0.25 as in the backbones) or Fused-MBConv (``fu``, no SE, as in V2);
* the kernel: 3x3 or 5x5;  the expansion ratio: 1, 4 or 6;
* the number of layers: ``ceil(r/2) .. r + floor(r/2)`` where r is the backbone's repeats (so the
  backbone's own depth is the middle of the range; V2-B0: 1, 1-3, 1-3, 2-4, 3-7, 4-12).

An architecture is a tuple of block strings that ``replication.models.efficientnetv2`` builds
(:class:`EfficientNetV2`); every point of the space builds. The space over the V2-S backbone holds
V2-S itself, and the one over the V2-B0 backbone holds V2-B0.

Reward (§3.3): ``A * S**w * P**v`` with ``w = -0.07``, ``v = -0.05``. A is the top-1 accuracy
(fraction, model weights, no EMA) after the short training; S the training step time and P the
parameter count, both **relative to EfficientNetV2-B0**: S is the median step time of the sample
divided by that of a V2-B0 timed round-robin with it in the same call
(``measure.compare_train_throughput``: forward + backward + RMSProp step on random data, fp32,
channels_last, the training batch and image size), so a changing load on a shared machine cancels;
P is params / params(V2-B0), both built with the dataset's classes. Normalizing P multiplies every
reward by the same constant, so it never changes a ranking.

Evaluator: one run of the trainer (``replication.train.run``, the ``fixed`` config + the profile)
per sample at a reduced image size on a subset, then the step time, params and reward are added
to its ``summary.json``. The paper trains each sample ~10 epochs at reduced size on ImageNet; the
cpu default here is 2 epochs on 2,560 Imagenette training images at 64 px (80 steps of 64, the
profile's AdamW + cosine), evaluated at 64 px on 1,000 validation images -- accuracies stay far
from converged (V2-B0: ~14 %, chance 10 %), so A mostly measures how fast a model starts learning. Runs go to ``<output_dir>/<experiment>/<run_id>/``
(samples ``sample<i>``, the V2-B0 reference ``v2b0_reference``); finished ones are skipped.

    python -m replication nas --profile cpu     # the cpu search (studies/cpu.yaml, family nas), resumable
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from replication import config as config_mod
from replication import data, measure, results, train
from replication.models import efficientnetv2 as v2
from replication.study import spec

OPS, KERNELS, EXPANSIONS, SE_RATIO = ("fu", "mb"), (3, 5), (1, 4, 6), 0.25
W, V = -0.07, -0.05
BACKBONES = {"efficientnetv2_b0": v2.V2_BASE, "efficientnetv2_s": v2.V2_S, "efficientnet_b0": v2.V1_B0}
REFERENCE = "efficientnetv2_b0"
REFERENCE_RUN = "v2b0_reference"
RESULT_KEYS = ("reward", "accuracy", "step_time", "ref_step_time", "step_time_ratio", "params", "params_ratio")
FEATURES = ("fused_stages", "fused_early", "mbconv_late", "mean_expansion", "k3_share", "layers")


def block_string(op: str, layers: int, kernel: int, stride: int, expansion: int, channels: int) -> str:
    return f"{op}_r{layers}_k{kernel}_s{stride}_e{expansion}_c{channels}" + (f"_se{SE_RATIO:g}" if op == "mb" else "")


@dataclass(frozen=True)
class Arch:
    """One point of a search space: stem channels, head channels and one block string per stage."""
    stem: int
    head: int
    blocks: tuple[str, ...]

    def build(self, num_classes: int = 1000, **kwargs) -> v2.EfficientNetV2:
        return v2.EfficientNetV2(self.blocks, stem=self.stem, head=self.head, num_classes=num_classes, **kwargs)

    def features(self) -> dict:
        """Summary of the choices, for reading the search: how V2-like is it?"""
        specs = [v2.parse_stage(b) for b in self.blocks]
        half = len(specs) // 2
        return {"fused_stages": sum(s.fused for s in specs),
                "fused_early": sum(s.fused for s in specs[:half]) / half,
                "mbconv_late": sum(not s.fused for s in specs[half:]) / (len(specs) - half),
                "mean_expansion": sum(s.expansion for s in specs) / len(specs),
                "k3_share": sum(s.kernel == 3 for s in specs) / len(specs),
                "layers": sum(s.repeats for s in specs)}


@dataclass(frozen=True)
class SearchSpace:
    stem: int
    head: int
    channels: tuple[int, ...]
    strides: tuple[int, ...]
    layers: tuple[tuple[int, int], ...]  # (min, max) per stage

    @classmethod
    def from_backbone(cls, name: str = REFERENCE) -> SearchSpace:
        if name not in BACKBONES:
            raise KeyError(f"backbone {name!r} is unknown; choose one of {', '.join(BACKBONES)}")
        stem, head, strings = BACKBONES[name]
        specs = [v2.parse_stage(s) for s in strings]
        return cls(stem, head, tuple(s.channels for s in specs), tuple(s.stride for s in specs),
                   tuple((math.ceil(s.repeats / 2), s.repeats + s.repeats // 2) for s in specs))

    def size(self) -> int:
        """Number of distinct architectures in the space."""
        per_choice = len(OPS) * len(KERNELS) * len(EXPANSIONS)
        return math.prod(per_choice * (hi - lo + 1) for lo, hi in self.layers)

    def sample(self, rng: random.Random) -> Arch:
        """Every choice uniformly and independently."""
        blocks = tuple(block_string(rng.choice(OPS), rng.randint(lo, hi), rng.choice(KERNELS), stride,
                                    rng.choice(EXPANSIONS), channels)
                       for channels, stride, (lo, hi) in zip(self.channels, self.strides, self.layers))
        return Arch(self.stem, self.head, blocks)

    def contains(self, arch: Arch) -> bool:
        if (arch.stem, arch.head, len(arch.blocks)) != (self.stem, self.head, len(self.channels)):
            return False
        for text, channels, stride, (lo, hi) in zip(arch.blocks, self.channels, self.strides, self.layers):
            s = v2.parse_stage(text)
            if not (s.kernel in KERNELS and s.expansion in EXPANSIONS and lo <= s.repeats <= hi
                    and (s.channels, s.stride) == (channels, stride) and s.se_ratio == (0.0 if s.fused else SE_RATIO)):
                return False
        return True


def backbone_arch(name: str) -> Arch:
    stem, head, strings = BACKBONES[name]
    return Arch(stem, head, tuple(strings))


def sample(seed: int, index: int, space: SearchSpace | None = None) -> Arch:
    """Sample ``index`` of the search with ``seed``: the same pair always gives the same architecture."""
    return (space or SearchSpace.from_backbone()).sample(random.Random(f"nas-{seed}-{index}"))


def reward(accuracy: float, step_time_ratio: float, params_ratio: float, w: float = W, v: float = V) -> float:
    """§3.3: ``A * S**w * P**v`` (A a fraction, S and P relative to the reference model)."""
    if not (0 <= accuracy <= 1 and step_time_ratio > 0 and params_ratio > 0):
        raise ValueError(f"reward needs 0 <= A <= 1 and S, P > 0; got A={accuracy}, S={step_time_ratio}, P={params_ratio}")
    return accuracy * step_time_ratio ** w * params_ratio ** v


# --------------------------------------------------------------------------- evaluator
def measure_cost(arch: Arch, num_classes: int, image_size: int, batch_size: int, repeats: int = 5) -> dict:
    """Step time of ``arch`` and of V2-B0 timed round-robin, and both parameter counts."""
    torch.manual_seed(0)
    models = {"sample": arch.build(num_classes), "reference": backbone_arch(REFERENCE).build(num_classes)}
    params = {k: measure.count_params(m) for k, m in models.items()}
    timed = measure.compare_train_throughput(models, image_size, batch_size=batch_size, warmup=1, repeats=repeats)
    step, ref = timed["sample"]["step_seconds_median"], timed["reference"]["step_seconds_median"]
    return {"step_time": step, "ref_step_time": ref, "step_time_ratio": step / ref, "params": params["sample"],
            "params_ratio": params["sample"] / params["reference"], "timing_batch_size": batch_size,
            "timing_image_size": image_size, "timing_threads": torch.get_num_threads()}


def run_config(run_id: str, arch: Arch, profile: str, epochs: int, seed: int, output_dir, checkpoint_dir,
               experiment: str, image_size: int, train_limit: int, eval_limit: int, batch_size: int,
               dataset: str = "") -> config_mod.Config:
    """The trainer config of one evaluation: the architecture as block strings, fixed size, light
    fixed regularization, no EMA, and BN momentum 0.1 (the official code's TF 0.9): with the
    paper's 0.01 the running statistics of a run of ~100 steps are still half their initial
    values and evaluation sits at chance."""
    updates = {
        "experiment": experiment, "run_id": run_id, "seed": seed,
        "model": {"name": f"nas_{run_id}", "blocks": list(arch.blocks), "stem_channels": arch.stem,
                  "head_channels": arch.head, "bn_momentum": 0.1},
        "data": {"batch_size": batch_size, "eval_size": image_size, "train_limit": train_limit, "eval_limit": eval_limit,
                 **({"dataset": dataset} if dataset else {})},
        "schedule": {"image_size": [image_size, image_size], "size_multiple": 8, "randaug_magnitude": [5, 5],
                     "mixup_alpha": [0, 0], "dropout": [0.1, 0.1]},
        "optim": {"warmup_epochs": epochs / 4},
        "train": {"epochs": epochs, "ema_decay": 0, "keep_checkpoint": False, "progress": False,
                  "results_dir": str(output_dir), "checkpoint_dir": str(checkpoint_dir)},
    }
    return config_mod.load(config_mod.CONFIGS_DIR / "fixed.yaml", profile=profile, updates=updates)


def evaluate(arch: Arch, run_id: str, index: int | None = None, repeats: int = 5, **settings) -> dict:
    """Train ``arch`` briefly through the trainer, time it against V2-B0 and write its reward into
    the run's ``summary.json``; a run whose summary already has a reward is read back, not rerun."""

    cfg = run_config(run_id, arch, **settings)
    out = results.run_dir(cfg)
    summary_path = out / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if "reward" in summary:
            return summary
    arch_path = out / "arch.yaml"  # guards a resumed run against a changed sampler or space
    saved = yaml.safe_load(arch_path.read_text()) if arch_path.is_file() else None
    if saved is not None and saved != _arch_record(arch):
        raise ValueError(f"{arch_path} holds another architecture than sample {run_id!r} now gives; the sampler or "
                         f"search space changed: use another experiment name or delete {out}")
    if saved is None:
        results.atomic_write_text(arch_path, yaml.safe_dump(_arch_record(arch), sort_keys=False))
    summary = train.run(cfg, resume=True)
    if summary.get("status") != "complete":
        return summary
    cost = measure_cost(arch, len(_classes(cfg)), cfg.schedule.image_size[0], cfg.data.batch_size, repeats)
    accuracy = summary["final"]["val_top1"] / 100
    summary.update(cost, accuracy=accuracy, reward=reward(accuracy, cost["step_time_ratio"], cost["params_ratio"]),
                   reward_formula=f"A * S^{W} * P^{V} (S, P relative to {REFERENCE})", blocks=list(arch.blocks),
                   stem=arch.stem, head=arch.head, sample_index=index, **arch.features())
    results.write_summary(summary_path, summary)
    return summary


def _arch_record(arch: Arch) -> dict:
    return {"stem": arch.stem, "head": arch.head, "blocks": list(arch.blocks)}


def _classes(cfg) -> list:

    return data.get_dataset(cfg.data.dataset, cfg.data.train_split).classes


def search(profile: str, samples: int, epochs: int, seed: int, output_dir, checkpoint_dir, dataset: str = "",
           experiment: str = "nas", image_size: int = 64, train_limit: int = 2560, eval_limit: int = 1000,
           batch_size: int = 64, backbone: str = REFERENCE, threads: int = 1, repeats: int = 5):
    """Evaluate V2-B0 (run ``v2b0_reference``) and ``samples`` random architectures; returns
    :func:`table`. Resumable: call it again with the same arguments to continue."""
    if threads:
        torch.set_num_threads(threads)
    space = SearchSpace.from_backbone(backbone)
    settings = dict(profile=profile, dataset=dataset, epochs=epochs, seed=seed, output_dir=output_dir,
                    checkpoint_dir=checkpoint_dir, experiment=experiment, image_size=image_size,
                    train_limit=train_limit, eval_limit=eval_limit, batch_size=batch_size)
    status = Path(output_dir) / experiment / "STATUS.yaml"
    about = dict(samples=samples, backbone=backbone, layers=[list(r) for r in space.layers], space_size=space.size(),
                 **{k: v for k, v in settings.items() if k not in ("output_dir", "checkpoint_dir")})
    results.atomic_write_text(status, yaml.safe_dump({"status": "running", **about}, sort_keys=False))
    evaluate(backbone_arch(REFERENCE), REFERENCE_RUN, repeats=repeats, **settings)
    for i in range(samples):
        evaluate(sample(seed, i, space), f"sample{i:03d}", index=i, repeats=repeats, **settings)
    frame = table(output_dir, experiment)
    results.atomic_write_text(status, yaml.safe_dump({"status": "complete", "evaluated": len(frame), **about},
                                                        sort_keys=False))
    return frame


def table(output_dir, experiment: str = "nas"):
    """One row per evaluated run (reward in its summary), best reward first."""
    import pandas as pd

    rows = []
    for path in sorted(Path(output_dir, experiment).glob("*/summary.json")):
        s = json.loads(path.read_text())
        if "reward" in s:
            rows.append({"run_id": s["run_id"], **{k: s[k] for k in RESULT_KEYS}, "blocks": " ".join(s["blocks"]),
                         **{k: s.get(k) for k in FEATURES}})
    frame = pd.DataFrame(rows)
    return frame.sort_values("reward", ascending=False).reset_index(drop=True) if rows else frame


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("nas", help="the §3.3 search at small scale (settings from the study spec)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="cpu", help="study spec whose nas family gives the settings (default cpu)")
    p.add_argument("--samples", type=int, help="override the spec's number of samples")
    p.set_defaults(func=_cli)


def run(profile: str, output_dir: str = "", checkpoint_dir: str = "", **changes):
    """The ``nas`` family of study ``profile``: :func:`search` with the spec's settings (``changes`` on
    top), into the study's folders unless others are given."""

    trainer = config_mod.load(profile=profile).train
    return search(profile=profile, output_dir=output_dir or trainer.results_dir,
                  checkpoint_dir=checkpoint_dir or trainer.checkpoint_dir, experiment=spec.EXPERIMENTS["nas"],
                  **{**spec.knobs(profile, "nas"), **changes})


def _cli(args) -> int:
    frame = run(args.profile, **({"samples": args.samples} if args.samples is not None else {}))
    print(frame.drop(columns=["blocks"]).to_string())
    return 0
