"""Progressive learning with adaptive regularization (Algorithm 1) in one Accelerate loop.

``python -m replication train CONFIG [key=value ...] [--resume]`` (or ``accelerate launch -m
replication train ...`` for several processes). The stage table comes from
``replication.progressive``; at every stage boundary the training transform is rebuilt at the
new image size and RandAugment magnitude, the mixup alpha and the model's dropout are set, and
the weights, optimizer state, EMA and LR schedule carry on. Recipes: §5.1 (timm RMSpropTF,
warm-up then x0.97 every 2.4 epochs, EMA, label smoothing, no weight decay on BN/bias,
stochastic depth, BN momentum) and §5.3 (``optim.sched=cosine``, ``optim.weight_decay=0``,
``data.cutout=true``). Evaluation runs at ``data.eval_size``, larger than the training sizes.

A checkpoint is written at the end of every epoch (weights, optimizer, EMA, RNG states of every
process, history); the sampler order is a function of (seed, epoch). ``--resume`` therefore
continues a killed run and ends with the same metrics as an uninterrupted one (exactly on CPU).
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import os
import shlex
import shutil
import sys
import time

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.data_loader import prepare_data_loader
from accelerate.utils import set_seed
from timm.loss import SoftTargetCrossEntropy
from torch.utils.data import DataLoader
from tqdm import tqdm

from replication import config as config_mod
from replication import data, models, progressive, results
from replication.cli import sigterm_as_interrupt
from replication.config import Config, ConfigError
from replication.measure import saved_activation_bytes
from replication.recipe import (EpochShuffle, apply_stage, base_dataset, build_ema, build_mixup, build_model,
                                build_optimizer, build_scheduler, describe, epoch_steps, eval_transform, limit_dataset,
                                prepare_model, run_length, sync_batchnorm, with_run_length)


def _loader(ds, batch_size, sampler, cfg: Config, accelerator, drop_last):
    loader = DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=cfg.data.num_workers,
                        drop_last=drop_last, pin_memory=accelerator.device.type == "cuda")
    return prepare_data_loader(loader, device=accelerator.device, num_processes=accelerator.num_processes,
                               process_index=accelerator.process_index, put_on_device=True)


def _check_run_dir(cfg: Config, resume: bool, overwrite: bool) -> str:
    """What to do with the run folder: 'new', 'resume', 'done' (reuse the finished run) or
    'overwrite'. Read-only (every process calls it); refuses with the way out named."""
    out, ckpt = results.run_dir(cfg), results.checkpoint_dir(cfg) / "last.pt"
    results.check_writable_dir(cfg.train.results_dir, "train.results_dir")
    results.check_writable_dir(cfg.train.checkpoint_dir, "train.checkpoint_dir")
    results.RunLock(out).check()
    results.RunLock(ckpt.parent).check()  # another live run writing the same checkpoint file
    if overwrite:
        _check_checkpoint_owner(cfg, ckpt, resume=False)
        return "overwrite"
    if not (out / "config.yaml").exists():
        if any((out / name).exists() for name in ("epochs.csv", "summary.json")):
            raise results.RunError(f"{out} holds run files but no config.yaml; move the folder away, or pass --overwrite")
        _check_checkpoint_owner(cfg, ckpt, resume=False)
        return "new"
    finished = (out / "summary.json").exists()
    what = "a finished" if finished else "an unfinished"
    if not resume:
        verb = "reuse it" if finished else "continue it"
        raise ConfigError(f"{out} already holds {what} run; pass --resume to {verb} (same config), --overwrite to train "
                          "it again from scratch, or choose another run_id=... / experiment=...")
    record = results.read_run(out)
    try:
        saved = config_mod.from_dict(record["config"])
    except ConfigError as err:
        raise ConfigError(f"{out / 'config.yaml'} is not a valid saved config ({err}); pass --overwrite to start again") from None
    changed = config_mod.diff(saved, cfg)
    if changed:
        old, new = config_mod.flat(saved), config_mod.flat(cfg)
        keys = "; ".join(f"{k}: saved {old[k]!r}, now {new[k]!r}" for k in changed)
        why = (" (data.num_workers decides where the augmentation's random numbers come from, so a run keeps its "
               "worker count)" if "data.num_workers" in changed else "")
        raise ConfigError(f"{out} holds {what} run whose config differs from this one ({keys}){why}; choose a new "
                          "run_id=... (or experiment=...), or pass --overwrite to replace that run")
    if finished:
        return "done"
    logged = len(record["epochs"])
    if logged and not ckpt.exists():
        raise results.RunError(f"{out / 'epochs.csv'} logs {logged} epoch(s) but the checkpoint {ckpt} is missing, so the "
                               "run cannot continue where it stopped; restore the checkpoint, or pass --overwrite to "
                               "train again from epoch 1")
    _check_checkpoint_owner(cfg, ckpt, resume=True)
    return "resume"


def _check_checkpoint_owner(cfg: Config, ckpt, resume: bool) -> None:
    """Refuse a checkpoint file that belongs to another run: a resume continues only its own run (same
    ``uid`` as the run folder's ``run.json``, same config), and a new run never overwrites another's."""
    if not ckpt.exists():
        return
    out = results.run_dir(cfg)
    identity = results.load_checkpoint(ckpt, mmap=True).get("identity") or {}
    own = results.read_run_info(out).get("uid")
    theirs = identity.get("uid")
    where = identity.get("run_dir") or "a run folder it does not record (written before checkpoints named their run)"
    if not resume:  # ours, or left here by a run of this folder whose record is gone: it may be replaced
        here = identity.get("run_dir") == str(out.resolve())
        if not here and (theirs is None or theirs != own):
            raise results.RunError(
                f"{ckpt} is the checkpoint of another run ({where}); two runs must never share a checkpoint file. Give "
                f"this run its own folder (train.checkpoint_dir=<another folder>, or another run_id=...), or delete {ckpt} "
                "if that run is no longer needed")
        return
    if own is not None and theirs != own:
        raise results.RunError(
            f"cannot resume {out}: its checkpoint {ckpt} was written by another run ({where}), which shares "
            "train.checkpoint_dir with it and replaced its checkpoint. This run cannot continue where it stopped: pass "
            "--overwrite to train it again from epoch 1, and give each run its own train.checkpoint_dir")
    if identity.get("config") is not None:
        changed = config_mod.diff(config_mod.from_dict(identity["config"]), cfg)
        if changed:
            raise results.RunError(f"cannot resume {out}: its checkpoint {ckpt} was trained with another config "
                                   f"({', '.join(changed)} differ); pass --overwrite to train it again from epoch 1")


def _take_run_dir(cfg: Config, status: str) -> list[results.RunLock]:
    """Main process: lock the run folder and the checkpoint folder, clear an overwritten run and leftovers of killed writes."""
    out, ckpt_dir = results.run_dir(cfg), results.checkpoint_dir(cfg)
    locks = [results.RunLock(folder) for folder in dict.fromkeys((out.resolve(), ckpt_dir.resolve()))]
    try:
        for lock in locks:
            lock.acquire()
    except BaseException:
        _release(locks)
        raise
    if status == "overwrite":
        for folder in (out, ckpt_dir):
            for path in (folder.iterdir() if folder.is_dir() else ()):
                if path.name != ".lock":
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
    results.remove_stale_temp_files(out, ckpt_dir)
    return locks


def _release(locks) -> None:
    for lock in locks or ():
        lock.release()


def run(cfg: Config, resume: bool = False, hook=None, overwrite: bool = False, model: torch.nn.Module | None = None) -> dict:
    """Train one run described by ``cfg``; returns the summary (``status`` 'complete' or 'stopped').

    ``model``: train this module (any ``nn.Module`` with a classifier for the dataset's classes) instead of
    building ``model.name``; ``model.name`` then only labels the run (``recipe.prepare_model`` still applies the
    config's BatchNorm momentum, zero-init and memory format). A resume must be given the same architecture.

    ``resume`` continues an unfinished run from its checkpoint, or returns the summary of a
    finished one, provided the saved config equals ``cfg`` (else ``ConfigError`` naming the
    keys); ``overwrite`` deletes what the run folder holds and trains from scratch. The main
    process holds ``<run folder>/.lock`` while it trains (``results.RunLock``).

    ``hook(event, info)``, if given, is called with event "epoch_start" (after the stage's
    transform, mixup and dropout are set) and "epoch_end"; ``info`` holds epoch, stage, model,
    optimizer, ema, mixup, train_dataset and loader. Tests use it to watch stage boundaries.
    """
    results.process_commit()  # the code this process loaded, before the tree can change under a long queue
    cfg = progressive.resolve(cfg)  # Table 6 values the config leaves open; validated
    status = _check_run_dir(cfg, resume, overwrite)  # read-only: every process looks before the main one writes
    if status == "done":  # read back: nothing trains, so nothing it would need is checked
        return json.loads((results.run_dir(cfg) / "summary.json").read_text())
    check_resources(cfg, given_model=model is not None)
    check_memory(cfg, model)
    # cpu=True when no accelerator is present, so that several CPU processes (torchrun or
    # `accelerate launch --multi_gpu`) form a gloo process group instead of running alone
    on_cpu = not (torch.cuda.is_available() or torch.backends.mps.is_available())
    if on_cpu:
        check_cpu_precision(cfg)
    accelerator = Accelerator(mixed_precision=cfg.train.mixed_precision, cpu=on_cpu,
                              gradient_accumulation_steps=cfg.train.grad_accum_steps)
    if accelerator.num_processes > 1:
        _stop_with_launcher()
    accelerator.wait_for_everyone()  # every process has looked before the main one writes
    locks = _take_run_dir(cfg, status) if accelerator.is_main_process else None
    try:
        accelerator.wait_for_everyone()
        return _train(cfg, accelerator, status == "resume", hook, model)
    finally:
        _release(locks)


def check_resources(cfg: Config, given_model: bool = False) -> None:
    """Before any training: the model is registered, a ``timm:`` name, given as blocks or as a module, the
    optimizer exists in timm, the checkpoint to start from and both data splits are there."""
    if not (cfg.model.blocks or given_model or models.is_known(cfg.model.name)):
        close = difflib.get_close_matches(cfg.model.name, models.list_models(), n=3)
        raise ConfigError(f"model.name={cfg.model.name!r} is not a registered model; "
                          f"{'did you mean ' + ', '.join(close) + '?' if close else 'see python -m replication models'}"
                          f" (any timm model: model.name=timm:<name>; your own: replication.models.register)")
    from timm.optim import list_optimizers

    base = cfg.optim.name.removeprefix("lookahead_")  # timm wraps any optimizer in Lookahead (e.g. fastai's Ranger)
    if base not in list_optimizers():
        close = difflib.get_close_matches(base, list_optimizers(), n=3)
        raise ConfigError(f"optim.name={cfg.optim.name!r} is not a timm optimizer (optionally lookahead_<name>); try "
                          f"{', '.join(close) or 'rmsproptf or adamw'}")
    if cfg.model.init_checkpoint and not os.path.isfile(cfg.model.init_checkpoint):
        raise ConfigError(f"model.init_checkpoint={cfg.model.init_checkpoint!r} does not exist; give the path of a .pt file")
    for split in (cfg.data.train_split, cfg.data.eval_split):
        try:
            data.get_dataset(cfg.data.dataset, split)
        except data.DataError as err:  # its message names the fix (e.g. `data prepare`)
            raise ConfigError(f"data.dataset={cfg.data.dataset!r} (split {split!r}) is not available: {err}") from None


PROBE_SIZE = 64  # px: the memory estimate runs the model on the 'meta' device at this size and scales by pixels


def available_memory() -> tuple[int, str]:
    """Bytes this process may still allocate, and where the figure comes from (GPU free memory, the
    cgroup limit or the kernel's MemAvailable)."""
    if torch.cuda.is_available():
        return torch.cuda.mem_get_info()[0], "free GPU memory"
    try:
        limit = int(open("/sys/fs/cgroup/memory.max").read())  # "max" (no limit) raises ValueError
        usage = int(open("/sys/fs/cgroup/memory.current").read())
        return limit - usage, "the cgroup's memory limit"
    except (OSError, ValueError):
        pass
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "MemAvailable"
    except OSError:
        pass
    return 1 << 62, "unknown"


def memory_estimates(cfg: Config, given: torch.nn.Module | None = None) -> dict[str, int]:
    """Lower bounds, in bytes, of what the run's largest training batch and its evaluation batch hold:
    the activations autograd keeps for backward (measured on the 'meta' device at ``PROBE_SIZE`` px,
    scaled by pixels) plus the float32 input batch; evaluation holds at least its input batch. ``given``:
    the module the run trains instead of ``model.name`` (probed as a copy)."""

    d = cfg.data
    size = max(cfg.schedule.image_size)
    if given is not None:
        model = copy.deepcopy(given).to("meta")
    else:
        with torch.device("meta"):
            model = build_model(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, init_checkpoint="")), 10)
    per_image = saved_activation_bytes(model, PROBE_SIZE, 1) * (size / PROBE_SIZE) ** 2 + 3 * 4 * size ** 2
    return {"data.batch_size": int(d.batch_size * per_image), "data.eval_batch_size": int(d.eval_batch_size * 3 * 4 * d.eval_size ** 2)}


def check_memory(cfg: Config, model: torch.nn.Module | None = None) -> None:
    """Refuse, before allocating anything, batches whose lower-bound memory estimate exceeds what is available
    (an out-of-memory kill is silent, and on a shared machine may hit someone else's process)."""
    free, source = available_memory()
    d = cfg.data
    for key, need in memory_estimates(cfg, model).items():
        if need > free:
            size = f"{max(cfg.schedule.image_size)} px training" if key == "data.batch_size" else f"data.eval_size={d.eval_size}"
            raise ConfigError(f"{key}={getattr(d, key.split('.')[1])} at {size} needs at least {need / 2**30:.1f} GiB, more "
                              f"than the {free / 2**30:.1f} GiB available ({source}); lower {key} or the image size")


class SlowPrecision(ConfigError):
    """bfloat16 autocast asked of a CPU that would only emulate it; ``study run`` skips such runs."""


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere oneDNN emulates it."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def check_cpu_precision(cfg: Config) -> None:
    """Refuse bfloat16 autocast (``train.bf16_from_size``) on a CPU without bf16 instructions: there it is
    emulated, several times slower than float32, where a CPU with AMX runs faster than float32 from some size
    on (``make bench``, precision section: the report shows the measured ratios).
    ``REPLICATION_ALLOW_SLOW_BF16=1`` trains anyway."""
    if trains_in_bf16(cfg) and not cpu_has_bf16() and os.environ.get("REPLICATION_ALLOW_SLOW_BF16") != "1":
        cpu = results.environment()["hardware"]["processor"]
        raise SlowPrecision(f"train.bf16_from_size={cfg.train.bf16_from_size} asks for bfloat16 autocast from that "
                            f"size (this run trains up to {max(cfg.schedule.image_size)} px), but this CPU ({cpu}) "
                            "has no bf16 instructions (AVX512-BF16 / AMX) and would emulate it several times slower "
                            "than float32 (the report's precision section has the measured ratios); run it on a CPU "
                            "that has them, set train.bf16_from_size=0 for float32 (another config: a new run), or set "
                            "REPLICATION_ALLOW_SLOW_BF16=1 to train anyway")


def _train(cfg: Config, accelerator, resume: bool, hook, given_model=None) -> dict:
    out, ckpt_path = results.run_dir(cfg), results.checkpoint_dir(cfg) / "last.pt"
    rank, main = accelerator.process_index, accelerator.is_main_process
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    d, t = cfg.data, cfg.train
    train_ds = limit_dataset(data.get_dataset(d.dataset, d.train_split), d.train_limit, cfg.seed)
    eval_ds = limit_dataset(data.get_dataset(d.dataset, d.eval_split), d.eval_limit, cfg.seed)
    base_dataset(eval_ds).transform = eval_transform(cfg, d.eval_size)
    for ds in (train_ds, eval_ds):
        base_dataset(ds).cache_decoded = d.cache_decoded
    base_dataset(train_ds).cache_short_side = d.cache_short_side
    # per-epoch evaluation: the whole set, or a subset fixed for every run (seed 0, not the run's seed)
    epoch_eval_ds = limit_dataset(eval_ds, t.eval_subset, 0) if t.eval_subset else eval_ds
    num_classes = cfg.model.num_classes or len(base_dataset(train_ds).classes)

    global_batch = d.batch_size * accelerator.num_processes * t.grad_accum_steps
    steps = len(train_ds) // global_batch
    steps = min(steps, t.steps_per_epoch) if t.steps_per_epoch else steps
    if steps < 1:
        raise ConfigError(f"data.batch_size={d.batch_size} x {accelerator.num_processes} processes x "
                          f"{t.grad_accum_steps} train.grad_accum_steps exceeds the {len(train_ds)} training images; "
                          "lower the batch size")
    given, cfg = cfg, with_run_length(cfg, steps)  # train.total_steps: the epochs that hold them
    plan, t = progressive.plan(cfg), cfg.train
    total_steps = run_length(cfg, steps)[1]
    accelerator.print(describe(cfg, accelerator.num_processes, total_steps))

    set_seed(cfg.seed)  # same initial weights on every process
    model = build_model(cfg, num_classes) if given_model is None else prepare_model(cfg, given_model)
    model = model.to(accelerator.device)
    ema = build_ema(cfg, model, global_batch, total_steps)
    model = sync_batchnorm(cfg, model, accelerator.num_processes, accelerator.device.type)
    optimizer = build_optimizer(cfg, model, global_batch)
    model, optimizer = accelerator.prepare(model, optimizer)
    scheduler = build_scheduler(cfg, optimizer, steps)
    mixup = build_mixup(cfg, num_classes)
    hard_loss, soft_loss = torch.nn.CrossEntropyLoss(label_smoothing=t.label_smoothing), SoftTargetCrossEntropy()

    state = {"epoch": 0, "global_step": 0, "history": [], "resumed": 0}
    info = results.read_run_info(out) if resume else {}
    _check_same_batch(info, accelerator.num_processes, global_batch, out)
    if resume and ckpt_path.exists():
        state = _restore(ckpt_path, accelerator, model, optimizer, ema)
        accelerator.print(f"resumed {out} after epoch {state['epoch']}")
    else:
        set_seed(cfg.seed + rank)  # augmentation, mixup, dropout differ between processes
        if main:
            info = info or results.run_info(out, accelerator.num_processes, global_batch, data.describe_source(d.dataset))
            results.write_run_info(out, info)
            results.save_config(given, out / "config.yaml")
    state["identity"] = {"uid": info.get("uid"), "run_dir": info.get("run_dir"), "num_processes": accelerator.num_processes,
                         "global_batch": global_batch, "config": config_mod.to_dict(given)}
    scheduler.step_update(state["global_step"])
    accelerator.wait_for_everyone()

    for epoch in range(state["epoch"], t.epochs):
        stage = plan.stage(epoch)
        transform = apply_stage(stage, model=accelerator.unwrap_model(model), dataset=train_ds, mixup=mixup, cfg=cfg)
        loader = _loader(train_ds, d.batch_size, EpochShuffle(len(train_ds), cfg.seed, epoch), cfg, accelerator, True)
        info = dict(epoch=epoch, stage=stage, model=accelerator.unwrap_model(model), optimizer=optimizer, ema=ema,
                    mixup=mixup, train_dataset=base_dataset(train_ds), loader=loader)
        if hook:
            hook("epoch_start", info)
        wall, cpu = time.perf_counter(), time.process_time()
        row = {"epoch": epoch + 1, "stage": stage.index + 1, "image_size": stage.image_size,
               "randaug_magnitude": stage.randaug_magnitude, "mixup_alpha": stage.mixup_alpha, "dropout": stage.dropout}
        n_steps = epoch_steps(cfg, epoch, steps)
        loss, seconds, state["global_step"] = train_epoch(
            cfg, accelerator, model, optimizer, scheduler, ema, loader, plan.steps(epoch, n_steps), state["global_step"],
            mixup, hard_loss, soft_loss, desc=f"ep {epoch + 1}/{t.epochs} st {stage.index + 1}", finish=transform.finish)
        _sync_ema(accelerator, ema)
        images = n_steps * global_batch
        row.update(lr=float(f"{optimizer.param_groups[0]['lr']:.8g}"), train_loss=loss, epoch_seconds=round(seconds, 3),
                   images_per_second=round(images / seconds, 2), train_images=images)
        if (epoch + 1) % t.eval_every == 0 or epoch + 1 == t.epochs:
            start = time.perf_counter()
            for prefix, metrics in _evaluate_set(cfg, accelerator, model, ema, epoch_eval_ds).items():
                row.update(_prefixed(prefix, metrics))
            row.update(eval_seconds=round(time.perf_counter() - start, 3), eval_images=len(epoch_eval_ds))
        row.update(wall_seconds=round(time.perf_counter() - wall, 3), cpu_seconds=round(time.process_time() - cpu, 3),
                   load_avg=round(os.getloadavg()[0], 2))
        if hook:
            hook("epoch_end", info)
        state["history"].append(row)
        state["epoch"] = epoch + 1
        _checkpoint(ckpt_path, accelerator, model, optimizer, ema, state)
        if main:
            results.write_epochs(out / "epochs.csv", state["history"])
            accelerator.print(_line(row, t.epochs))
        if t.stop_after_epochs and epoch + 1 == t.stop_after_epochs and epoch + 1 < t.epochs:
            accelerator.print(f"stopping after epoch {epoch + 1} (train.stop_after_epochs)")
            return {"status": "stopped", "epochs": epoch + 1, "of_epochs": t.epochs, "run_dir": str(out),
                    "num_processes": accelerator.num_processes,
                    "last": {k: v for k, v in row.items() if k in _FINAL}}

    summary = _summary(cfg, state, accelerator.num_processes)
    if t.eval_subset:  # the whole evaluation set, once, at the evaluation size and at the last training size
        last_size = plan.stage(t.epochs - 1).image_size
        for key, size in (("final", d.eval_size), ("final_at_train_size", last_size)):
            base_dataset(eval_ds).transform = eval_transform(cfg, size)
            full = _evaluate_set(cfg, accelerator, model, ema, eval_ds)
            summary[key] = {"train_loss": state["history"][-1]["train_loss"], "image_size": size, "eval_images": len(eval_ds),
                            **{k: v for prefix, m in full.items() for k, v in _prefixed(prefix, m).items()}}
        base_dataset(eval_ds).transform = eval_transform(cfg, d.eval_size)
        summary["final_subset"] = {k: state["history"][-1].get(k) for k in _FINAL}
    if main:
        results.write_epochs(out / "epochs.csv", state["history"])  # in case a kill came between checkpoint and CSV
        results.write_summary(out / "summary.json", summary)
        if not t.keep_checkpoint:
            ckpt_path.unlink(missing_ok=True)
    accelerator.wait_for_everyone()
    return summary


def train_epoch(cfg, accelerator, model, optimizer, scheduler, ema, loader, plan, global_step, mixup,
                hard_loss, soft_loss, desc="", finish=None):
    """One epoch, one optimizer step per entry of ``plan`` (``progressive.Step``: the batch's image
    size, mixup alpha and dropout), each of ``train.grad_accum_steps`` micro-batches (Accelerate's
    gradient accumulation); returns (mean loss, seconds, global step). ``finish``: the transform's
    per-batch last step (``BatchNormalize``: uint8 pixels to the normalized float batch)."""
    model.train()
    steps, total, seen = len(plan), torch.zeros((), device=accelerator.device), 0
    accum = cfg.train.grad_accum_steps
    current = None  # the first batch sets mixup and dropout (a per-batch plan may start away from the stage)
    bar = tqdm(total=steps, desc=desc, leave=False, dynamic_ncols=True,
               disable=not (cfg.train.progress and accelerator.is_main_process))
    start = time.perf_counter()
    for micro, (x, y) in enumerate(loader):
        step = micro // accum
        if step >= steps:
            break
        want = plan[step]
        if finish is not None:
            x = finish(x)
        if want.image_size != x.shape[-1]:  # per-batch random resize: the loader runs at the largest size
            x = F.interpolate(x, size=(want.image_size, want.image_size), mode="bilinear", antialias=True,
                              align_corners=False)
        if want != current:
            apply_stage(want, model=accelerator.unwrap_model(model), mixup=mixup, cfg=cfg)
            current = want
        if cfg.train.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if mixup.mixup_enabled:
            x, target = mixup(x, y)
        with accelerator.accumulate(model):  # with 1 accumulation step: every micro-batch is a step
            with _autocast(cfg, accelerator, x.shape[-1]):
                logits = model(x)
                loss = soft_loss(logits, target) if mixup.mixup_enabled else hard_loss(logits, y)
            accelerator.backward(loss)
            if cfg.optim.clip_grad and accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), cfg.optim.clip_grad)
            optimizer.step()  # Accelerate skips it until the last micro-batch of the step
            optimizer.zero_grad(set_to_none=True)
        total += loss.detach().float() / accum
        seen += len(x)
        if not accelerator.sync_gradients:
            continue
        global_step += 1
        scheduler.step_update(global_step)
        if ema is not None:
            ema.update(accelerator.unwrap_model(model), step=global_step)
        bar.update()
        if not bar.disable and (step % 10 == 0 or step + 1 == steps):  # .item() syncs a GPU: not every step
            bar.set_postfix(size=x.shape[-1], loss=f"{total.item() / (step + 1):.3f}",
                            img_s=f"{seen * accelerator.num_processes / (time.perf_counter() - start):.0f}")
    seconds = time.perf_counter() - start
    bar.close()
    mean = accelerator.reduce(total / steps, reduction="mean").item()
    return round(mean, 6), seconds, global_step


def bf16_at(cfg: Config, image_size: int) -> bool:
    """Whether ``train.bf16_from_size`` puts batches of ``image_size`` under bfloat16 autocast (only when
    the run has no other mixed precision; on this CPU bf16 is faster at large sizes: `make bench`)."""
    t = cfg.train
    return t.mixed_precision == "no" and bool(t.bf16_from_size) and image_size >= t.bf16_from_size


def trains_in_bf16(cfg: Config) -> bool:
    """Whether any training batch of the run falls under bfloat16 autocast (its largest size does)."""
    return bf16_at(cfg, max(cfg.schedule.image_size))


def _autocast(cfg: Config, accelerator, image_size: int):
    """The run's mixed precision, or bfloat16 autocast where :func:`bf16_at` says so."""
    if bf16_at(cfg, image_size):
        return torch.autocast(accelerator.device.type, dtype=torch.bfloat16)
    return accelerator.autocast()


def _evaluate_set(cfg: Config, accelerator, model, ema, dataset) -> dict[str, dict]:
    """Model (and EMA) metrics on ``dataset`` with its current transform."""
    loader = _loader(dataset, cfg.data.eval_batch_size, None, cfg, accelerator, False)
    nets = {"val": model, **({"ema": ema.module} if ema is not None else {})}
    return evaluate(accelerator, nets, loader, cfg.train.channels_last)


@torch.no_grad()
def evaluate(accelerator, nets: dict, loader, channels_last: bool = True) -> dict[str, dict]:
    """Top-1, top-5 (%) and loss of each model in ``nets`` over the whole evaluation set (gathered
    from every process), in one pass: each batch is decoded once for all models."""
    modes = {name: net.training for name, net in nets.items()}
    sums = {name: [] for name in nets}
    for net in nets.values():
        net.eval()
    for x, y in loader:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for name, net in nets.items():
            with accelerator.autocast():
                logits = net(x).float()
            hits = logits.topk(min(5, logits.shape[1]), dim=1).indices == y[:, None]
            batch = torch.stack([hits[:, 0].float(), hits.any(1).float(), F.cross_entropy(logits, y, reduction="none")], 1)
            sums[name].append(accelerator.gather_for_metrics(batch))
    out = {}
    for name, net in nets.items():
        net.train(modes[name])
        top1, top5, loss = torch.cat(sums[name]).mean(0).tolist()
        out[name] = {"top1": round(100 * top1, 4), "top5": round(100 * top5, 4), "loss": round(loss, 6)}
    return out


def _prefixed(prefix: str, metrics: dict) -> dict:
    return {f"{prefix}_{k}": v for k, v in metrics.items() if f"{prefix}_{k}" in results.EPOCH_COLUMNS}


def _checkpoint(path, accelerator, model, optimizer, ema, state) -> None:
    """Every process's RNG state, then (main process) weights, optimizer, EMA and history."""
    rank = accelerator.process_index
    if rank > 0:
        results.save_checkpoint(path.with_name(f"rng_{rank}.pt"), {"epoch": state["epoch"], "rng": results.rng_state()})
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        scaler = accelerator.scaler.state_dict() if accelerator.scaler is not None else None
        results.save_checkpoint(path, {**state, "model": accelerator.unwrap_model(model).state_dict(),
                                       "optimizer": optimizer.state_dict(), "ema": ema.module.state_dict() if ema else None,
                                       "scaler": scaler, "rng": results.rng_state()})
    accelerator.wait_for_everyone()


def _check_same_batch(info: dict, num_processes: int, global_batch: int, out) -> None:
    """A resumed run keeps the process count and global batch it started with (``run.json``)."""
    was = (info.get("num_processes"), info.get("global_batch"))
    if None in was or was == (num_processes, global_batch):
        return
    launch = f"accelerate launch --num_processes {was[0]} -m replication train ..." if was[0] > 1 else \
        "python -m replication train ... (one process, not accelerate launch with several)"
    raise results.RunError(f"cannot resume {out} with {num_processes} process(es) (global batch {global_batch}): it "
                           f"trained with {was[0]} process(es), global batch {was[1]}; resume it the way it started: {launch}")


def _restore(path, accelerator, model, optimizer, ema) -> dict:
    ckpt = results.load_checkpoint(path)
    accelerator.unwrap_model(model).load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if ema is not None:
        ema.module.load_state_dict(ckpt["ema"])
    if ckpt.get("scaler") is not None and accelerator.scaler is not None:
        accelerator.scaler.load_state_dict(ckpt["scaler"])
    rng = ckpt["rng"]
    if accelerator.process_index > 0:
        own = results.load_checkpoint(path.with_name(f"rng_{accelerator.process_index}.pt"))
        if own["epoch"] != ckpt["epoch"]:
            raise RuntimeError(f"{path.parent}: RNG file of process {accelerator.process_index} is from epoch "
                               f"{own['epoch']}, the checkpoint from {ckpt['epoch']}; delete the folder and restart")
        rng = own["rng"]
    results.set_rng_state(rng)
    return {"epoch": ckpt["epoch"], "global_step": ckpt["global_step"], "history": ckpt["history"],
            "resumed": ckpt["resumed"] + 1}


_FINAL = ("train_loss", "val_loss", "val_top1", "val_top5", "ema_loss", "ema_top1", "ema_top5")


def _sync_ema(accelerator, ema) -> None:
    """Several processes: every process takes the main process's EMA (the one checkpointed).

    Each process updates its EMA from its own replica, whose BatchNorm statistics come from its own
    batches, so the EMAs drift apart within an epoch; evaluation gathers every process's EMA. Without
    this, a resumed run (all processes load the main one's EMA) would evaluate differently."""
    if ema is not None and accelerator.num_processes > 1:
        for tensor in ema.module.state_dict().values():
            torch.distributed.broadcast(tensor, src=0)


def _stop_with_launcher() -> None:
    """Linux: end this worker when the process that launched it dies (``kill -9`` of ``accelerate
    launch`` or ``torchrun`` would otherwise leave the workers training on their own)."""
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the launcher died before the call above
        os.kill(os.getpid(), signal.SIGTERM)


def _summary(cfg: Config, state: dict, num_processes: int) -> dict:
    hist = state["history"]
    last = hist[-1]
    final = {k: last.get(k) for k in _FINAL}
    train_seconds = sum(r["epoch_seconds"] for r in hist)
    return {
        "experiment": cfg.experiment, "run_id": cfg.resolved_run_id, "status": "complete", "model": cfg.model.name,
        "dataset": cfg.data.dataset, "schedule_mode": cfg.schedule.mode, "seed": cfg.seed, "epochs": len(hist),
        "final": final, "best_val_top1": max((r["val_top1"] for r in hist if "val_top1" in r), default=None),
        "total_train_seconds": round(train_seconds, 3),
        "total_eval_seconds": round(sum(r.get("eval_seconds", 0) for r in hist), 3),
        "mean_images_per_second": round(sum(r["train_images"] for r in hist) / train_seconds, 2),
        "num_processes": num_processes, "resumed": state["resumed"], **results.environment(),
    }


def _line(row: dict, epochs: int) -> str:
    text = (f"epoch {row['epoch']}/{epochs} stage {row['stage']} size {row['image_size']} "
            f"loss {row['train_loss']:.4f} {row['images_per_second']:.0f} img/s {row['epoch_seconds']:.1f} s")
    if "val_top1" in row:
        text += f" val {row['val_top1']:.2f}" + (f" ema {row['ema_top1']:.2f}" if "ema_top1" in row else "")
    return text


# --------------------------------------------------------------------------- CLI
def add_commands(subparsers) -> None:
    p = subparsers.add_parser("train", help="run one training from a YAML config plus overrides",
                              description=__doc__.splitlines()[0])
    p.add_argument("config", help="experiment YAML, e.g. replication/configs/progressive.yaml")
    p.add_argument("overrides", nargs="*", help="dotted key=value, e.g. profile=cpu seed=1 schedule.stages=2")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue the run from its last checkpoint (or reuse it if finished); the config must be the same")
    mode.add_argument("--overwrite", action="store_true", help="delete what the run folder holds and train from scratch")
    p.set_defaults(func=_cli)


def _continue_command(args, processes: int) -> str:
    """The command that resumes this run the way it was launched (``accelerate launch`` with several processes)."""
    kept = [o for o in args.overrides if not o.startswith("train.stop_after_epochs=")]
    launcher = ["python", "-m", "replication", "train"] if processes <= 1 else \
        ["accelerate", "launch", "--num_processes", str(processes), "-m", "replication", "train"]
    return shlex.join([*launcher, args.config, *kept, "--resume"])


def _cli(args) -> int:
    try:
        with sigterm_as_interrupt():
            cfg = config_mod.load(args.config, args.overrides)
            summary = run(cfg, resume=args.resume, overwrite=args.overwrite)
    except KeyboardInterrupt:  # ctrl-C, or SIGTERM (kill PID)
        processes = int(os.environ.get("WORLD_SIZE", "1"))
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"\ninterrupted; the last finished epoch is checkpointed. Continue with:\n  "
                  f"{_continue_command(args, processes)}", file=sys.stderr)
        return 130
    except (ConfigError, results.RunError, data.DataError) as err:
        label = "config error" if isinstance(err, ConfigError) else "error"
        text = str(err).strip()
        if "Original Traceback" in text:  # raised in a DataLoader worker: torch put the worker's traceback in front
            text = text.splitlines()[-1].split(": ", 1)[-1]
        print(f"{label}: {text}", file=sys.stderr)
        return 2
    except OSError as err:  # a folder that cannot be created or written, a full disk, ...
        where = f" ({err.filename})" if err.filename else ""
        print(f"error: {err.strerror or err}{where}; check the path and its permissions (train.results_dir, "
              "train.checkpoint_dir) and the free space", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:  # one line, not one per process
        if summary["status"] == "stopped":
            again = _continue_command(args, summary["num_processes"])
            print(f"stopped after epoch {summary['epochs']} of {summary['of_epochs']} (metrics so far in "
                  f"{summary['run_dir']}/epochs.csv); continue with:\n  {again}")
        else:
            keys = ("status", "epochs", "final", "total_train_seconds")
            print(json.dumps({k: summary.get(k) for k in keys}, default=str))
    return 0
