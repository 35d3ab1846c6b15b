"""The speed suite's plan: a study spec's ``speed_memory`` knobs as an ordered list of jobs.

One job is one row to measure: ``table`` (the paper item it serves), ``kind`` (train | inference |
memory), ``model``, ``image_size`` (None: the model's own train/eval size), ``batch_size``,
``amp_dtype`` ("" float32, or an autocast dtype) and ``group``. Consecutive jobs with the same
non-empty ``group`` are the models a table COMPARES; ``experiments.speed`` times them round-robin in
one loop, so a drifting machine load hits them alike. The knobs that shape it (optional, so the gpu
spec keeps its one-job-at-a-time plan):

  round_robin         true: group the compared models (Table 2: B6 at each size, per batch; Table 3:
                      every fused variant; Table 10: V2-M vs B7 training and inference; Table 11: each
                      V1/V2 pair of ``throughput_models`` in order; Figure 3: ``batch_sweep_models``
                      per batch of ``batch_sweep_sizes``)
  t10_models          [V2-M, B7] for Table 10's two groups (training at ``train_batch_size``,
                      inference at ``latency_batch_size``; each model at its own size)
  batch_sweep_models, batch_sweep_sizes   Figure 3: step time vs batch size
  also_amp_dtype, also_amp_tables         each job of these tables measured again in this precision
                                          (after the table's ``amp_dtype`` jobs; memory jobs are not)
  priority            the order of the tables (default ``PRIORITY``)

A job already planned (same kind, model, size, batch and precision) is not planned again: Table 10's
V2-M and B7 rows serve Table 7 and Figure 3 too. Importing this module imports no torch.
"""
from __future__ import annotations

import inspect
import math

PRIORITY = ("T7", "T11", "F3", "T2", "T3")  # the gpu plan: latency, throughput, Figure 3 training first
TABLES = ("T10", "T11", "T3", "T2", "T7", "F3")  # every table a plan may hold
MODEL_LISTS = ("latency_models", "throughput_models", "train_models", "fused_models", "batch_sweep_models")
TINY = dict(image_size=32, batch_size=2, warmup=0, repeats=1)


def precision(value) -> str:
    """The precision a row was measured in: "float32" for "", None, NaN and "float32", else the dtype name."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "float32"
    return str(value).replace("torch.", "")


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


def _knobs(profile: dict, tiny: bool, models: int | None) -> dict:
    """The knobs the plan reads, with ``--models`` and ``--tiny`` applied."""
    names = [*inspect.signature(speed_jobs).parameters, "t10_models", "batch_sweep_models", "batch_sweep_sizes"]
    knobs = {k: profile.get(k, []) for k in names}
    if models is not None:
        knobs.update({k: list(knobs[k])[:models] for k in MODEL_LISTS})
    if tiny:  # every size and batch shrunk; an empty list stays empty
        knobs.update({k: TINY["image_size"] for k in knobs if k.endswith("_image_size")})
        knobs.update({k: TINY["batch_size"] for k in knobs if k.endswith("_batch_size")})
        for k in ("t2_image_sizes", "t2_batch_sizes", "memory_batch_sizes", "batch_sweep_sizes"):
            size = TINY["image_size"] if k.endswith("_image_sizes") else TINY["batch_size"]
            knobs[k] = [size] if knobs[k] else []
    return knobs


def _grouped(jobs: list[dict], knobs: dict) -> list[dict]:
    """``group`` set on the jobs a table compares (see the module docstring)."""
    pairs = list(knobs["throughput_models"])
    for job in jobs:
        if job["table"] == "T2" and job["kind"] == "train":
            job["group"] = f"T2 train b{job['batch_size']}"
        elif job["table"] == "T3":
            job["group"] = "T3"
        elif job["table"] == "T11":
            i = pairs.index(job["model"]) // 2
            job["group"] = "T11 " + "/".join(pairs[2 * i:2 * i + 2])
    t10 = [dict(table="T10", kind=kind, model=name, image_size=knobs[f"{prefix}_image_size"],
                batch_size=knobs[f"{prefix}_batch_size"], group=f"T10 {kind}")
           for kind, prefix in (("train", "train"), ("inference", "latency")) for name in knobs["t10_models"]]
    sweep = [dict(table="F3", kind="train", model=name, image_size=knobs["train_image_size"], batch_size=b,
                  group=f"F3 sweep b{b}") for b in knobs["batch_sweep_sizes"] for name in knobs["batch_sweep_models"]]
    return t10 + sweep + jobs


def _contiguous(jobs: list[dict]) -> list[dict]:
    """The jobs with each group's members moved up to its first member (otherwise in order)."""
    first: dict = {}
    order = [(first.setdefault(j["group"] or ("", i), i), i) for i, j in enumerate(jobs)]
    return [jobs[i] for _, i in sorted(order)]


def _size(job: dict) -> int | None:
    """The image size a job runs at (its own, or the model's train / eval size)."""
    if job["image_size"]:
        return int(job["image_size"])
    from replication.models import model_info  # lazy: the report reads the plan; the model code (timm) loads only for a job's size

    try:
        entry = model_info(job["model"])
    except KeyError:  # an unknown model: building it fails with the registry's message, as a failed job
        return None
    return entry.eval_size if job["kind"] == "inference" else entry.train_size


def key(job: dict) -> tuple:
    """What makes a row unique on one machine: kind, model, size, batch and (not for memory) precision."""
    amp = None if job["kind"] == "memory" else precision(job.get("amp_dtype"))
    return job["kind"], job["model"], _size(job), int(job["batch_size"]), amp


def row_key(row: dict) -> tuple:
    """:func:`key` of a measured row (its image size is the one it ran at)."""
    return key(dict(row, image_size=int(row["image_size"])))


def plan(profile: dict, tiny: bool = False, models: int | None = None) -> list[dict]:
    """The profile's jobs in ``priority`` order of their tables, each table's ``amp_dtype`` jobs before its
    ``also_amp_dtype`` ones, without repeats (``--tiny`` sizes make some equal); ``models``: only the
    first N models of each list."""
    knobs = _knobs(profile, tiny, models)
    jobs = [dict(job, group="") for job in speed_jobs(**{k: knobs[k] for k in inspect.signature(speed_jobs).parameters})]
    if profile.get("round_robin"):
        jobs = _grouped(jobs, knobs)
    priority = list(profile.get("priority") or PRIORITY)
    unknown = sorted({j["table"] for j in jobs} - set(priority))
    if unknown:
        raise ValueError(f"priority: {priority} lacks the table(s) {', '.join(unknown)} of the plan; list every "
                         f"table it runs (of {', '.join(TABLES)}) in the speed_memory knob 'priority'")
    primary = "" if tiny else (profile.get("amp_dtype") or "")
    extra, extra_tables = profile.get("also_amp_dtype") or "", set(profile.get("also_amp_tables") or ())
    ordered = []
    for table in priority:
        mine = _contiguous([dict(j, amp_dtype=primary) for j in jobs if j["table"] == table])
        ordered += mine
        if extra and table in extra_tables:
            ordered += [dict(j, amp_dtype=extra, group=f"{j['group']} {extra}" if j["group"] else "")
                        for j in mine if j["kind"] != "memory"]
    seen, out = set(), []
    for job in ordered:
        if key(job) not in seen:
            seen.add(key(job))
            out.append(job)
    return out


def groups(jobs: list[dict]) -> list[list[dict]]:
    """Consecutive jobs with the same non-empty ``group`` together; every other job alone."""
    out: list[list[dict]] = []
    for job in jobs:
        if out and job.get("group") and out[-1][-1].get("group") == job["group"]:
            out[-1].append(job)
        else:
            out.append([job])
    return out
