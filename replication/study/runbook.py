"""Papermill batches: the experiment notebooks (``make experiments``) and the machinery that
``make figures`` uses for the plotting notebooks (``replication.report.build``).

    python -m replication experiments --profile cpu     # experiment notebooks (resumable)
    python -m replication notebooks                     # notebooks/*/*.ipynb from their .py sources

Executed copies of the notebooks go to the git-ignored ``build/`` folder. Any notebook that fails
makes the command fail, naming the notebook, the cell and the error; the others still run.
Experiment notebooks receive the study's name (``-p study cpu``) and read their arms, seeds and
knobs from ``replication/studies/<study>.yaml``; finished runs are skipped and interrupted ones
resume, so running the command again continues where it stopped.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

from replication.config import ConfigError
from replication.study import spec

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
EXPERIMENT_ORDER = ("static", "speed_memory", "size_augmentation", "progressive", "transfer",
                    "nas", "tuning", "second_proxy")  # transfer needs the progressive notebook's checkpoints
PROFILES = ("smoke", "cpu", "gpu")


class NotebookFailure(RuntimeError):
    pass


def notebook_from_source(source: Path):
    """The ``.ipynb`` of a jupytext percent-format ``.py`` source: no outputs, stable cell ids."""
    import jupytext
    import nbformat

    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):
        cell.id = f"{source.stem.replace('_', '-')}-{i}"
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
    return nbformat.validator.normalize(nb)[1] if hasattr(nbformat.validator, "normalize") else nb


def sync_notebooks(check: bool = False, folder: Path = NOTEBOOKS) -> list[Path]:
    """Write every ``notebooks/*/<name>.ipynb`` from its ``<name>.py`` source; with ``check``, only
    return the notebooks that differ from their source (and the sources without a notebook)."""
    import nbformat

    stale = []
    for source in sorted(Path(folder).glob("*/*.py")):
        target = source.with_suffix(".ipynb")
        text = nbformat.writes(notebook_from_source(source)) + "\n"
        if not (target.is_file() and target.read_text() == text):
            stale.append(target)
            if not check:
                target.write_text(text)
    orphans = [nb for nb in sorted(Path(folder).glob("*/*.ipynb")) if not nb.with_suffix(".py").is_file()]
    return stale + orphans


def kernel_name() -> str:
    """A Jupyter kernel that runs this interpreter: "replication" when it is registered for it
    (``make setup``), else "python3", which jupyter_client maps to the running interpreter when its
    spec starts with plain ``python``."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    for name in ("replication", "python3"):
        try:
            argv = manager.get_kernel_spec(name).argv
        except NoSuchKernel:
            continue
        if argv and (argv[0] in ("python", "python3") or Path(argv[0]).resolve() == Path(sys.executable).resolve()):
            return name
    raise NotebookFailure(f"no Jupyter kernel runs {sys.executable}; register one with "
                          "`python -m ipykernel install --sys-prefix --name replication` (make setup does)")


def notebook_parameters(path: Path) -> dict:
    """Names -> default (as source text) of the ``parameters`` cell, as papermill infers them."""
    import papermill as pm

    return {name: spec["default"] for name, spec in pm.inspect_notebook(str(path)).items()}


def execute(path: Path, out: Path, parameters: dict, cwd: Path = REPO, timeout: int | None = None) -> float:
    """Run one notebook with papermill; raise NotebookFailure naming notebook, cell and error."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(path), str(out), parameters=parameters, kernel_name=kernel_name(), cwd=str(cwd),
                            progress_bar=False, execution_timeout=timeout,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])  # not its local-TCP warning
    except PapermillExecutionError as err:
        index, line = _source_cell(path, err.cell_index, bool(parameters))
        raise NotebookFailure(f"{rel(path)}: cell {index} (0-based, execution count {err.exec_count}: {line!r}) "
                              f"raised {err.ename}: {err.evalue} -- traceback in the executed copy {rel(out)}") from None
    return time.perf_counter() - start


def _source_cell(source: Path, index: int, injected: bool) -> tuple[int, str]:
    """Index of a failing cell in the source notebook (papermill counts its injected-parameters
    cell, placed right after the ``parameters`` cell) and the first line of its code."""
    import nbformat

    cells = nbformat.read(source, as_version=4).cells
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    if injected and tagged and index > tagged[0]:
        index -= 1
    text = cells[index].source.strip() if 0 <= index < len(cells) else ""
    return index, text.splitlines()[0] if text else ""


def rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run_batch(jobs: list[tuple[Path, Path, dict]], cwd: Path, timeout: int | None = None) -> list[str]:
    """Run every (notebook, output, parameters); return the failure messages (empty: all passed)."""
    failures = []
    for path, out, params in jobs:
        try:
            seconds = execute(path, out, params, cwd, timeout)
            print(f"ok     {rel(path)} ({seconds:.1f} s) -> {rel(out)}", flush=True)
        except NotebookFailure as err:
            failures.append(str(err))
            print(f"FAILED {err}", file=sys.stderr, flush=True)
    return failures


def writable_folder(folder: Path, option: str) -> Path:
    """``folder`` (created if missing), refused with a NotebookFailure naming ``option`` when it cannot be written."""
    import tempfile

    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise NotebookFailure(f"{option} {folder}: cannot write there ({err.strerror or err}); give a writable "
                              f"folder with {option}") from None
    return Path(folder)


def finish(failures: list[str]) -> int:
    if failures:
        print(f"\n{len(failures)} notebook(s) failed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


def experiment_jobs(profile: str, build_dir: Path, only=(), overrides: dict | None = None,
                    notebooks_dir: Path = NOTEBOOKS / "experiments"):
    """(notebook, output, parameters) for each experiment notebook: ``study=<profile>``, plus the
    ``overrides`` that are parameters of that notebook (an override no notebook has is refused)."""
    if profile not in PROFILES:
        raise NotebookFailure(f"--profile: unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    declared = spec.load(profile).families  # a family the profile's spec does not declare has nothing to run
    names = [n for n in EXPERIMENT_ORDER if (Path(notebooks_dir) / f"{n}.ipynb").is_file() and n in declared]
    unknown = [n for n in only if n not in names]
    if unknown:
        raise NotebookFailure(f"--only: unknown notebook(s) {unknown}; choose from {', '.join(names)}")
    jobs, used = [], set()
    for name in (only or names):
        path = Path(notebooks_dir) / f"{name}.ipynb"
        known = notebook_parameters(path)
        params = {"study": profile, **{k: v for k, v in (overrides or {}).items() if k in known}}
        used |= set(params)
        jobs.append((path, Path(build_dir) / "experiments" / profile / path.name, params))
    stray = sorted(set(overrides or {}) - used)
    if stray:
        raise NotebookFailure(f"--set: {stray} are parameters of none of the notebooks {', '.join(only or names)}")
    return jobs


def experiments(profile: str, build_dir: Path, only=(), overrides=None, timeout: int | None = None) -> int:
    start = time.perf_counter()
    try:
        jobs = experiment_jobs(profile, build_dir, only, overrides)
    except (NotebookFailure, ConfigError) as err:  # ConfigError: the profile's study spec does not load
        print(f"error: {err}", file=sys.stderr)
        return 2
    failures = run_batch(jobs, REPO, timeout)
    print(f"experiments ({profile}): {len(jobs)} notebooks in {time.perf_counter() - start:.1f} s")
    return finish(failures)


def _pairs(items) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--set {item!r}: write key=value, e.g. --set output_dir=/tmp/results")
        key, text = item.split("=", 1)
        out[key] = yaml.safe_load(text)
    return out


def add_commands(subparsers) -> None:
    nb = subparsers.add_parser("notebooks", help="write notebooks/*/*.ipynb from their .py sources (jupytext)",
                               description="The .py files beside the notebooks are their sources; this writes the .ipynb.")
    nb.add_argument("--check", action="store_true", help="only report notebooks out of date (exit 1)")
    nb.set_defaults(func=_notebooks_cli)
    text = "run the experiment notebooks of a profile (resumable)"
    p = subparsers.add_parser("experiments", help=text, description=text)
    p.add_argument("--build", type=Path, default=REPO / "build", help="executed notebooks (default: build/)")
    p.add_argument("--profile", choices=PROFILES, required=True)
    p.add_argument("--only", nargs="*", default=(), metavar="NOTEBOOK", help=f"subset of {', '.join(EXPERIMENT_ORDER)}")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="set a parameter of every notebook that has it")
    p.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    p.set_defaults(func=_cli)


def _notebooks_cli(args) -> int:
    stale = sync_notebooks(check=args.check)
    for path in stale:
        print(f"{'out of date' if args.check else 'wrote'}: {rel(path)}")
    return 1 if args.check and stale else 0


def _cli(args) -> int:
    return experiments(args.profile, args.build, args.only, _pairs(args.set), args.timeout)
