"""The speed suite on a lent GPU or on this CPU: Tables 2, 3, 7, 10, 11 and Figure 3's speed rows.

    bench/gpu.sh                                       # gpu profile -> results/bench/gpu-<device>/
    bench/gpu.sh --tiny --output-dir /tmp/b --models 3  # every code path on a CPU, in under a minute
    python -m replication bench-gpu ...                 # the same, without the script
    python -m replication bench-cpu                     # cpu profile on this CPU -> results/bench/cpu-<processor>/

The jobs are the speed_memory family's (``speed_plan.plan``: ``speed_plan.speed_jobs`` plus the
profile's round-robin groups and second precision) with the knobs of the study spec
(``replication/studies/<profile>.yaml``, family ``speed_memory``). On a GPU (gpu profile): inference
latency at batch 16 (Table 7) and throughput at batch 128 (Table 11) in FP16, training step time of
the Figure 3 models, and Table 2 / Table 3 training speed and memory; the most valuable come first.
On this CPU (cpu profile, ``threads`` torch threads): the models each table compares timed
round-robin in one loop, in float32 and, for the key comparisons, bfloat16 autocast too. Rows go to
``<output>/bench/<device>/speed.csv`` through ``experiments.speed`` (the file is complete after every
job), the machine and library versions to ``environment.json`` beside it. After ``--time-limit``
seconds no new job starts; a rerun skips the jobs already logged for this machine and completes the
rest. Imports torch, timm, torchvision, accelerate, numpy, pandas, pyyaml and the package.
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

from replication.config import ConfigError  # noqa: E402
from replication.study import spec, speed_plan  # noqa: E402
from replication.study.speed_plan import PRIORITY, TINY, groups, key, plan, precision, row_key  # noqa: E402,F401

REPO = Path(__file__).resolve().parents[2]
DEVICES = {  # command -> its defaults and the command that completes an interrupted run
    "gpu": dict(profile="gpu", time_limit=330.0, rerun="bench/gpu.sh"),
    "cpu": dict(profile="cpu", time_limit=5400.0, rerun="python -m replication bench-cpu"),
}


def slug(text: str) -> str:
    """``NVIDIA H200`` -> ``nvidia-h200``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def device_folder(torch) -> str:
    """``gpu-<GPU name>`` for CUDA device 0, ``cpu`` without CUDA (tiny runs only)."""
    return f"gpu-{slug(torch.cuda.get_device_name(0))}" if torch.cuda.is_available() else "cpu"


def cpu_folder(processor: str) -> str:
    """``Intel(R) Xeon(R) Processor`` -> ``cpu-intel-r-xeon-r-processor``: where a CPU run's rows go."""
    return f"cpu-{slug(processor) or 'unknown'}"


def load_profile(name: str) -> dict:
    """The speed_memory knobs of study ``name``."""
    try:
        values = spec.knobs(name, "speed_memory")
    except ConfigError as err:
        raise ValueError(f"--profile {name}: {err}") from None
    needed = [*inspect.signature(speed_plan.speed_jobs).parameters, "warmup", "repeats", "amp_dtype",
              "memory_budget_gib"]
    missing = [k for k in needed if k not in values]
    if missing:
        raise ValueError(f"the speed_memory family of replication/studies/{name}.yaml lacks {', '.join(missing)}")
    return values


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
    the processor, the pinned timm, pandas and the GPU's properties)."""
    from replication.results import environment as run_environment  # lazy: results loads torch; --help stays fast

    run = run_environment()
    env = {**run["versions"], "platform": run["hardware"]["platform"], "processor": run["hardware"]["processor"],
           "cpu_count": run["hardware"]["cpu_count"], "timm_pinned": pinned_timm(),
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
    amp = f" {precision(job.get('amp_dtype'))}" if job["kind"] != "memory" else ""
    head = f"{job['table']:<3} {job['kind']:<9} {job['model']:<26} {size}px b{job['batch_size']}{amp}"
    if row is None:
        return f"{head}  already logged"
    if job["kind"] == "memory":
        return f"{head}  {row.get('estimated_gib', float('nan')):.2f} GiB"
    latency = f"{row['latency_ms_median']:.2f} ms  " if job["kind"] == "inference" else ""
    return f"{head}  {latency}{row['images_per_second']:.1f} img/s"


def _row_of(job: dict, new_rows: list[dict]) -> dict | None:
    """The row just measured for ``job`` (None: it was logged before)."""
    want = key(job)
    return next((row for row in new_rows if row_key(row) == want), None)


def _arguments(parser: argparse.ArgumentParser, device: str) -> argparse.ArgumentParser:
    defaults = DEVICES[device]
    parser.add_argument("--time-limit", type=float, default=defaults["time_limit"], metavar="SECONDS",
                        help=f"start no new job after this many seconds; rerun to complete (default "
                             f"{defaults['time_limit']:g})")
    parser.add_argument("--tiny", action="store_true",
                        help="check every code path (also on a CPU): image size 32, batch 2, warmup 0, 1 repeat, "
                             "into build/bench_tiny unless --output-dir is given")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="results root; rows go to <output-dir>/bench/<device>/speed.csv (default results/)")
    parser.add_argument("--models", type=int, default=None, metavar="N", help="only the first N models of each list")
    parser.add_argument("--profile", default=defaults["profile"],
                        help=f"study spec whose speed_memory knobs are used (default {defaults['profile']})")
    if device == "cpu":
        parser.add_argument("--threads", type=int, default=None, metavar="N",
                            help="torch threads (default: the profile's speed_memory knob 'threads', else all cores)")
    return parser


def build_parser(device: str = "gpu") -> argparse.ArgumentParser:
    prog = "bench/gpu.sh" if device == "gpu" else "python -m replication bench-cpu"
    return _arguments(argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0]), device)


def add_commands(subparsers) -> None:
    for device, text in (("gpu", "the GPU speed benchmark (bench/gpu.sh)"),
                         ("cpu", "the speed suite on this CPU, resumable, with a time budget")):
        p = subparsers.add_parser(f"bench-{device}", help=text, description=__doc__.splitlines()[0])
        _arguments(p, device).set_defaults(func=lambda args, d=device: main(started=START, args=args, device=d))


def _threads(torch, args, profile: dict) -> int | None:
    """Set the CPU run's torch threads (``--threads``, else the profile's ``threads``); None on a GPU."""
    wanted = args.threads if getattr(args, "threads", None) is not None else profile.get("threads")
    if wanted is not None and int(wanted) < 1:
        raise ValueError(f"--threads (or the speed_memory knob 'threads') must be >= 1, got {wanted}")
    if wanted:
        torch.set_num_threads(int(wanted))
    return torch.get_num_threads()


def main(argv: list[str] | None = None, started: float | None = None, args=None, device: str = "gpu") -> int:
    """Run the benchmark on ``device`` ("gpu" or "cpu"); ``started`` is the ``time.monotonic()`` the time limit
    counts from (default: now; the command line passes the moment this module was imported)."""
    started = time.monotonic() if started is None else started
    args = args if args is not None else build_parser(device).parse_args(argv)
    import timm
    import torch

    from replication.results import atomic_write_text  # lazy: torch loads after the arguments are checked
    from replication.study import experiments  # lazy: as above

    on_cpu = device == "cpu"
    if not on_cpu and not args.tiny and not torch.cuda.is_available():
        print(f"error: no CUDA device (torch {torch.__version__}, torch.cuda.is_available() is False). "
              "Run bench/gpu.sh on a machine with an NVIDIA GPU and a CUDA build of torch, "
              "or pass --tiny to check the script on this CPU (the CPU suite: python -m replication bench-cpu).",
              file=sys.stderr)
        return 2
    if args.models is not None and args.models < 1:
        print(f"error: --models must be >= 1, got {args.models}", file=sys.stderr)
        return 2
    try:
        from replication import models  # noqa: F401  # lazy: says which timm the model code needs (timm.layers)
    except ImportError as err:
        print(f"error: the model code does not import with timm {timm.__version__} ({err}); install timm "
              f"{pinned_timm()} (pyproject.toml) or a version close to it", file=sys.stderr)
        return 2
    try:
        profile = load_profile(args.profile)
        jobs = plan(profile, args.tiny, args.models)
        threads = _threads(torch, args, profile) if on_cpu else None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    settings = dict(warmup=TINY["warmup"], repeats=TINY["repeats"]) if args.tiny else \
        dict(warmup=profile["warmup"], repeats=profile["repeats"])
    torch_device = "cpu" if on_cpu else ("cuda" if torch.cuda.is_available() else "cpu")
    if torch_device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels in warm-up
    output = args.output_dir or (REPO / "build" / "bench_tiny" if args.tiny else REPO / "results")
    env = environment(torch, timm)
    hardware = experiments.hardware(torch_device)
    folder = ("cpu" if args.tiny else cpu_folder(env["processor"])) if on_cpu else device_folder(torch)
    name = f"{folder}/speed"
    csv_path = output / "bench" / f"{name}.csv"
    rerun = DEVICES[device]["rerun"]
    pin = "" if env["timm"] == env["timm_pinned"] else f" (pinned {env['timm_pinned']}: continuing)"
    print(f"device {env.get('gpu') if torch_device == 'cuda' else hardware}; torch {env['torch']}, "
          f"CUDA {env.get('cuda')}, timm {env['timm']}{pin}")
    precisions = sorted({precision(j.get("amp_dtype")) for j in jobs if j["kind"] != "memory"})
    batches = groups(jobs)
    print(f"{len(jobs)} jobs in {len(batches)} groups ({'tiny' if args.tiny else args.profile}; warmup "
          f"{settings['warmup']}, repeats {settings['repeats']}, {', '.join(precisions) or 'float32'}) -> {csv_path}")
    record = dict(env, hardware=hardware, device=torch_device, threads=threads,
                  started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  command=sys.argv[1:] if argv is None else list(argv), profile=args.profile, tiny=args.tiny,
                  models=args.models, time_limit_s=args.time_limit, precisions=precisions, **settings)

    def write_record(**extra):
        text = json.dumps(dict(record, **extra), indent=2, default=str) + "\n"
        atomic_write_text(csv_path.parent / "environment.json", text)

    write_record(status="running")
    rows = len(pd.read_csv(csv_path)) if csv_path.is_file() else 0
    measured, logged, failed, not_started, done = 0, 0, [], 0, 0
    for group in batches:
        elapsed = time.monotonic() - started
        if elapsed >= args.time_limit:
            not_started = len(jobs) - done
            print(f"time limit of {args.time_limit:g} s reached after {elapsed:.0f} s: {not_started} of {len(jobs)} "
                  f"jobs skipped; run {rerun} again to complete them (logged jobs are not measured again)")
            break
        began = time.monotonic()
        try:
            frame = experiments.speed(group, output, budget_gib=profile["memory_budget_gib"], name=name,
                                      device=torch_device, **settings)
            new = frame.iloc[rows:].to_dict("records")
            rows = len(frame)
            found = [_row_of(job, new) for job in group]
            measured, logged = measured + sum(r is not None for r in found), logged + sum(r is None for r in found)
            texts = [_describe(job, row) for job, row in zip(group, found)]
        except Exception as exc:  # one model that fails (out of memory, unknown to this timm) must not stop the rest
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            lines = [f"{job['kind']} {job['model']} b{job['batch_size']}: {reason}" for job in group]
            failed += lines
            texts = [f"FAILED {line}" for line in lines]
        finally:
            gc.collect()
            if torch_device == "cuda":
                torch.cuda.empty_cache()
        now = time.monotonic()
        where = f"round-robin group of {len(group)}: " if len(group) > 1 else ""
        for text in texts:
            done += 1
            print(f"[{done:>2}/{len(jobs)}] {text}  ({where}{now - began:.1f} s, total {now - started:.0f} s)",
                  flush=True)
    total = time.monotonic() - started
    write_record(status="incomplete" if not_started or failed else "complete", seconds=round(total, 1),
                 jobs=dict(planned=len(jobs), measured=measured, already_logged=logged, failed=failed,
                           not_started=not_started))
    print(f"done in {total:.0f} s: {measured} measured, {logged} already logged, {len(failed)} failed, "
          f"{not_started} not started; rows in {csv_path}")
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failed else 0
