"""Measurement harness: parameters, multiply-adds, training/inference speed, peak memory.

Conventions (state these wherever a number is reported):

- **params**: elements of all ``nn.Parameter`` tensors (trainable or not). BatchNorm running
  mean/variance are buffers and are *not* counted (Keras ``count_params`` counts them).
- **MACs** = multiply-accumulates of one image's forward pass (what the EfficientNet papers call
  "FLOPs"). :func:`count_macs` uses ``torch.utils.flop_counter.FlopCounterMode``, which reports
  **2 FLOPs per multiply-add**; we divide by 2. It covers convolutions, linear/matmul, bmm and
  attention. Elementwise work (BN, activations, SE gating, pooling, residual adds) is not counted,
  as in timm's tables (our V2 counts are 0.1-0.5% below the official README figures).
  :func:`hook_macs` is an independent cross-check that counts ``Conv2d``/``Linear`` from module
  shapes only (equal for pure ConvNets; it misses attention matmuls, so it is lower for ViTs).
- **speed**: ``warmup`` untimed steps, then ``repeats`` individually timed steps; we report the
  median step time and ``batch_size / median`` images per second (CUDA is synchronised per step).
  :func:`time_group` (and :func:`compare_train_throughput`) times several models round-robin, so that
  the load of a shared machine (other users, thermal state) affects them alike; compare models by its ratios.
  Training steps are forward + cross-entropy + backward + RMSProp step (the paper's optimizer).
- **memory**: see :func:`peak_memory` -- an estimate extrapolated from small probe batches, so a
  budget such as a 16 GiB V100 can be judged without ever allocating that much here.
"""
from __future__ import annotations

import statistics
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

GIB = 1024 ** 3


def count_params(model: nn.Module) -> int:
    """Number of parameter elements (works on 'meta' models)."""
    return sum(p.numel() for p in model.parameters())


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _image(model, batch_size, image_size, in_chans=3, channels_last=False, dtype=torch.float32):
    x = torch.randn(batch_size, in_chans, image_size, image_size, device=_device(model), dtype=dtype)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def count_macs(model: nn.Module, image_size: int, in_chans: int = 3) -> int:
    """Multiply-adds of one forward pass at ``image_size`` (batch 1), via FlopCounterMode / 2.

    Runs in eval mode under ``no_grad``; build big models on ``torch.device('meta')`` to count
    without allocating or computing anything.
    """
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(_image(model, 1, image_size, in_chans))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def hook_macs(model: nn.Module, image_size: int, in_chans: int = 3) -> int:
    """Cross-check of :func:`count_macs`: MACs of Conv2d and Linear layers from their shapes.

    conv: output elements x (in_channels / groups) x kernel area; linear: output elements x in_features.
    """
    total = 0

    def hook(module, _inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output.numel() * module.in_channels // module.groups * kh * kw
        else:
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(_image(model, 1, image_size, in_chans))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, amp_dtype):
    return torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()


def _timed(steps: dict, device, warmup: int, repeats: int) -> dict[str, list[float]]:
    """Time each closure in ``steps`` round-robin: every round runs one step of each, so a
    fluctuating load on a shared machine hits all of them alike."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    for step in steps.values():
        for _ in range(warmup):
            step()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def _report(kind, times, batch_size, image_size, device, channels_last, amp_dtype) -> dict:
    median = statistics.median(times)
    return dict(kind=kind, batch_size=batch_size, image_size=image_size, device=str(device),
                amp_dtype=str(amp_dtype).replace("torch.", "") if amp_dtype else "float32",
                channels_last=channels_last, threads=torch.get_num_threads(), repeats=len(times),
                step_seconds=times, step_seconds_median=median, images_per_second=batch_size / median)


def _train_step(model, batch_size, image_size, channels_last, amp_dtype, num_classes=None):
    """A closure doing one full training step on random data (RMSProp, as the paper)."""
    device = _device(model)
    x = _image(model, batch_size, image_size, channels_last=channels_last)
    num_classes = num_classes or getattr(model, "num_classes", None)
    if not num_classes:
        raise ValueError("model has no num_classes attribute: pass num_classes explicitly")
    y = torch.randint(0, num_classes, (batch_size,), device=device)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-6, alpha=0.9, momentum=0.9, eps=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        with _autocast(device, amp_dtype):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


def _infer_step(model, batch_size, image_size, channels_last, amp_dtype):
    """A closure doing one forward pass of a batch of random images without autograd."""
    device = _device(model)
    x = _image(model, batch_size, image_size, channels_last=channels_last)

    def step():
        with torch.inference_mode(), _autocast(device, amp_dtype):
            model(x)

    return step


STEPS = {"train": _train_step, "inference": _infer_step}


def time_group(members: dict[str, tuple], warmup: int = 2, repeats: int = 5, channels_last: bool = True,
               amp_dtype=None) -> dict[str, dict]:
    """Several steps timed round-robin (see :func:`_timed`): ``members`` maps a name to ``(kind, model,
    image_size, batch_size)`` with kind "train" or "inference"; each member needs its own model (its
    mode, memory format and optimizer are set here). Returns one :func:`_report` per member; inference
    reports add ``latency_ms_median``. Compare the members by their ratios."""
    if not members:
        raise ValueError("time_group needs at least one member")
    steps = {}
    for name, (kind, model, image_size, batch_size) in members.items():
        if kind not in STEPS:
            raise ValueError(f"member {name!r}: kind {kind!r} is not one of {', '.join(STEPS)}")
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        steps[name] = STEPS[kind](model.train(kind == "train"), batch_size, image_size, channels_last, amp_dtype)
    device = _device(next(iter(members.values()))[1])
    times = _timed(steps, device, warmup, repeats)
    out = {}
    for name, (kind, _model, image_size, batch_size) in members.items():
        out[name] = _report(kind, times[name], batch_size, image_size, device, channels_last, amp_dtype)
        if kind == "inference":
            out[name]["latency_ms_median"] = 1000 * out[name]["step_seconds_median"]
    return out


def train_throughput(model: nn.Module, image_size: int, batch_size: int = 32, warmup: int = 2,
                     repeats: int = 5, channels_last: bool = True, amp_dtype=None) -> dict:
    """Median training step time and images/s (model modified in place: keep a copy if needed)."""
    return compare_train_throughput({"model": model}, image_size, batch_size, warmup, repeats,
                                    channels_last, amp_dtype)["model"]


def compare_train_throughput(models: dict[str, nn.Module], image_size: int, batch_size: int = 32,
                             warmup: int = 2, repeats: int = 5, channels_last: bool = True,
                             amp_dtype=None) -> dict[str, dict]:
    """:func:`train_throughput` for several models timed round-robin (see :func:`_timed`):
    use it for ratios between models on a shared machine."""
    return time_group({name: ("train", model, image_size, batch_size) for name, model in models.items()},
                      warmup, repeats, channels_last, amp_dtype)


def inference_latency(model: nn.Module, image_size: int, batch_size: int = 16, warmup: int = 2,
                      repeats: int = 5, channels_last: bool = True, amp_dtype=None) -> dict:
    """Median forward time of one batch (paper: latency at batch 16, throughput at batch 128)."""
    return time_group({"model": ("inference", model, image_size, batch_size)}, warmup, repeats, channels_last,
                      amp_dtype)["model"]


def inference_throughput(model: nn.Module, image_size: int, batch_size: int = 128, **kwargs) -> dict:
    """Images/s of forward passes at batch 128 (Table 11's setting)."""
    return inference_latency(model, image_size, batch_size=batch_size, **kwargs)


def _storage_key(t: torch.Tensor):
    storage = t.untyped_storage()
    return storage._cdata, storage.nbytes()


def saved_activation_bytes(model: nn.Module, image_size: int, batch_size: int, amp_dtype=None) -> int:
    """Bytes of the distinct tensors autograd keeps for backward after one training forward.

    Parameters (which autograd also saves) are excluded. Works on CPU and on 'meta' models; on
    'meta' an ``amp_dtype`` is approximated by running the whole model in that dtype.
    """
    seen: dict = {}

    def pack(t):
        cdata, nbytes = _storage_key(t)
        if cdata not in params:
            seen[cdata] = (nbytes, t)  # keep t alive so the key cannot be reused
        return t

    device = _device(model)
    pure_half = device.type == "meta" and amp_dtype is not None  # autocast has no 'meta' backend
    model.train()
    if pure_half:
        model.to(amp_dtype)
    # Keys of the parameters as they are now: after a dtype change the old storages are freed and
    # their addresses may be reused by activations, which must not be mistaken for parameters.
    params = {_storage_key(p)[0] for p in model.parameters()}
    try:
        x = _image(model, batch_size, image_size, dtype=amp_dtype if pure_half else torch.float32)
        hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)
        with hooks, _autocast(device, None if pure_half else amp_dtype):
            out = model(x)
    finally:
        if pure_half:
            model.to(torch.float32)
    cdata, nbytes = _storage_key(out)
    seen[cdata] = (nbytes, out)  # the output (loss input) is held too; counted once if also saved
    total = sum(nbytes for nbytes, _ in seen.values())
    del out, seen
    return total


def peak_memory(model: nn.Module, image_size: int, batch_size: int, budget_gib: float = 16.0,
                probe_batches: tuple[int, int] = (2, 4), amp_dtype=None, optimizer_slots: int = 2) -> dict:
    """Estimate training peak memory at ``batch_size`` and judge it against ``budget_gib``.

    Memory is fitted as ``fixed + per_sample * batch`` from two small probe batches, then
    extrapolated -- nothing near the budget is ever allocated.
    - CUDA: real ``max_memory_allocated`` of full training steps at the probe batches
      (``fixed`` then already holds weights, gradients and optimizer state).
    - CPU / meta: the bytes autograd saves for backward (:func:`saved_activation_bytes`) plus
      weights + gradients + ``optimizer_slots`` optimizer copies (RMSProp with momentum: 2).
      This is a lower bound: it ignores allocator caching/fragmentation, cuDNN workspaces and
      transient buffers inside backward (typically tens of percent on GPUs).
    """
    device = _device(model)
    lo, hi = probe_batches
    if not 0 < lo < hi:
        raise ValueError(f"probe_batches must be two increasing positive ints, got {probe_batches}")
    measured = []
    if device.type == "cuda":
        for b in probe_batches:
            step = _train_step(model, b, image_size, False, amp_dtype)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            step()
            _sync(device)
            measured.append(torch.cuda.max_memory_allocated(device))
        method = "cuda max_memory_allocated of training steps, linear fit"
        state = 0
    else:
        measured = [saved_activation_bytes(model, image_size, b, amp_dtype) for b in probe_batches]
        state = sum(p.numel() * p.element_size() for p in model.parameters()) * (2 + optimizer_slots)
        method = "saved-for-backward activations + weights/grads/optimizer state, linear fit (lower bound)"
    per_sample = (measured[1] - measured[0]) / (hi - lo)
    fixed = measured[0] - per_sample * lo + state
    estimate = fixed + per_sample * batch_size
    return dict(method=method, device=str(device), image_size=image_size, batch_size=batch_size,
                probe_batches=list(probe_batches), probe_bytes=measured, per_sample_bytes=per_sample,
                fixed_bytes=fixed, estimated_bytes=estimate, estimated_gib=estimate / GIB,
                budget_gib=budget_gib, fits=estimate <= budget_gib * GIB)
