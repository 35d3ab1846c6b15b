"""Each experiment family of a study spec, run resumably: what the experiment notebooks and
``python -m replication study run`` call.

The arms, seeds and knobs come from ``replication/studies/<profile>.yaml`` (``study.spec``).
Every function is safe to call again: a finished run is reused (its saved config must equal the
arm's, else the run refuses and names the keys), an interrupted one resumes from its checkpoint,
and benchmark rows already logged for this hardware are not measured again.
"""
from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pandas as pd

from replication import config as config_mod
from replication import measure, results
from replication.cli import sigterm_as_interrupt
from replication.config import ConfigError, merge
from replication.study import parameters, speed_plan, spec as spec_mod


def _dirs(output_dir: str = "", checkpoint_dir: str = "") -> dict:
    """Config updates for other results / checkpoint folders ("" keeps the study's)."""
    train = {k: str(v) for k, v in (("results_dir", output_dir), ("checkpoint_dir", checkpoint_dir)) if v}
    return {"train": train} if train else {}


def run_arm(study: spec_mod.Study, arm: spec_mod.Arm, seed: int, output_dir: str = "", checkpoint_dir: str = "",
            progress: bool = True) -> dict:
    """One run of ``arm`` (trained, resumed, or read back when finished); one row for a table.
    ``progress=False`` turns the progress bar off (a log file gets the per-epoch lines only)."""
    from replication import train  # lazy: timm and accelerate load only for commands that train

    updates = merge(_dirs(output_dir, checkpoint_dir), {} if progress else {"train": {"progress": False}})
    cfg = study.config(arm, seed, updates)
    if arm.init_from:  # start from the source arm's final weights of the same seed
        source = study.arm(arm.init_from)
        src = results.checkpoint_dir(study.config(source, seed, updates)) / "last.pt"
        if not finished(cfg):  # a finished run needs no source
            source_checkpoint(study, source, seed, updates)
        cfg = study.config(arm, seed, merge(updates, {"model": {"init_checkpoint": str(src)}}))
    summary = train.run(cfg, resume=True)
    final = summary.get("final") or {}
    return {"family": arm.family, "arm": arm.name, "seed": seed, "run_id": cfg.resolved_run_id,
            "status": summary.get("status"), "epochs": summary.get("epochs"),
            "top1": final.get("ema_top1", final.get("val_top1")), "train_seconds": summary.get("total_train_seconds")}


def rebuilt_config(cfg):
    """``cfg`` with its record in ``<results_dir>/rebuilt`` (its checkpoint where the original's was)."""
    return config_mod.from_dict(merge(config_mod.to_dict(cfg),
                                      {"train": {"results_dir": str(Path(cfg.train.results_dir) / results.REBUILT)}}))


def source_checkpoint(study: spec_mod.Study, source: spec_mod.Arm, seed: int, updates: dict) -> Path:
    """The final ``last.pt`` of ``source`` (seed ``seed``) that a transfer run starts from, trained first
    when it is not on disk: ``study run`` trains what a run needs. Checkpoints are not committed, so on a
    fresh clone a finished source run has a record but no checkpoint: it is trained again with the same
    config, its record going to ``<results_dir>/rebuilt/`` (the committed one stays) so that the report
    can say whether the rerun reproduced it. A checkpoint counts only when the run that wrote it finished
    (an interrupted rebuild resumes)."""
    from replication import train  # lazy: timm and accelerate load only for commands that train

    cfg = study.config(source, seed, updates)
    ckpt, name = results.checkpoint_dir(cfg) / "last.pt", f"{source.family}/{source.name} seed {seed}"
    if not finished(cfg):
        print(f"  first {name}, which it starts from", flush=True)
    train.run(cfg, resume=True)  # an unfinished source trains here; a finished one is only checked against the spec
    again = rebuilt_config(cfg)
    rebuild = results.run_dir(again)
    started = (rebuild / "config.yaml").is_file()
    if started and not (rebuild / "summary.json").is_file() and ckpt.is_file():
        print(f"  continuing the rebuild of {name} in {rebuild}", flush=True)
        train.run(again, resume=True)
    elif not ckpt.is_file():
        print(f"  {ckpt} is missing (checkpoints are not committed): training {name} again, its record in {rebuild}",
              flush=True)
        train.run(again, overwrite=started)
    if not ckpt.is_file():
        raise FileNotFoundError(f"{name} finished without {ckpt}; it needs train.keep_checkpoint=true")
    return ckpt


# the experiment notebooks' parameters: name -> (type, item type, help); a notebook has study and
# root, and training families also arms and seeds
PARAMETERS = {
    "study": (str, None, "the study spec: smoke | cpu | gpu (replication/studies/<study>.yaml)"),
    "arms": (list, str, "a subset of the family's arms ([]: all of them)"),
    "seeds": (list, int, "a subset of the seeds ([]: the spec's)"),
    "root": (str, None, "a folder for results/ and checkpoints/ (\"\": the study's folders)"),
}


def check_parameters(values: dict, family: str) -> dict:
    """The parameters a notebook was given (its ``globals()``), before anything runs: known names,
    the right types (``papermill -p arms '[P, F]'`` is read as YAML); a ``ValueError`` names the
    notebook parameter and what it expects. Returns {name: value}."""
    allowed = ("study", "root") if family in ("static", "speed_memory", "nas") else ("study", "root", "arms", "seeds")
    return parameters.check(values, PARAMETERS, allowed, family)


def run_family(profile: str, family: str, arms=(), seeds=(), root: str = "", check: dict | None = None) -> pd.DataFrame:
    """What the experiment notebooks call: one family of study ``profile``, from its spec.

    Training families: every (arm, seed), or the ``arms`` / ``seeds`` given (arms still
    ``pending`` are listed, not run; transfer first counts its datasets, Table 9). The others:
    static (exact counts), speed_memory (benchmarks), nas (the search). ``root`` ("": the study's
    folders) takes ``results/`` and ``checkpoints/``. ``check``: the notebook's ``globals()``,
    checked by :func:`check_parameters` first."""
    if check is not None:  # the notebook's values, as checked (and read from papermill's strings)
        values = check_parameters(check, family)
        profile, root = values["study"], values["root"]
        arms, seeds = values.get("arms", arms), values.get("seeds", seeds)
    output_dir, checkpoint_dir = (str(Path(root) / "results"), str(Path(root) / "checkpoints")) if root else ("", "")
    study = spec_mod.load(profile)
    fam = study.family(family)
    records = output_dir or config_mod.load(profile=profile).train.results_dir
    if family == "static":
        return static(fam.knobs["tables"], records)
    if family == "speed_memory":

        k = fam.knobs
        return speed(speed_plan.plan(k), records, warmup=k["warmup"], repeats=k["repeats"],
                     budget_gib=k["memory_budget_gib"], name=k["bench_name"], amp_dtype=k["amp_dtype"])
    if family == "nas":
        from replication.study import nas  # lazy: the model code (timm)

        return nas.run(profile, output_dir, checkpoint_dir)
    if family == "transfer":
        dataset_stats(fam.knobs["stats_datasets"], records)
    unknown = [a for a in arms if a not in fam.arms]
    if unknown:
        raise ValueError(f"arms: {unknown} are not arms of {family} in {study.path}; arms: {', '.join(fam.arms)}")
    rows = []
    for name in arms or fam.arms:
        arm = fam.arms[name]
        for seed in seeds or arm.seeds:
            rows.append({"family": family, "arm": name, "seed": seed, "status": "pending", "note": arm.pending}
                        if arm.pending else run_arm(study, arm, seed, output_dir, checkpoint_dir))
    return pd.DataFrame(rows)


def run_queue(profile: str, family: str = "", arms=(), seeds=(), until: float | None = None, output_dir: str = "",
              checkpoint_dir: str = "") -> list[dict]:
    """The study's queue in order, one run at a time (optionally only ``family`` / ``arms`` /
    ``seeds``); stops before starting a run after the wall-clock time ``until`` (epoch seconds), naming
    the first unfinished run (finished ones are passed over). Runs whose bfloat16 autocast this CPU
    would only emulate are skipped, saying so (``train.SlowPrecision``)."""
    from replication import train  # lazy: timm and accelerate load only for commands that train

    study = spec_mod.load(profile)
    check_selection(study, family, arms, seeds)
    done = []
    for arm, seed in study.runs():
        if (family and arm.family != family) or (arms and arm.name not in arms) or (seeds and seed not in seeds):
            continue
        if arm.pending:
            print(f"skip {arm.family}/{arm.name} seed {seed}: pending ({arm.pending})", flush=True)
            continue
        if until is not None and time.time() >= until:
            if finished(study.config(arm, seed, _dirs(output_dir))):  # the message names a run that did not start
                continue
            print(f"stopping: past --until, before {arm.family}/{arm.name} seed {seed}", flush=True)
            break
        print(f"run {arm.family}/{arm.name} seed {seed}", flush=True)
        try:
            done.append(run_arm(study, arm, seed, output_dir, checkpoint_dir, progress=sys.stderr.isatty()))
        except train.SlowPrecision as err:  # this CPU would emulate the run's bf16: leave it to one that has it
            print(f"  skipped: {err}", flush=True)
            continue
        print(f"  {done[-1]}", flush=True)
    return done


def finished(cfg) -> bool:
    """Whether the run of ``cfg`` has its record (``summary.json``: written last, when it finished)."""
    return (results.run_dir(cfg) / "summary.json").is_file()


def check_selection(study: spec_mod.Study, family: str = "", arms=(), seeds=()) -> None:
    """A ConfigError naming the valid choices when ``family``, an arm or a seed selects none of the queue's runs."""
    queued = study.runs()
    families = sorted({a.family for a, _ in queued})
    if family and family not in families:
        raise ConfigError(f"--family {family}: not in the queue of {study.path}; families: {', '.join(families)}")
    queued = [(a, s) for a, s in queued if not family or a.family == family]
    where = f"family {family}" if family else "the queue"
    names = list(dict.fromkeys(a.name for a, _ in queued))
    unknown = [a for a in arms if a not in names]
    if unknown:
        raise ConfigError(f"--arms {' '.join(unknown)}: not arms of {where} in {study.path}; arms: {', '.join(names)}")
    numbers = sorted({s for a, s in queued if not arms or a.name in arms})
    unknown = [s for s in seeds if s not in numbers]
    if unknown:
        raise ConfigError(f"--seeds {' '.join(map(str, unknown))}: not seeds of {where}"
                          f"{' (arms ' + ', '.join(arms) + ')' if arms else ''} in {study.path}; seeds: "
                          f"{', '.join(map(str, numbers))}")


def dataset_stats(datasets, output_dir) -> pd.DataFrame:
    """Table 9: counts from the loaders where the data is here, else from the manifests."""
    from replication import data  # lazy: the data package loads torchvision

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
    results.atomic_write_text(Path(output_dir) / "static" / "datasets.csv", frame.to_csv(index=False))
    return frame


def static(tables, output_dir) -> pd.DataFrame:
    """Tables 1, 3, 4, 7, 10, 11: params/MACs of every paper row and Table 4 from the model code."""
    from replication.models import static as model_static  # lazy: the model code (timm)

    out = Path(output_dir) / "static"
    model_static.write_csv(model_static.table04(), out / "table04.csv")
    frame = model_static.params_macs(tables=tuple(tables))
    model_static.write_csv(frame, out / "params_macs.csv")
    return frame


def hardware(device: str = "") -> str:
    """A short description of this machine: the GPU, or the processor and its CPU count (``device="cpu"``:
    the processor even where a GPU is present)."""
    hw = results.environment()["hardware"]
    return results.describe_hardware(dict(hw, gpus=[]) if device == "cpu" else hw)


def _note(job: dict, group: list[dict], warmup: int, repeats: int) -> str:
    others = [f"{j['model']}@{j['image_size'] or 'own'}" for j in group if j is not job]
    text = f"median of {repeats} timed batches after {warmup} warm-up"
    return text + (f"; round-robin with {', '.join(others)}" if others else "")


def speed(jobs, output_dir, warmup=1, repeats=3, budget_gib=16.0, name=None, amp_dtype="", device=None) -> pd.DataFrame:
    """Benchmarks: ``jobs`` is a list of dicts with ``kind`` (train | inference | memory), ``model``,
    ``image_size`` (None: the model's own train/eval size), ``batch_size`` and optionally ``amp_dtype``
    (default: the argument) and ``group`` (see :mod:`replication.study.speed_plan`: consecutive jobs of one
    group are timed round-robin in one loop, each model built once per job).
    Rows go to ``results/bench/<name or host>.csv`` (``name`` may hold a folder: ``gpu-nvidia-h200/speed``)
    after every group; jobs already logged for this hardware (same kind, model, size, batch, precision) are
    skipped. ``device``: "cuda" or "cpu" (None: CUDA when available). On CUDA, memory is measured from real
    training steps; on CPU it is estimated (``measure.peak_memory``).
    ``amp_dtype``: "" for float32, or "float16" / "bfloat16" autocast (the paper's V100 numbers are FP16)."""
    import torch

    from replication import models  # lazy: the model code (timm)

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    path = Path(output_dir) / "bench" / f"{name or 'speed_' + socket.gethostname()}.csv"
    rows = pd.read_csv(path).to_dict("records") if path.is_file() else []
    host = hardware(device)
    logged = {speed_plan.row_key(r) for r in rows if r.get("hardware") == host}
    for group in speed_plan.groups([dict(j, amp_dtype=j.get("amp_dtype", amp_dtype)) for j in jobs]):
        todo = [j for j in group if speed_plan.key(j) not in logged]
        if not todo:
            continue
        amp = todo[0]["amp_dtype"]
        dtype = getattr(torch, amp) if amp else None
        sizes = [speed_plan.key(j)[2] for j in todo]
        if todo[0]["kind"] == "memory":  # CUDA: real training steps; CPU: estimated on 'meta', nothing allocated
            with torch.device(device if device == "cuda" else "meta"):
                model = models.create_for_size(todo[0]["model"], sizes[0])
            found = [measure.peak_memory(model, sizes[0], todo[0]["batch_size"], budget_gib=budget_gib,
                                            amp_dtype=dtype)]
        else:
            members = {}
            for i, (job, size) in enumerate(zip(todo, sizes)):
                with torch.device(device):  # weights initialised where they run (fast for big models on a GPU)
                    members[f"{i}:{job['model']}"] = (job["kind"], models.create_for_size(job["model"], size), size,
                                                      job["batch_size"])
            timed = measure.time_group(members, warmup=warmup, repeats=repeats, amp_dtype=dtype)
            found = list(timed.values())
            del members
        for job, size, result in zip(todo, sizes, found):
            times = result.pop("step_seconds", None)
            result = {k: v for k, v in result.items() if not isinstance(v, list)}
            rows.append({"kind": job["kind"], "model": job["model"], "hardware": host, **result,
                         "image_size": size, "batch_size": job["batch_size"], "amp_dtype": speed_plan.precision(amp),
                         "table": job.get("table", ""), "round_robin": job.get("group", ""), "warmup": warmup,
                         "step_seconds_all": ";".join(f"{t:.4f}" for t in times) if times else "",
                         "note": "" if job["kind"] == "memory" else _note(job, todo, warmup, repeats)})
            logged.add(speed_plan.key(job))
        results.atomic_write_text(path, pd.DataFrame(rows).to_csv(index=False))  # after every group: resumable
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- CLI
def add_commands(subparsers) -> None:
    p = subparsers.add_parser("study", help="show a study spec's runs, or run its queue (resumable)",
                              description="The study spec replication/studies/<profile>.yaml: its runs and its queue.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    profile = "the study spec replication/studies/<profile>.yaml: smoke, cpu or gpu"
    show = sub.add_parser("show", help="every run of the queue: arm, seed, status, and the arm's config changes")
    show.add_argument("profile", help=profile)
    run = sub.add_parser("run", help="train the queue in order, one run at a time; finished runs are skipped")
    run.add_argument("profile", help=profile)
    run.add_argument("--family", default="", help="only this family")
    run.add_argument("--arms", nargs="*", default=(), help="only these arms")
    run.add_argument("--seeds", nargs="*", type=int, default=(), help="only these seeds")
    run.add_argument("--until", default=None, type=clock, metavar="HH:MM",
                     help="start no run after this local time (24-hour clock, e.g. 23:30)")
    for q in (show, run):
        q.set_defaults(func=_cli)


def clock(text: str) -> tuple[int, int]:
    """``HH:MM`` (24-hour clock) -> (hour, minute); an argparse type, so a bad value is a one-line usage error."""
    import argparse

    hour, _, minute = text.partition(":")
    if not (hour.isdigit() and minute.isdigit() and len(minute) == 2 and int(hour) < 24 and int(minute) < 60):
        raise argparse.ArgumentTypeError(f"{text!r} is not a time of day; write HH:MM on a 24-hour clock, e.g. 23:30")
    return int(hour), int(minute)


def _cli(args) -> int:
    import datetime

    try:
        if args.action == "show":
            return _show(spec_mod.load(args.profile))
        until = None
        if args.until:
            hour, minute = args.until
            now = datetime.datetime.now()
            stop = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
            until = (stop if stop > now else stop + datetime.timedelta(days=1)).timestamp()
        with sigterm_as_interrupt():
            run_queue(args.profile, args.family, tuple(args.arms), tuple(args.seeds), until)
    except KeyboardInterrupt:  # ctrl-C, or SIGTERM (kill PID)
        deadline = " (plus --until HH:MM for a new deadline)" if args.until else ""
        print(f"\ninterrupted; the run in progress keeps its last finished epoch (checkpointed). Continue the queue "
              f"with{deadline}:\n  {_queue_command(args)}", file=sys.stderr)
        return 130
    except (ConfigError, results.RunError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _queue_command(args) -> str:
    """The ``study run`` command that continues this queue: the same selection, without ``--until``."""
    import shlex

    words = ["python", "-m", "replication", "study", "run", args.profile]
    words += ["--family", args.family] if args.family else []
    words += ["--arms", *args.arms] if args.arms else []
    words += ["--seeds", *map(str, args.seeds)] if args.seeds else []
    return shlex.join(words)


def _show(study: spec_mod.Study) -> int:
    from replication import train  # lazy: timm and accelerate load only for commands that train

    native_bf16 = train.cpu_has_bf16()
    for arm, seed in study.runs():
        cfg = study.config(arm, seed)
        state = ("pending" if arm.pending else "complete" if finished(cfg)
                 else "started" if (results.run_dir(cfg) / "config.yaml").exists() else "to run")
        if state in ("started", "to run") and not native_bf16 and train.trains_in_bf16(cfg):
            state += " (bf16: skipped on this CPU)"
        print(f"{arm.family}/{arm.name} seed {seed}: {state}  {arm.config} {arm.updates or ''}  {arm.note}".rstrip())
    return 0
