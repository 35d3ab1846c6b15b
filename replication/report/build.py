"""What ``make figures`` and ``make report`` run: the plotting notebooks as a papermill batch, then the report.

    python -m replication figures      # plotting notebooks (figures/, tables), then the report
    python -m replication report       # figures/REPORT.md + build/report.html only

Executed copies of the notebooks go to the git-ignored ``build/`` folder. A notebook that fails makes the
command fail, naming the notebook, the cell and the error; the others still run (``study.runbook``).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from replication.report import document
from replication.report.collect import Results, ResultsError, results_folder
from replication.study.runbook import NOTEBOOKS, REPO, NotebookFailure, finish, rel, run_batch, writable_folder


def _outputs(results_dir: Path, figures_dir: Path, build_dir: Path) -> None:
    """Before anything runs: the results folder exists, the output folders can be written."""
    results_folder(results_dir, "--results")
    writable_folder(figures_dir, "--figures")
    writable_folder(build_dir, "--build")


def figures(results_dir: Path, figures_dir: Path, build_dir: Path, notebooks_dir: Path = NOTEBOOKS / "figures",
            include_smoke: bool = False) -> int:
    start = time.perf_counter()
    _outputs(results_dir, figures_dir, build_dir)
    params = {"results_dir": str(Path(results_dir).resolve()), "figures_dir": str(Path(figures_dir).resolve()),
              "include_smoke": include_smoke}
    jobs = [(nb, Path(build_dir) / "figures" / nb.name, params) for nb in sorted(Path(notebooks_dir).glob("*.ipynb"))]
    if not jobs:
        print(f"error: no notebooks in {notebooks_dir}", file=sys.stderr)
        return 2
    failures = run_batch(jobs, REPO)
    code = report(results_dir, figures_dir, build_dir, include_smoke)
    print(f"figures: {len(jobs)} notebooks + report in {time.perf_counter() - start:.1f} s")
    return finish(failures) or code


def report(results_dir: Path, figures_dir: Path, build_dir: Path, include_smoke: bool = False) -> int:
    _outputs(results_dir, figures_dir, build_dir)
    html = Path(build_dir) / "report.html"
    path = document.write(Results(Path(results_dir), include_smoke=include_smoke), Path(figures_dir), html)
    print(f"wrote {rel(path)} and {rel(html)}")
    return 0


def add_commands(subparsers) -> None:
    for name, text in (("figures", "run the plotting notebooks, then write the report"),
                       ("report", "write figures/REPORT.md and build/report.html")):
        p = subparsers.add_parser(name, help=text, description=text)
        p.add_argument("--results", type=Path, default=REPO / "results", help="results folder (default: results/)")
        p.add_argument("--figures", type=Path, default=REPO / "figures", help="output folder (default: figures/)")
        p.add_argument("--build", type=Path, default=REPO / "build", help="executed notebooks (default: build/)")
        p.add_argument("--include-smoke", action="store_true", help="also show smoke-profile runs (never evidence)")
        if name == "figures":
            p.add_argument("--notebooks", type=Path, default=NOTEBOOKS / "figures", help="plotting notebooks folder")
        p.set_defaults(func=_cli)


def _cli(args) -> int:
    try:
        if args.command == "figures":
            return figures(args.results, args.figures, args.build, args.notebooks, args.include_smoke)
        return report(args.results, args.figures, args.build, args.include_smoke)
    except (NotebookFailure, ResultsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. a file of the figures folder that cannot be replaced
        print(f"error: cannot write {err.filename or ''}: {err.strerror or err}; give writable --figures and --build "
              "folders", file=sys.stderr)
        return 2
