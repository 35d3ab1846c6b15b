"""GPU speed benchmark: Table 7 latency, Table 11 throughput, Figure 3 training, on a lent GPU.

    bench/gpu.sh                                       # gpu profile -> results/bench/gpu-<device>/
    bench/gpu.sh --tiny --output-dir /tmp/b --models 3  # every code path on a CPU, in under a minute
    python -m replication bench-gpu ...                 # the same, without the script

The jobs are the speed_memory family's (``experiments.speed_jobs``) with the knobs of the gpu study
spec (``replication/studies/gpu.yaml``, family ``speed_memory``): inference latency at batch 16 (Table 7) and
throughput at batch 128 (Table 11) in FP16, training step time of the Figure 3 models, and
Table 2 / Table 3 training speed and memory; the most valuable come first. Rows go to
``<output>/bench/gpu-<device>/speed.csv`` through ``experiments.speed`` (one job at a time, so the
file is complete after every job), the machine and library versions to ``environment.json`` beside
it. After ``--time-limit`` seconds no new job starts; a rerun skips the jobs already logged for
this GPU and completes the rest. Imports torch, timm, torchvision, accelerate, numpy, pandas, pyyaml and the package.
"""
from __future__ import annotations

import time

START = time.monotonic()  # run as a script, the time limit counts from here (imports and CUDA start-up included)

import argparse  # noqa: E402
import gc  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PRIORITY = ("T7", "T11", "F3", "T2", "T3")  # order of the jobs: latency, throughput, Figure 3 training first
MODEL_LISTS = ("latency_models", "throughput_models", "train_models", "fused_models")
TINY = dict(image_size=32, batch_size=2, warmup=0, repeats=1)


def slug(text: str) -> str:
    """``NVIDIA H200`` -> ``nvidia-h200``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def device_folder(torch) -> str:
    """``gpu-<GPU name>`` for CUDA device 0, ``cpu`` without CUDA (tiny runs only)."""
    return f"gpu-{slug(torch.cuda.get_device_name(0))}" if torch.cuda.is_available() else "cpu"


def load_profile(name: str) -> dict:
    """The speed_memory knobs of study ``name``."""
    from replication.config import ConfigError
    from replication.study import experiments, spec

    try:
        values = spec.knobs(name, "speed_memory")
    except ConfigError as err:
        raise ValueError(f"--profile {name}: {err}") from None
    needed = [*inspect.signature(experiments.speed_jobs).parameters, "warmup", "repeats", "amp_dtype",
              "memory_budget_gib"]
    missing = [k for k in needed if k not in values]
    if missing:
        raise ValueError(f"the speed_memory family of replication/studies/{name}.yaml lacks {', '.join(missing)}")
    return values


def plan(profile: dict, tiny: bool, models: int | None) -> list[dict]:
    """The profile's jobs, most valuable first, without duplicates (tiny settings make some equal)."""
    from replication.study import experiments

    knobs = {k: profile[k] for k in inspect.signature(experiments.speed_jobs).parameters}
    if models is not None:
        knobs.update({k: list(knobs[k])[:models] for k in MODEL_LISTS})
    if tiny:  # every size and batch shrunk; an empty list stays empty
        knobs.update({k: TINY["image_size"] for k in knobs if k.endswith("_image_size")})
        knobs.update({k: TINY["batch_size"] for k in knobs if k.endswith("_batch_size")})
        for k in ("t2_image_sizes", "t2_batch_sizes", "memory_batch_sizes"):
            knobs[k] = [TINY["image_size"] if k.endswith("_image_sizes") else TINY["batch_size"]] if knobs[k] else []
    jobs = sorted(experiments.speed_jobs(**knobs), key=lambda j: PRIORITY.index(j["table"]))
    seen, out = set(), []
    for job in jobs:
        key = (job["kind"], job["model"], job["image_size"], job["batch_size"])
        if key not in seen:
            seen.add(key)
            out.append(job)
    return out


def pinned_timm() -> str:
    path = REPO / "pyproject.toml"
    found = re.search(r'"timm==([^"]+)"', path.read_text()) if path.is_file() else None
    return found.group(1) if found else "unknown"


def _driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(torch, timm) -> dict:
    """The machine and library versions the rows were measured with (``results.environment`` plus
    the pinned timm, pandas and the GPU's properties)."""
    from replication.results import environment as run_environment

    run = run_environment()
    env = {**run["versions"], "platform": run["hardware"]["platform"], "timm_pinned": pinned_timm(),
           "pandas": pd.__version__, "git_commit": run["git_commit"]}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=torch.cuda.get_device_name(0), gpu_count=torch.cuda.device_count(),
                   gpu_memory_gib=round(props.total_memory / 1024 ** 3, 1), capability=f"{props.major}.{props.minor}",
                   cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(), driver=_driver(),
                   cudnn_benchmark=torch.backends.cudnn.benchmark)
    return env


def _describe(job: dict, row: dict | None) -> str:
    size = row["image_size"] if row else (job["image_size"] or "own")
    head = f"{job['table']:<3} {job['kind']:<9} {job['model']:<26} {size}px b{job['batch_size']}"
    if row is None:
        return f"{head}  already logged"
    if job["kind"] == "memory":
        return f"{head}  {row.get('estimated_gib', float('nan')):.2f} GiB"
    latency = f"{row['latency_ms_median']:.2f} ms  " if job["kind"] == "inference" else ""
    return f"{head}  {latency}{row['images_per_second']:.1f} img/s"


def _arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--time-limit", type=float, default=330.0, metavar="SECONDS",
                        help="start no new job after this many seconds; rerun to complete (default 330)")
    parser.add_argument("--tiny", action="store_true",
                        help="check every code path (also on a CPU): image size 32, batch 2, warmup 0, 1 repeat, "
                             "fp32, into build/bench_tiny unless --output-dir is given")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="results root; rows go to <output-dir>/bench/<device>/speed.csv (default results/)")
    parser.add_argument("--models", type=int, default=None, metavar="N", help="only the first N models of each list")
    parser.add_argument("--profile", default="gpu", help="study spec whose speed_memory knobs are used (default gpu)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    return _arguments(argparse.ArgumentParser(prog="bench/gpu.sh", description=__doc__.splitlines()[0]))


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("bench-gpu", help="the GPU speed benchmark (bench/gpu.sh)", description=__doc__.splitlines()[0])
    _arguments(p).set_defaults(func=lambda args: main(started=START, args=args))


def main(argv: list[str] | None = None, started: float | None = None, args=None) -> int:
    """Run the benchmark; ``started`` is the ``time.monotonic()`` the time limit counts from (default: now;
    the command line passes the moment this module was imported)."""
    started = time.monotonic() if started is None else started
    args = args if args is not None else build_parser().parse_args(argv)
    import timm
    import torch

    from replication.results import atomic_write_text
    from replication.study import experiments

    if not args.tiny and not torch.cuda.is_available():
        print(f"error: no CUDA device (torch {torch.__version__}, torch.cuda.is_available() is False). "
              "Run bench/gpu.sh on a machine with an NVIDIA GPU and a CUDA build of torch, "
              "or pass --tiny to check the script on this CPU.", file=sys.stderr)
        return 2
    if args.models is not None and args.models < 1:
        print(f"error: --models must be >= 1, got {args.models}", file=sys.stderr)
        return 2
    try:
        from replication import models  # noqa: F401  (our model code needs timm.layers)
    except ImportError as err:
        print(f"error: the model code does not import with timm {timm.__version__} ({err}); install timm "
              f"{pinned_timm()} (pyproject.toml) or a version close to it", file=sys.stderr)
        return 2
    try:
        profile = load_profile(args.profile)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    jobs = plan(profile, args.tiny, args.models)
    settings = dict(warmup=TINY["warmup"], repeats=TINY["repeats"], amp_dtype="") if args.tiny else \
        dict(warmup=profile["warmup"], repeats=profile["repeats"], amp_dtype=profile["amp_dtype"] or "")
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels in warm-up
    output = args.output_dir or (REPO / "build" / "bench_tiny" if args.tiny else REPO / "results")
    folder = device_folder(torch)
    name = f"{folder}/speed"
    csv_path = output / "bench" / f"{name}.csv"
    env = environment(torch, timm)
    pin = "" if env["timm"] == env["timm_pinned"] else f" (pinned {env['timm_pinned']}: continuing)"
    print(f"device {env.get('gpu') or 'cpu'}; torch {env['torch']}, CUDA {env.get('cuda')}, timm {env['timm']}{pin}")
    print(f"{len(jobs)} jobs ({'tiny' if args.tiny else args.profile}; warmup {settings['warmup']}, "
          f"repeats {settings['repeats']}, {settings['amp_dtype'] or 'float32'}) -> {csv_path}")
    record = dict(env, hardware=experiments.hardware(),
                  started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  command=sys.argv[1:] if argv is None else list(argv), profile=args.profile, tiny=args.tiny,
                  models=args.models, time_limit_s=args.time_limit, **settings)

    def write_record(**extra):
        text = json.dumps(dict(record, **extra), indent=2, default=str) + "\n"
        atomic_write_text(csv_path.parent / "environment.json", text)

    write_record(status="running")
    rows = len(pd.read_csv(csv_path)) if csv_path.is_file() else 0
    measured, logged, failed, not_started = 0, 0, [], 0
    for i, job in enumerate(jobs, 1):
        elapsed = time.monotonic() - started
        if elapsed >= args.time_limit:
            not_started = len(jobs) - i + 1
            print(f"time limit of {args.time_limit:g} s reached after {elapsed:.0f} s: {not_started} of {len(jobs)} "
                  "jobs skipped; run bench/gpu.sh again to complete them (logged jobs are not measured again)")
            break
        began = time.monotonic()
        try:
            frame = experiments.speed([job], output, budget_gib=profile["memory_budget_gib"], name=name, **settings)
            row = frame.iloc[-1].to_dict() if len(frame) > rows else None
            rows = len(frame)
            measured, logged = measured + (row is not None), logged + (row is None)
            text = _describe(job, row)
        except Exception as exc:  # one model that fails (out of memory, unknown to this timm) must not stop the rest
            failed.append(f"{job['kind']} {job['model']} b{job['batch_size']}: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}")
            text = f"FAILED {failed[-1]}"
        finally:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        now = time.monotonic()
        print(f"[{i:>2}/{len(jobs)}] {text}  ({now - began:.1f} s, total {now - started:.0f} s)", flush=True)
    total = time.monotonic() - started
    write_record(status="incomplete" if not_started or failed else "complete", seconds=round(total, 1),
                 jobs=dict(planned=len(jobs), measured=measured, already_logged=logged, failed=failed,
                           not_started=not_started))
    print(f"done in {total:.0f} s: {measured} measured, {logged} already logged, {len(failed)} failed, "
          f"{not_started} not started; rows in {csv_path}")
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failed else 0

